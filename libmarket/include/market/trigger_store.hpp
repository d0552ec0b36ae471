#pragma once
// Build triggers: what lets a git host's push event queue a build of a project.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "market/error.hpp"
#include "market/time.hpp"

namespace market {

struct BuildTriggerRule {
  std::int64_t id = 0;
  std::string project;  // deleting the project deletes its triggers
  std::string name;     // unique within its project
  bool enabled = true;
  std::string secret;   // verifies the git host's signature or token; never answered
  // Anchored regular expressions (ECMAScript) on branch and tag names. No branches rule: the
  // default branch only. No tags rule: tag pushes build nothing.
  std::string branches;
  std::string tags;
  // The image tags a push builds: "${branch}", "${tag}", "${short_sha}", "${sha}",
  // "${timestamp}" and literal text; a template whose value the push lacks is skipped.
  std::vector<std::string> tag_templates;
  bool latest = true;          // a push to the default branch also tags "latest"
  std::string default_branch;  // empty: as the git host's event says (else "main")
  int consecutive_failures = 0;  // triggered builds that failed in a row (reset by a success)
  std::string disabled_reason;   // why the service disabled it; "" when a person did
  std::string creator;
  TimePoint created_at{};
  TimePoint updated_at{};

  bool operator==(const BuildTriggerRule&) const = default;
};

// What one authenticated request to a trigger did. Requests whose signature or token does not
// match are not recorded: anyone can send those, and the trigger's owner learns nothing from
// them that the git host's own delivery log does not say.
struct TriggerDelivery {
  std::int64_t id = 0;
  std::int64_t trigger_id = 0;
  TimePoint received_at{};
  std::string host;         // "github", "gitea", "gitlab", "generic"
  std::string event;        // "push", "ping", or the host's name of another event
  std::string delivery_id;  // the host's id of the event
  std::string ref;
  std::string sha;
  // "queued" (a build), "duplicate" (the build an earlier delivery queued), "skipped"
  // (nothing to build) or "refused" (the event or the trigger's state was wrong).
  std::string outcome;
  std::string reason;         // why it was skipped or refused
  std::int64_t build_id = 0;  // queued or duplicate: the build

  bool operator==(const TriggerDelivery&) const = default;
};

class TriggerStore {
 public:
  virtual ~TriggerStore() = default;

  // kAlreadyExists when the project has a trigger of that name; kBuildProjectMissing when the
  // project does not exist. Fills id and the times.
  virtual Result<BuildTriggerRule> Create(const BuildTriggerRule& rule) = 0;
  // Replaces every field a person sets (name, enabled, secret, rules, templates, latest,
  // default branch); enabling clears consecutive_failures and disabled_reason. kNotFound;
  // kAlreadyExists.
  virtual Result<BuildTriggerRule> Update(const BuildTriggerRule& rule) = 0;
  virtual Result<void> Delete(std::int64_t id) = 0;  // kNotFound
  virtual Result<BuildTriggerRule> Get(std::int64_t id) = 0;  // kNotFound
  // A project's triggers by name; every project's when `project` is empty.
  virtual Result<std::vector<BuildTriggerRule>> List(std::string_view project) = 0;
  // Counts a triggered build's end, in one statement: a success resets the failures in a row,
  // a failure counts one more and disables the trigger with `reason` when the count reaches
  // `disable_after` (0: never). Returns the trigger as it is now; kNotFound when deleted.
  virtual Result<BuildTriggerRule> RecordBuildEnd(std::int64_t id, bool succeeded,
                                                  int disable_after, std::string_view reason,
                                                  TimePoint now) = 0;

  // Records `delivery` (fills id) and deletes its trigger's older deliveries beyond the newest
  // `keep`, so a busy or hostile git host cannot grow the table. kNotFound when the trigger
  // is gone.
  virtual Result<TriggerDelivery> RecordDelivery(const TriggerDelivery& delivery, int keep) = 0;
  // A trigger's deliveries, newest first, at most `limit`.
  virtual Result<std::vector<TriggerDelivery>> ListDeliveries(std::int64_t trigger_id,
                                                              int limit) = 0;
};

using TriggerStorePtr = std::unique_ptr<TriggerStore>;

}  // namespace market
