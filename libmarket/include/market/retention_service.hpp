#pragma once
// Tag retention: rule sets say which tags of a registry project's repositories to keep; a run
// (queued by hand or by a set's schedule, executed by one instance's worker thread) deletes the
// manifests none of whose tags is kept, at most max_deletes_per_minute, and records what it did.
// A dry run records what a run would do and deletes nothing.
//
// Push time: Harbor reports each tag's push_time. A plain distribution registry keeps none,
// so a tag's push time is when Image Market's build pushed it (the newest succeeded build of
// that image and tag), else the image config's "created" time; a tag with neither is treated
// as the oldest.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "market/audit_trail.hpp"
#include "market/build_store.hpp"
#include "market/error.hpp"
#include "market/events.hpp"
#include "market/registry.hpp"
#include "market/immutability.hpp"
#include "market/retention_store.hpp"
#include "market/time.hpp"

namespace market {

struct RetentionOptions {
  int max_deletes_per_minute = 60;  // 0: no bound
  std::chrono::milliseconds poll_interval{1000};
  std::chrono::milliseconds lease{60000};  // renewed while a run works
  std::string worker_prefix;               // unique per instance; empty: host:pid
  int runs_listed = 50;                    // what the runs list answers at most
};

struct RetentionDependencies {
  RetentionStore* store = nullptr;
  Registry* registry = nullptr;       // null: runs fail with kRegistryNotConfigured
  BuildStore* builds = nullptr;       // the latest successful builds, and push times
  const Clock* clock = nullptr;
  AuditLog* audit = nullptr;          // retention.create, .update, .delete, .run; null: none
  EventSink* events = nullptr;        // retention.run when a run ends; null: none
  // Immutability rules: read once per run, and a tag they protect is kept. Null: nothing is
  // protected beyond the rule set and the latest successful builds.
  TagProtection* protection = nullptr;
  // Sleeps between deletes for the throttle; empty: std::this_thread::sleep_for. Tests count.
  std::function<void(std::chrono::milliseconds)> sleep;
};

// A rule set as a request gives it: texts as received. On update, a missing field keeps the
// stored value.
struct RetentionRuleSetRequest {
  std::optional<std::string> cluster;  // create only
  std::optional<std::string> name;
  std::optional<std::string> enabled;   // a flag
  std::optional<std::string> schedule;  // "" clears it
  std::optional<std::string> rules;     // a JSON array of rule objects (see docs/api.md)
};

// The pure part of a run: which tags of one repository are kept, and why.
struct RetentionTag {
  std::string name;
  std::string digest;
  std::optional<TimePoint> pushed;
};

class RetentionService {
 public:
  RetentionService(RetentionDependencies deps, RetentionOptions options);
  ~RetentionService();  // stops the worker
  RetentionService(const RetentionService&) = delete;
  RetentionService& operator=(const RetentionService&) = delete;

  // kInvalid naming the field; kAlreadyExists.
  Result<RetentionRuleSet> Create(const RetentionRuleSetRequest& request,
                                  std::string_view operator_name, const ChangeOrigin& origin = {});
  Result<RetentionRuleSet> Update(std::int64_t id, const RetentionRuleSetRequest& request,
                                  std::string_view operator_name, const ChangeOrigin& origin = {});
  Result<void> Delete(std::int64_t id, std::string_view operator_name,
                      const ChangeOrigin& origin = {});
  Result<RetentionRuleSet> Get(std::int64_t id);
  // kInvalid naming cluster when it is not a registry project name; empty: every set.
  Result<std::vector<RetentionRuleSet>> List(std::string_view cluster);

  // Queues a run (dry or not) of the set; the worker executes it. kNotFound.
  Result<RetentionRun> StartRun(std::int64_t rule_set_id, bool dry_run,
                                std::string_view operator_name, const ChangeOrigin& origin = {});
  Result<RetentionRun> Run(std::int64_t run_id);
  // kInvalid naming ruleSet; 0: every set's.
  Result<std::vector<RetentionRun>> Runs(std::int64_t rule_set_id);

  // Starts and stops the worker thread (scheduling and executing runs).
  void Start();
  void Stop();
  // One worker step on the calling thread: queues due scheduled runs, then claims and executes
  // at most one run. Whether a run was executed.
  Result<bool> Step(std::string_view worker);

  // Decides one repository's tags: rules combine with OR, protected tags are kept, and a
  // digest any kept tag points at keeps all its tags. `rest` is the repository's name after
  // "<cluster>/". Items in the order of `tags`.
  static std::vector<RetentionItem> Evaluate(
      const RetentionRuleSet& set, std::string_view repository, std::string_view rest,
      const std::vector<RetentionTag>& tags,
      const std::function<std::string(std::string_view tag)>& protected_because, TimePoint now);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace market
