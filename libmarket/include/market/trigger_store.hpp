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
};

using TriggerStorePtr = std::unique_ptr<TriggerStore>;

}  // namespace market
