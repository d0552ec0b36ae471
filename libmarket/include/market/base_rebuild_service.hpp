#pragma once
// Base-image rebuilds: a project that opted in is rebuilt when a base image its latest
// successful build used changes. A base pushed by an Image Market build is noticed from that
// build's success event at once; a base elsewhere in the configured registry is noticed by
// polling its manifest. One rebuild per (project, base, new digest), a loop guard along the
// chain of causing builds, and a per-hour cap keep the rebuilds bounded (docs/ops.md).

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "market/audit_trail.hpp"
#include "market/base_rebuild_store.hpp"
#include "market/build.hpp"
#include "market/build_service.hpp"
#include "market/build_store.hpp"
#include "market/error.hpp"
#include "market/events.hpp"
#include "market/registry.hpp"
#include "market/time.hpp"

namespace market {

struct BaseRebuildOptions {
  // Between polls of the bases' manifests, 80-120% of it at random; 0: no polling.
  std::chrono::milliseconds poll_interval{std::chrono::minutes(15)};
  // Base-image builds queued per hour over all projects (counted in the store, so across
  // instances); 0: no bound.
  int per_hour = 30;
  // Causing builds followed by the loop guard; a longer chain is refused like a loop.
  int max_chain_depth = 16;
};

struct BaseRebuildDependencies {
  BaseRebuildStore* store = nullptr;
  BuildService* builds = nullptr;
  BuildStore* build_store = nullptr;  // the latest successful builds and the causing chain
  Registry* registry = nullptr;       // null: nothing is polled
  const Clock* clock = nullptr;
  AuditLog* audit = nullptr;  // project.baseRebuild; null: not recorded
};

// A change of the opt-in as a request gives it.
struct BaseRebuildRequest {
  std::string project;          // as received
  std::optional<bool> enabled;  // required
  std::string operator_name;    // as received
};

// The opt-in, the bases of the latest successful build and the rebuilds base changes made.
struct BaseRebuildStatus {
  BaseRebuildSetting setting;
  std::optional<Build> latest;             // the latest successful build; none before the first
  std::vector<BaseRebuildClaim> rebuilds;  // newest first, at most kRebuildsShown
};

// What the service did since it was made (for metrics and tests).
struct BaseRebuildCounters {
  std::int64_t queued = 0;         // base-image builds queued
  std::int64_t debounced = 0;      // a base change that had its rebuild already
  std::int64_t loops_refused = 0;  // the project was in the chain of causing builds
  std::int64_t capped = 0;         // skipped for base-image-rebuilds-per-hour
  std::int64_t refused = 0;        // BuildService::Enqueue refused (a protected tag, ...)
  std::int64_t busy = 0;           // skipped: the project had a queued or running build
};

class BaseRebuildService final : public EventSink {
 public:
  static constexpr int kRebuildsShown = 10;

  BaseRebuildService(BaseRebuildDependencies deps, BaseRebuildOptions options);
  ~BaseRebuildService() override;  // stops the thread
  BaseRebuildService(const BaseRebuildService&) = delete;
  BaseRebuildService& operator=(const BaseRebuildService&) = delete;

  // kInvalid naming projectName; kBuildProjectMissing.
  Result<BaseRebuildStatus> Get(std::string_view project);
  // kInvalid naming the field (projectName, enabled, operator); kBuildProjectMissing. Audited
  // as project.baseRebuild with `origin`.
  Result<BaseRebuildSetting> Set(const BaseRebuildRequest& request,
                                 const ChangeOrigin& origin = {});

  // A build.succeeded event is kept for the thread (or ProcessPending); nothing else is heard.
  // Never throws, never waits on the store or network.
  void Publish(const Event& event) override;
  // Queues the rebuilds of the successful builds heard so far; returns the builds queued.
  int ProcessPending();
  // One poll: the manifests of the opted-in projects' bases in the configured registry, and a
  // rebuild where one changed. Returns the builds queued.
  Result<int> Poll();

  // Starts and stops the thread that runs ProcessPending as events come and Poll every
  // poll_interval.
  void Start();
  void Stop();

  BaseRebuildCounters Counters() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace market
