#pragma once
// The build queue: requests become queued builds; workers claim, stage, build and push them.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "market/build.hpp"
#include "market/audit_trail.hpp"
#include "market/build_store.hpp"
#include "market/error.hpp"
#include "market/events.hpp"
#include "market/identity.hpp"
#include "market/image_builder.hpp"
#include "market/plugin_registry.hpp"
#include "market/project_store.hpp"
#include "market/registry.hpp"
#include "market/source_checkout.hpp"
#include "market/time.hpp"
#include "market/validation.hpp"

namespace market {

class TagProtection;  // market/immutability.hpp

// Which finished builds keep their log, and how retention prunes the others (docs/ops.md,
// "Build log retention"). A log goes once its build is neither among its project's
// `keep_builds` newest builds nor finished less than `keep_for` ago; a 0 lifts its bound, and
// with both 0 every log is kept. Queued and running builds always keep theirs.
struct LogRetention {
  int keep_builds = 100;
  std::chrono::days keep_for{90};
  int batch = 20;  // builds whose logs one transaction deletes (each log is up to max_log_bytes)
  std::chrono::milliseconds interval{std::chrono::minutes(5)};  // between passes, 80-120% of it

  // What the store keeps at `now`.
  LogKeepRule RuleAt(TimePoint now) const;
};

struct BuildServiceOptions {
  int workers = 2;
  std::filesystem::path workspace = "workspace";
  // Unique per instance; builds are claimed as "PREFIX/N". When it is stable across restarts,
  // Start() fails what the previous life left running at once (else leases recover them).
  std::string worker_prefix;  // empty: host:pid
  std::chrono::milliseconds lease{30000};
  std::chrono::milliseconds poll_interval{500};
  CheckoutLimits checkout_limits;
  // A build running longer is stopped and fails naming the limit; 0: none.
  std::chrono::seconds timeout{0};
  std::int64_t max_log_bytes = 32LL << 20;  // the rest of a longer log is dropped, said so
  // Queued builds a project, and an operator across projects, may have (kTooManyRequests past
  // them): one caller cannot fill the queue for everyone. 0: no bound.
  int max_queued_per_project = 0;
  int max_queued_per_operator = 0;
  // Registry projects (Clusters) only admins may build into, and, when not empty, the only ones
  // builds may push into (besides the reserved ones, for admins).
  std::vector<std::string> reserved_clusters = {"base"};
  std::vector<std::string> allowed_clusters;
  // Non-empty: why builds cannot run on this host (the sandbox failed its start-up check);
  // Enqueue refuses every build with it (kUnavailable).
  std::string disabled_reason;
  // Pruned by a thread of Start(), in passes of `batch`-sized transactions; every instance
  // sharing a database may prune at once.
  LogRetention log_retention;
  // Layer caching: builds reuse the steps cached by earlier builds of their project (locally and
  // in its cache repository, see CacheRepositoryOf) unless the project turned it off
  // (ProjectBuildSettings) or the build asks for no_cache. Off: every build is cold.
  bool layer_cache = false;
  // Non-empty: cache repositories are <cache_project>/<cluster>/<project> in the push
  // registry; empty: <cluster>/<project>/buildcache, beside the project's images.
  std::string cache_project;
};

// Where the steps of `project`'s builds are cached in the registry (host not included). One
// repository per project: a step's cache key is made of its inputs, not of what it produced, so
// a shared repository would let one project's build supply another's layers.
std::string CacheRepositoryOf(std::string_view cluster, std::string_view project,
                              std::string_view cache_project);

// Everything a build needs; the service does not own these.
struct BuildDependencies {
  ProjectStore* projects = nullptr;
  BuildStore* builds = nullptr;
  const PluginRegistry* plugins = nullptr;
  ImageBuilder* builder = nullptr;
  SourceCheckout* checkout = nullptr;
  Registry* registry = nullptr;  // nullptr: builds are refused with kRegistryNotConfigured
  const Clock* clock = nullptr;
  AuditLog* audit = nullptr;  // where build.start and build.cancel are recorded; null: nowhere
  // Hears build.queued, build.started, the build's end (build.succeeded then tag.pushed,
  // build.failed, build.cancelled), each after the store recorded it; null: nothing published.
  // A dead worker's builds are heard as build.failed too, from the instance that fails them:
  // when their lease expired, or at start for what this worker prefix left running.
  EventSink* events = nullptr;
  // Immutability rules: a build whose tag (or extra tag) a rule protects and that exists in the
  // registry already is refused when queued, and fails before it pushes if the tag appeared in
  // between. Null: no tag is protected.
  TagProtection* tag_protection = nullptr;
};

// A build as a caller asks for it.
struct BuildRequest {
  std::string project;
  std::string tag;  // empty: the UTC time "YYYYMMDD-HHMMSS"
  // Further tags the same image is pushed under (at most kMaxExtraTags, none equal to `tag`).
  std::vector<std::string> extra_tags;
  std::string operator_name;
  Role role = Role::kAdmin;  // the caller's (reserved Clusters need kAdmin)
  ChangeOrigin origin;
  // What started it: the build checks out trigger.sha (else trigger.ref) for the project's git
  // sources whose URL is trigger.repository. Empty: a person asked.
  BuildTrigger trigger;
  // Build cold: no cached step is reused (the results still refresh the cache).
  bool no_cache = false;
};

// A page of a project's builds, as buildHistory asks for it.
struct BuildHistoryRequest {
  std::string project;
  std::string page;       // text as received; empty: 1
  std::string page_size;  // text as received; empty: the default
};

// A page of a project's builds with its latest build and the start of that build's log (the
// original's buildHistory: the latest build's state and logs).
struct BuildSummary {
  BuildPage page;  // newest first
  int page_number = 1;
  int page_size = kDefaultPageSize;
  Build latest;
  LogChunk latest_log;  // from the start, at most kSummaryLogBytes
};

// Builds across projects, as /api/builds asks for them: texts as received, each optional.
struct BuildListRequest {
  std::string states;  // comma-separated state names ("queued,running"); empty: any
  std::string project;
  std::string operator_name;
  std::string before;     // the cursor: builds with smaller ids; empty: from the newest
  std::string page_size;  // empty: the default
};

// One page of builds, newest first, and the cursor of the page after it (none on the last).
struct BuildListing {
  std::vector<Build> builds;
  int page_size = kDefaultPageSize;
  std::optional<std::int64_t> next_before;
};

class BuildService {
 public:
  static constexpr std::int64_t kSummaryLogBytes = 1 << 20;
  static constexpr std::size_t kMaxExtraTags = 8;

  BuildService(BuildDependencies deps, BuildServiceOptions options);
  ~BuildService();  // stops the workers
  BuildService(const BuildService&) = delete;
  BuildService& operator=(const BuildService&) = delete;

  // Records a queued build. An empty tag becomes the UTC time "YYYYMMDD-HHMMSS". `role` is the
  // caller's (reserved Clusters need kAdmin; an embedder without roles passes kAdmin).
  // kBuildProjectMissing, kInvalid (the tag, or a pipeline that does not render: nothing is
  // queued), kRegistryNotConfigured, kForbidden (the Cluster is reserved or not allowed),
  // kUnavailable (builds are disabled on this host), kTooManyRequests (the project's or the
  // operator's queued builds are at their bound), kAlreadyExists (a tag an immutability rule
  // protects exists already: the message names the rule and the tag; see CheckTagOverwrite).
  // Audited as build.start with `origin`.
  Result<Build> Enqueue(std::string_view project, std::string_view tag,
                        std::string_view operator_name, Role role = Role::kAdmin,
                        const ChangeOrigin& origin = {});
  // The same for a request with extra tags or a trigger. kInvalid naming extraTags; and
  // kAlreadyExists when a trigger's event already has its build (BuildStore::FindTriggered).
  Result<Build> Enqueue(const BuildRequest& request);
  // Audited as build.cancel with `origin`.
  Result<Build> Cancel(std::int64_t id, std::string_view operator_name,
                       const ChangeOrigin& origin = {});
  // A project's build settings. kInvalid (the name), kBuildProjectMissing.
  Result<ProjectBuildSettings> Settings(std::string_view project);
  // Sets whether the project's builds use the layer cache. kInvalid naming projectName or
  // operator, kBuildProjectMissing. Audited as project.buildSettings with `origin`.
  Result<ProjectBuildSettings> SetLayerCache(std::string_view project, bool layer_cache,
                                             std::string_view operator_name,
                                             const ChangeOrigin& origin = {});
  Result<Build> Get(std::int64_t id);
  Result<BuildPage> History(std::string_view project, int page, int page_size);
  // kInvalid (name, page, page_size), kBuildProjectMissing when the project has no builds.
  Result<BuildSummary> Summary(const BuildHistoryRequest& request);
  // kInvalid naming the parameter: an unknown state, a project name, operator, before or
  // page_size. A project that does not exist has no builds (an empty page, not an error).
  Result<BuildListing> List(const BuildListRequest& request);
  // The log from `offset` until its end or `max_bytes`, whichever comes first. A log retention
  // pruned (Build::log_pruned) is kPrunedLogText, finished.
  Result<LogChunk> ReadLog(std::int64_t id, std::int64_t offset, std::int64_t max_bytes);

  // Finishes builds left running by a dead worker, then starts the workers and log retention.
  void Start();
  // Stops claiming; running builds are cancelled and recorded as failed ("server stopping").
  void Stop();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace market
