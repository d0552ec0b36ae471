#pragma once
// Tag retention: rule sets (which tags of a registry project to keep) and their runs, as rows
// in the database so a run is claimed by one instance only, like builds and webhook deliveries.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "market/error.hpp"
#include "market/time.hpp"

namespace market {

// One rule: among the tags it selects in a repository, it keeps the `keep_latest` most
// recently pushed and those pushed within `keep_days` days; with neither, every tag it selects.
struct RetentionRule {
  std::string repositories;  // glob (GlobMatches) on the repository's name after "<cluster>/"
  std::string include;       // anchored regex on the tag; empty: every tag
  std::string exclude;       // anchored regex on the tag; empty: none
  int keep_latest = 0;       // 0: not by count
  int keep_days = 0;         // 0: not by age

  bool operator==(const RetentionRule&) const = default;
};

struct RetentionRuleSet {
  std::int64_t id = 0;
  std::string cluster;  // the registry project whose repositories it applies to
  std::string name;     // unique within its cluster
  bool enabled = true;  // a disabled set runs only by hand
  // When it runs by itself: "" (never), "every <N>m|h|d", or 5-field cron "M H DoM Mon DoW"
  // (UTC). See RetentionSchedule.
  std::string schedule;
  std::vector<RetentionRule> rules;  // combined with OR: a tag any rule keeps is kept
  std::optional<TimePoint> next_run_at;  // the next scheduled run; none without a schedule
  std::string creator;
  TimePoint created_at{};
  TimePoint updated_at{};

  bool operator==(const RetentionRuleSet&) const = default;
};

enum class RetentionRunState { kQueued, kRunning, kSucceeded, kFailed };
std::string_view ToString(RetentionRunState state);  // "queued", "running", ...
std::optional<RetentionRunState> ParseRetentionRunState(std::string_view text);

// What a run did (or, dry, would do) to one tag.
struct RetentionItem {
  std::string repository;  // "<cluster>/<name>"
  std::string tag;
  std::string digest;
  std::optional<TimePoint> pushed;  // as the run saw it (see RetentionService)
  bool keep = true;
  std::string reason;  // why it is kept ("rule 1: latest 3", "latest build 42", ...) or deleted
  std::string error;   // the delete failed: why

  bool operator==(const RetentionItem&) const = default;
};

struct RetentionRepositorySummary {
  std::string repository;
  std::int64_t total = 0;    // tags seen
  std::int64_t kept = 0;
  std::int64_t deleted = 0;  // tags removed (or, dry, to be removed)
  std::int64_t errors = 0;   // tags whose delete failed
  // Bytes of blobs (layers and configs) that deleted manifests referenced and no remaining
  // manifest of the repository references, as far as the manifests tell.
  std::int64_t bytes_unreferenced = 0;
  std::string error;  // the repository could not be evaluated: why

  bool operator==(const RetentionRepositorySummary&) const = default;
};

struct RetentionRun {
  std::int64_t id = 0;
  std::int64_t rule_set_id = 0;
  std::string cluster;   // copied from the rule set when queued
  std::string rule_set;  // its name then
  bool dry_run = true;
  std::string trigger;   // "manual" or "schedule"
  std::string operator_name;  // who started it; "" for the schedule
  RetentionRunState state = RetentionRunState::kQueued;
  std::string error;     // a failed run: why
  TimePoint queued_at{};
  std::optional<TimePoint> started_at;
  std::optional<TimePoint> finished_at;
  std::vector<RetentionRepositorySummary> repositories;  // once finished
  std::vector<RetentionItem> items;                      // once finished; detail only

  bool operator==(const RetentionRun&) const = default;
};

class RetentionStore {
 public:
  virtual ~RetentionStore() = default;

  // kAlreadyExists when the cluster has a set of that name. Fills id and the times.
  virtual Result<RetentionRuleSet> CreateRuleSet(const RetentionRuleSet& set) = 0;
  // Replaces name, enabled, schedule, rules and next_run_at. kNotFound; kAlreadyExists.
  virtual Result<RetentionRuleSet> UpdateRuleSet(const RetentionRuleSet& set) = 0;
  // Deletes the set; its runs stay (history). kNotFound.
  virtual Result<void> DeleteRuleSet(std::int64_t id) = 0;
  virtual Result<RetentionRuleSet> GetRuleSet(std::int64_t id) = 0;  // kNotFound
  // A cluster's sets by name; every set when `cluster` is empty.
  virtual Result<std::vector<RetentionRuleSet>> ListRuleSets(std::string_view cluster) = 0;

  // Advances a scheduled set from `due` to `next` only while its next_run_at is still `due`
  // and it is enabled, queueing a run in the same transaction: the instance that wins queues
  // the run, the others get nullopt.
  virtual Result<std::optional<RetentionRun>> QueueScheduled(std::int64_t rule_set_id,
                                                             TimePoint due, TimePoint next,
                                                             TimePoint now) = 0;
  // Queues a run of the set (the run copies its cluster and name). kNotFound.
  virtual Result<RetentionRun> QueueRun(std::int64_t rule_set_id, bool dry_run,
                                        std::string_view trigger, std::string_view operator_name,
                                        TimePoint now) = 0;
  // Takes the oldest queued run (or a running one whose lease ran out) and leases it to
  // `worker` until `lease_until`; each run is held by one worker at a time across instances.
  virtual Result<std::optional<RetentionRun>> ClaimRun(std::string_view worker, TimePoint now,
                                                       TimePoint lease_until) = 0;
  // Extends the lease while `worker` holds it; false when it does not any more.
  virtual Result<bool> RenewLease(std::int64_t run_id, std::string_view worker,
                                  TimePoint lease_until) = 0;
  // Records the end (state, error, summaries, items) while `worker` holds the lease; false
  // (nothing recorded) when it does not.
  virtual Result<bool> FinishRun(const RetentionRun& run, std::string_view worker,
                                 TimePoint now) = 0;
  // With its items. kNotFound.
  virtual Result<RetentionRun> GetRun(std::int64_t id) = 0;
  // Newest first, without items; one set's when `rule_set_id` is not 0; at most `limit`.
  virtual Result<std::vector<RetentionRun>> ListRuns(std::int64_t rule_set_id, int limit) = 0;
};

using RetentionStorePtr = std::unique_ptr<RetentionStore>;

}  // namespace market
