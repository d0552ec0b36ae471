#pragma once
// Persistence of builds, their logs, and the queue workers claim from.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "market/build.hpp"
#include "market/error.hpp"

namespace market {

// What ReadLog answers for a build whose log retention deleted: the whole log, as text.
inline constexpr std::string_view kPrunedLogText =
    "log pruned by retention (build-log-keep, build-log-keep-days)\n";

// Which finished builds keep their log. A log goes only when its build is outside both bounds.
struct LogKeepRule {
  // Each project's newest builds (of any state, by id) keep theirs; 0: no such bound.
  int newest_builds = 0;
  // Builds finished at or after it keep theirs; none: no such bound.
  std::optional<TimePoint> finished_since;

  bool KeepsAll() const { return newest_builds == 0 && !finished_since; }
};

// One PruneLogs call's outcome.
struct LogPruneBatch {
  int pruned = 0;  // builds whose log this call deleted
  // The highest id it took; the next call continues after it. 0 when it took none.
  std::int64_t last_id = 0;
  bool more = false;  // it took a full batch: more may be eligible after last_id
};

struct BuildResult {
  BuildState state = BuildState::kSucceeded;  // kSucceeded, kFailed or kCancelled
  std::string digest;
  std::int64_t size = 0;
  std::string reason;
};

class BuildStore {
 public:
  virtual ~BuildStore() = default;

  // Records a queued build of an existing project; fills id and queued_at from `build`.
  // kBuildProjectMissing when the project does not exist. kAlreadyExists when the build repeats
  // a trigger's event that has a build (see FindTriggered), also when two calls race.
  virtual Result<Build> Enqueue(const Build& build) = 0;
  virtual Result<Build> Get(std::int64_t id) = 0;  // kBuildNotFound
  // The build an event of the same trigger already queued: the same delivery id, or (for git
  // pushes) the same commit and tag. None when `build` has no trigger or neither key.
  virtual Result<std::optional<Build>> FindTriggered(const Build& build) = 0;
  virtual Result<BuildPage> ListForProject(std::string_view project, int page, int page_size) = 0;
  // At most filter.limit builds matching every filter, newest first (ids descending).
  virtual Result<std::vector<Build>> List(const BuildFilter& filter) = 0;

  // Atomically takes the oldest queued build whose project has no running build, marks it
  // running for `worker` with a lease until `lease_until`. Several processes may claim at
  // once (PostgreSQL: FOR UPDATE SKIP LOCKED); each build is claimed once.
  virtual Result<std::optional<Build>> ClaimNext(std::string_view worker, TimePoint now,
                                                 TimePoint lease_until) = 0;
  // Extends the lease; false when the build is no longer this worker's (finished, taken over).
  virtual Result<bool> Heartbeat(std::int64_t id, std::string_view worker,
                                 TimePoint lease_until) = 0;
  // Records the base images build `id` used (replacing what it had). kBuildNotFound.
  virtual Result<void> RecordBaseImages(std::int64_t id, const std::vector<BaseImage>& bases) = 0;
  virtual Result<void> AppendLog(std::int64_t id, std::string_view text) = 0;
  // A build whose log was pruned answers kPrunedLogText as its whole log, finished; appending
  // to it stores nothing (its worker may have lost its lease and still be writing).
  virtual Result<LogChunk> ReadLog(std::int64_t id, std::int64_t offset,
                                   std::int64_t max_bytes) = 0;
  // Ends a running build (only if still running); records the result and finished_at.
  virtual Result<Build> Finish(std::int64_t id, const BuildResult& result, TimePoint now) = 0;
  // A queued build becomes cancelled at once; a running one gets cancel_requested (its worker
  // stops it). kBuildNotFound; kBuildFinished when it already ended.
  virtual Result<Build> RequestCancel(std::int64_t id, std::string_view reason, TimePoint now) = 0;
  // Running builds whose lease ended before `now` (their worker is gone): finished as failed
  // with `reason` at `now`. Returns those builds as stored now, by id; each build is failed, and
  // returned, by one call only, even when several instances call at once (so the caller can
  // publish their end).
  virtual Result<std::vector<Build>> FailExpired(TimePoint now, std::string_view reason) = 0;
  // Running builds claimed by the worker `instance` or one of its workers `instance/...` (this
  // instance's previous life, after a restart): failed with `reason`. Returns them as
  // FailExpired does.
  virtual Result<std::vector<Build>> FailOwnedBy(std::string_view instance,
                                                 std::string_view reason, TimePoint now) = 0;
  virtual Result<std::int64_t> QueueDepth() = 0;
  // Queued builds of `project`, and of `operator_name` across projects: what the per-project
  // and per-operator bounds of the queue count.
  struct QueuedCounts {
    std::int64_t project = 0;
    std::int64_t operator_builds = 0;
  };
  virtual Result<QueuedCounts> CountQueued(std::string_view project,
                                           std::string_view operator_name) = 0;
  // Deletes the logs of at most `limit` finished builds with ids above `after_id` that `rule`
  // no longer keeps, oldest first, in one short transaction; their rows stay, marked
  // log_pruned at `now`. Queued and running builds are never taken, nor anything when the rule
  // keeps all. Several instances may call at once: a build is pruned by one of them, the other
  // counts it not. kInvalid when limit < 1 or rule.newest_builds < 0.
  virtual Result<LogPruneBatch> PruneLogs(const LogKeepRule& rule, std::int64_t after_id, int limit,
                                          TimePoint now) = 0;

  // kBuildProjectMissing when the project does not exist.
  virtual Result<ProjectBuildSettings> GetBuildSettings(std::string_view project) = 0;
  virtual Result<ProjectBuildSettings> SetBuildSettings(const ProjectBuildSettings& settings,
                                                        TimePoint now) = 0;
};

using BuildStorePtr = std::unique_ptr<BuildStore>;

}  // namespace market
