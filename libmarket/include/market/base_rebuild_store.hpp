#pragma once
// Persistence of base-image rebuilds: which projects opted in, and the rebuild queued for each
// base change (its unique key debounces the event path, the poll and several instances).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "market/error.hpp"
#include "market/time.hpp"

namespace market {

// A project's opt-in. A project nobody set is off.
struct BaseRebuildSetting {
  std::string project;
  bool enabled = false;
  std::string operator_name;            // who set it last; empty when never set
  std::optional<TimePoint> updated_at;  // none when never set
};

// One base change of one project: (project, base_image, new_digest) is unique.
struct BaseRebuildClaim {
  std::int64_t id = 0;
  std::string project;
  std::string base_image;
  std::string old_digest;
  std::string new_digest;
  std::int64_t cause_build_id = 0;  // the build that pushed the new base; 0: seen by polling
  std::int64_t build_id = 0;        // the rebuild queued for it; 0: none (yet, or refused)
  std::string outcome;              // "queued", or why no build was queued
  TimePoint created_at{};
};

class BaseRebuildStore {
 public:
  virtual ~BaseRebuildStore() = default;

  // kBuildProjectMissing when the project does not exist.
  virtual Result<BaseRebuildSetting> GetSetting(std::string_view project) = 0;
  virtual Result<BaseRebuildSetting> SetSetting(std::string_view project, bool enabled,
                                                std::string_view operator_name, TimePoint now) = 0;
  // The projects that opted in, by name.
  virtual Result<std::vector<BaseRebuildSetting>> Enabled() = 0;

  // Records the claim unless its (project, base_image, new_digest) has one: true and the
  // claim with its id when this call recorded it, false when another did (also when two race).
  // kBuildProjectMissing when the project does not exist.
  virtual Result<bool> Claim(BaseRebuildClaim& claim) = 0;
  // What came of claim `id`. kNotFound.
  virtual Result<void> SetOutcome(std::int64_t id, std::int64_t build_id,
                                  std::string_view outcome) = 0;
  // Deletes claim `id`, so that a later pass may claim the base change again (its rebuild
  // failed to queue for a passing reason). Deleting a missing claim is no error.
  virtual Result<void> Release(std::int64_t id) = 0;
  // The claims of `project`, newest first (at most `limit`).
  virtual Result<std::vector<BaseRebuildClaim>> Claims(std::string_view project, int limit) = 0;
  // Builds with trigger kind "base-image" queued at or after `since`, over all projects.
  virtual Result<std::int64_t> CountQueuedSince(TimePoint since) = 0;
};

using BaseRebuildStorePtr = std::unique_ptr<BaseRebuildStore>;

}  // namespace market
