#pragma once
// What a git host sends a build trigger: GitHub, Gitea and GitLab push events and a generic
// JSON body. Reading one checks who signed it before looking at the body.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "market/error.hpp"
#include "market/time.hpp"
#include "market/trigger_store.hpp"

namespace market {

// A request to a trigger's URL: header names in lower case.
struct HookRequest {
  std::map<std::string, std::string> headers;
  std::string body;
};

enum class GitHost { kGitHub, kGitea, kGitLab, kGeneric };
std::string_view ToString(GitHost host);  // "github", "gitea", "gitlab", "generic"

struct PushEvent {
  GitHost host = GitHost::kGeneric;
  // "push" (branch or tag), "ping", or the host's name of another event (builds nothing).
  std::string event;
  std::string delivery_id;  // the host's id of this event, the same on a redelivery
  std::string ref;          // "refs/heads/main", "refs/tags/v1"
  std::string sha;          // the commit the ref points to now
  bool deleted = false;     // the ref was deleted
  std::string message;      // the head commit's message
  std::vector<std::string> repository_urls;  // every URL the event names the repository by
  std::string default_branch;                // "" when the event does not say
};

// Who sent `request`, by its headers: X-Gitea-Event (Gitea also sends GitHub's headers),
// X-GitHub-Event, X-Gitlab-Event, else generic.
GitHost DetectGitHost(const HookRequest& request);

// Checks that `secret` signed `request` the way its host does: GitHub's X-Hub-Signature-256
// (sha256=<hex HMAC-SHA256 of the body>), Gitea's X-Gitea-Signature (<hex>), GitLab's
// X-Gitlab-Token (the secret itself) and a generic `Authorization: Bearer <secret>`; every
// comparison in constant time. kUnauthorized naming the header when it is missing or wrong.
Result<void> VerifyHookRequest(const HookRequest& request, std::string_view secret);

// The event in a verified request's body. kInvalid naming what is missing or malformed.
Result<PushEvent> ReadPushEvent(const HookRequest& request);

// What a push makes a trigger do: the build to queue, or why there is none.
struct TriggerPlan {
  std::string skipped;            // non-empty: nothing is built, and why
  std::vector<std::string> tags;  // the first is the build's tag, the others its extra tags
};

// Applies the trigger's ref rule, [skip build] and its tag templates to a push event. `now`
// fills ${timestamp}. An event that is not a push, a deleted ref, a ref the rules do not take
// and a commit message holding "[skip build]" are skipped.
TriggerPlan PlanTriggeredBuild(const BuildTriggerRule& rule, const PushEvent& event,
                               TimePoint now);

// The tags a build of `ref` at `sha` (may be empty) gets from the trigger's templates (by
// default "${short_sha}"), then "latest" when `ref` is the default branch and the trigger
// says so. When every template is skipped: the short sha, else the time.
std::vector<std::string> TriggeredTags(const BuildTriggerRule& rule, std::string_view ref,
                                       std::string_view sha, std::string_view default_branch,
                                       TimePoint now);

// The tags templates give for these values (absent ones: the templates naming them are
// skipped); duplicates and tags that are not valid image tags are left out. ${branch} and
// ${tag} have characters a tag cannot hold replaced by '-'.
std::vector<std::string> ExpandTagTemplates(const std::vector<std::string>& templates,
                                            std::map<std::string, std::string> values);

// Checks a trigger's rules before they are stored: the regexes compile and are at most 256
// characters; each template names only known variables and yields a valid tag. kInvalid
// naming the field.
Result<void> ValidateTriggerRule(const BuildTriggerRule& rule);

// Whether two repository URLs name the same repository: host (without user or port) and path
// compared case-insensitively, without a trailing ".git" or "/"; scp-like "git@host:path" is
// the ssh URL it abbreviates.
bool SameRepository(std::string_view a, std::string_view b);

}  // namespace market
