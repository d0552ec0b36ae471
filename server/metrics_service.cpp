#include "metrics_service.hpp"

#include <chrono>
#include <type_traits>

#include <fmt/format.h>

#include "api.hpp"
#include "auth.hpp"
#include "market/base_rebuild_service.hpp"
#include "responses.hpp"

namespace market::server {

namespace {

std::vector<double> BuildDurationBuckets() {
  return {1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200};
}

std::string MethodName(http::verb method) { return std::string(http::to_string(method)); }

double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// Times one registry call and counts it; an error is counted under its code (10014 upstream
// failed, 10015 timeout, ...), so an alert can tell an outage from a missing tag (10008).
class InstrumentedRegistry final : public Registry {
 public:
  InstrumentedRegistry(RegistryPtr inner, metrics::CounterFamily& calls,
                       metrics::CounterFamily& errors, metrics::HistogramFamily& latency)
      : inner_(std::move(inner)), calls_(calls), errors_(errors), latency_(latency) {}

  Result<Paged<RegistryProject>> ListProjects(std::string_view name_filter,
                                              RegistryPage page) override {
    return Measure("list_projects", [&] { return inner_->ListProjects(name_filter, page); });
  }
  Result<Paged<RegistryRepository>> ListRepositories(std::int64_t project_id,
                                                     std::string_view query,
                                                     RegistryPage page) override {
    return Measure("list_repositories",
                   [&] { return inner_->ListRepositories(project_id, query, page); });
  }
  Result<Paged<RegistryTag>> ListTags(std::string_view repository, RegistryPage page) override {
    return Measure("list_tags", [&] { return inner_->ListTags(repository, page); });
  }
  Result<RegistryManifest> GetManifest(std::string_view repository,
                                       std::string_view reference) override {
    return Measure("get_manifest", [&] { return inner_->GetManifest(repository, reference); });
  }
  Result<void> DeleteTag(std::string_view repository, std::string_view tag, bool force) override {
    return Measure("delete_tag", [&] { return inner_->DeleteTag(repository, tag, force); });
  }
  Result<void> DeleteManifest(std::string_view repository, std::string_view digest) override {
    return Measure("delete_manifest", [&] { return inner_->DeleteManifest(repository, digest); });
  }
  Result<void> EnsureProject(std::string_view project) override {
    return Measure("ensure_project", [&] { return inner_->EnsureProject(project); });
  }
  Result<void> Ping() override {
    return Measure("ping", [&] { return inner_->Ping(); });
  }
  std::string PushHost() const override { return inner_->PushHost(); }
  bool TlsVerify() const override { return inner_->TlsVerify(); }
  const RegistryCredentials& Credentials() const override { return inner_->Credentials(); }

 private:
  template <class Fn>
  auto Measure(const char* operation, Fn&& call) -> std::invoke_result_t<Fn&> {
    auto start = std::chrono::steady_clock::now();
    auto result = call();
    latency_.With({operation}).Observe(Seconds(std::chrono::steady_clock::now() - start));
    calls_.With({operation}).Inc();
    if (!result) {
      errors_.With({operation, std::to_string(static_cast<int>(result.error().code))}).Inc();
    }
    return result;
  }

  RegistryPtr inner_;
  metrics::CounterFamily& calls_;
  metrics::CounterFamily& errors_;
  metrics::HistogramFamily& latency_;
};

// Forwards every call; counts builds queued and finished (by state) and observes how long the
// finished ones ran. Counts are this process's: each instance reports the builds it ended.
class InstrumentedBuildStore final : public BuildStore {
 public:
  InstrumentedBuildStore(BuildStore& inner, metrics::CounterFamily& enqueued,
                         metrics::CounterFamily& finished, metrics::HistogramFamily& duration)
      : inner_(inner), enqueued_(enqueued), finished_(finished), duration_(duration) {}

  Result<Build> Enqueue(const Build& build) override {
    Result<Build> result = inner_.Enqueue(build);
    if (result) enqueued_.With({}).Inc();
    return result;
  }
  Result<Build> Get(std::int64_t id) override { return inner_.Get(id); }
  Result<std::optional<Build>> FindTriggered(const Build& build) override {
    return inner_.FindTriggered(build);
  }
  Result<BuildPage> ListForProject(std::string_view project, int page, int page_size) override {
    return inner_.ListForProject(project, page, page_size);
  }
  Result<std::vector<Build>> List(const BuildFilter& filter) override {
    return inner_.List(filter);
  }
  Result<std::optional<Build>> ClaimNext(std::string_view worker, TimePoint now,
                                         TimePoint lease_until) override {
    return inner_.ClaimNext(worker, now, lease_until);
  }
  Result<bool> Heartbeat(std::int64_t id, std::string_view worker,
                         TimePoint lease_until) override {
    return inner_.Heartbeat(id, worker, lease_until);
  }
  Result<void> RecordBaseImages(std::int64_t id, const std::vector<BaseImage>& bases) override {
    return inner_.RecordBaseImages(id, bases);
  }
  Result<void> AppendLog(std::int64_t id, std::string_view text) override {
    return inner_.AppendLog(id, text);
  }
  Result<LogChunk> ReadLog(std::int64_t id, std::int64_t offset,
                           std::int64_t max_bytes) override {
    return inner_.ReadLog(id, offset, max_bytes);
  }
  Result<Build> Finish(std::int64_t id, const BuildResult& result, TimePoint now) override {
    Result<Build> build = inner_.Finish(id, result, now);
    if (build && IsFinished(build->state)) Count(*build);
    return build;
  }
  Result<Build> RequestCancel(std::int64_t id, std::string_view reason, TimePoint now) override {
    Result<Build> build = inner_.RequestCancel(id, reason, now);
    // A queued build ends here; a running one ends later through Finish.
    if (build && IsFinished(build->state)) Count(*build);
    return build;
  }
  // Counted, not timed: a dead worker's build ends when its end is noticed, not when it stopped.
  Result<std::vector<Build>> FailExpired(TimePoint now, std::string_view reason) override {
    Result<std::vector<Build>> failed = inner_.FailExpired(now, reason);
    if (failed) CountFailed(failed->size());
    return failed;
  }
  Result<std::vector<Build>> FailOwnedBy(std::string_view worker, std::string_view reason,
                                         TimePoint now) override {
    Result<std::vector<Build>> failed = inner_.FailOwnedBy(worker, reason, now);
    if (failed) CountFailed(failed->size());
    return failed;
  }
  Result<std::int64_t> QueueDepth() override { return inner_.QueueDepth(); }
  Result<QueuedCounts> CountQueued(std::string_view project,
                                   std::string_view operator_name) override {
    return inner_.CountQueued(project, operator_name);
  }
  Result<LogPruneBatch> PruneLogs(const LogKeepRule& rule, std::int64_t after_id, int limit,
                                  TimePoint now) override {
    return inner_.PruneLogs(rule, after_id, limit, now);
  }
  Result<ProjectBuildSettings> GetBuildSettings(std::string_view project) override {
    return inner_.GetBuildSettings(project);
  }
  Result<ProjectBuildSettings> SetBuildSettings(const ProjectBuildSettings& settings,
                                                TimePoint now) override {
    return inner_.SetBuildSettings(settings, now);
  }

 private:
  void CountFailed(std::size_t n) {
    if (n > 0) finished_.With({"failed"}).Inc(static_cast<double>(n));
  }
  void Count(const Build& build) {
    std::string state(ToString(build.state));
    finished_.With({state}).Inc();
    if (build.started_at && build.finished_at) {
      duration_.With({state}).Observe(
          std::chrono::duration<double>(*build.finished_at - *build.started_at).count());
    }
  }

  BuildStore& inner_;
  metrics::CounterFamily& enqueued_;
  metrics::CounterFamily& finished_;
  metrics::HistogramFamily& duration_;
};

}  // namespace

ServiceMetrics::ServiceMetrics(std::unique_ptr<StoreMonitor> monitor, int build_workers)
    : monitor_(std::move(monitor)),
      build_workers_(build_workers),
      requests_(registry_.AddCounter("market_http_requests_total",
                                     "HTTP requests answered, by method, route pattern and status.",
                                     {"method", "route", "status"})),
      latency_(registry_.AddHistogram(
          "market_http_request_duration_seconds",
          "Time from a complete request to its response's last byte, by route and status.",
          {"method", "route", "status"}, metrics::LatencyBuckets())),
      registry_calls_(registry_.AddCounter("market_registry_requests_total",
                                           "Calls to the container registry, by operation.",
                                           {"operation"})),
      registry_errors_(registry_.AddCounter(
          "market_registry_errors_total",
          "Registry calls that failed, by operation and return code (10014 upstream failed, "
          "10015 timeout, 10021 refused, 10008 not found, ...).",
          {"operation", "code"})),
      registry_latency_(registry_.AddHistogram("market_registry_request_duration_seconds",
                                               "Duration of registry calls, by operation.",
                                               {"operation"}, metrics::LatencyBuckets())),
      builds_enqueued_(registry_.AddCounter("market_builds_enqueued_total",
                                            "Builds queued through this instance.")),
      builds_finished_(registry_.AddCounter(
          "market_builds_finished_total",
          "Builds this instance ended, by final state (succeeded, failed, cancelled).",
          {"state"})),
      build_duration_(registry_.AddHistogram(
          "market_build_duration_seconds",
          "Run time of builds this instance ended (start to finish; queue time excluded).",
          {"state"}, BuildDurationBuckets())),
      refused_(registry_.AddCounter(
          "market_http_refused_total",
          "Requests and connections turned away before any handler ran, by reason "
          "(docs/security.md).",
          {"reason"})),
      signin_failures_(registry_
                           .AddCounter("market_signin_failures_total",
                                       "Sign-ins with wrong credentials (user, password or "
                                       "token).")
                           .With({})) {
  for (Refusal refusal : kAllRefusals) refused_.With({std::string(ToString(refusal))});
  // Every final state shows from the start, at 0, so rate() works before the first build.
  for (const char* state : {"succeeded", "failed", "cancelled"}) builds_finished_.With({state});
  builds_enqueued_.With({});
  registry_.AddCollector([this](metrics::TextWriter& out) { Collect(out); });
}

ServiceMetrics::~ServiceMetrics() = default;

void ServiceMetrics::BindRoutes(const std::vector<Route>& routes) {
  first_route_ = routes.empty() ? nullptr : routes.data();
  route_count_ = routes.size();
  rows_ = std::make_unique<CellRow[]>(route_count_ + 1);
  for (std::size_t row = 0; row <= route_count_; ++row) {
    for (auto& cell : rows_[row]) cell.store(nullptr, std::memory_order_relaxed);
  }
}

ServiceMetrics::RequestCell* ServiceMetrics::CellFor(std::size_t row, const Route* route,
                                                     unsigned status) {
  std::size_t column = status >= 100 && status <= 599 ? status - 100 : kStatuses - 1;
  std::atomic<RequestCell*>& slot = rows_[row][column];
  RequestCell* cell = slot.load(std::memory_order_acquire);
  if (cell != nullptr) return cell;
  // First request of this route and status: look the children up (family locks) once.
  // Unmatched requests get fixed labels: raw paths and methods would be unbounded.
  // A 405 is counted under the path's route with method "-": the refused method is not the
  // route's, and raw methods would be unbounded too.
  bool route_method = route != nullptr && column + 100 != 405;
  std::vector<std::string> labels = {
      route_method ? MethodName(route->method) : std::string("-"),
      route != nullptr ? route->path : std::string("unmatched"), std::to_string(column + 100)};
  auto made = std::make_unique<RequestCell>(
      RequestCell{&requests_.With(labels), &latency_.With(labels)});
  std::lock_guard lock(cells_mutex_);
  cell = slot.load(std::memory_order_acquire);
  if (cell != nullptr) return cell;
  cell = made.get();
  cells_.push_back(std::move(made));
  slot.store(cell, std::memory_order_release);
  return cell;
}

void ServiceMetrics::OnRequest(const RequestRecord& record) {
  if (!rows_) return;
  std::size_t row = 0;
  const Route* route = nullptr;
  if (record.route != nullptr && first_route_ != nullptr && record.route >= first_route_ &&
      record.route < first_route_ + route_count_) {
    route = record.route;
    row = static_cast<std::size_t>(route - first_route_) + 1;
  }
  RequestCell* cell = CellFor(row, route, record.status);
  cell->requests->Inc();
  cell->latency->Observe(Seconds(record.elapsed));
}

void ServiceMetrics::OnRefused(Refusal refusal) {
  // Few and rare: the family's lookup is cheap enough.
  refused_.With({std::string(ToString(refusal))}).Inc();
}

void ServiceMetrics::OnSigninFailed() { signin_failures_.Inc(); }

RegistryPtr ServiceMetrics::Instrument(RegistryPtr registry) {
  if (!registry) return registry;
  return std::make_unique<InstrumentedRegistry>(std::move(registry), registry_calls_,
                                                registry_errors_, registry_latency_);
}

std::unique_ptr<BuildStore> ServiceMetrics::Instrument(BuildStore& store) {
  return std::make_unique<InstrumentedBuildStore>(store, builds_enqueued_, builds_finished_,
                                                  build_duration_);
}

void ServiceMetrics::Collect(metrics::TextWriter& out) const {
  out.Header("market_build_workers", "Build workers of this instance.", "gauge");
  out.Sample("market_build_workers", {}, build_workers_);
  if (auth_ != nullptr) {
    // Not by outcome or user: /metrics is public and must not tell which names exist.
    out.Header("market_auth_password_verifications_total",
               "Passwords checked with argon2id, unknown user names' included.", "counter");
    out.Sample("market_auth_password_verifications_total", {},
               static_cast<double>(auth_->PasswordVerifications()));
  }
  if (base_rebuilds_ != nullptr) {
    const BaseRebuildCounters c = base_rebuilds_->Counters();
    out.Header("market_base_image_rebuilds_total",
               "Base changes this instance decided on, by what it did: queued a rebuild, "
               "debounced (queued already), loop (refused), capped (per hour), refused (by the "
               "build queue), busy (the project had a build queued or running).",
               "counter");
    for (const auto& [outcome, n] :
         {std::pair<const char*, std::int64_t>{"queued", c.queued}, {"debounced", c.debounced},
          {"loop", c.loops_refused}, {"capped", c.capped}, {"refused", c.refused},
          {"busy", c.busy}}) {
      out.Sample("market_base_image_rebuilds_total", {{"outcome", outcome}},
                 static_cast<double>(n));
    }
  }
  if (monitor_ == nullptr) return;
  PoolUsage pool = monitor_->Pool();
  out.Header("market_db_pool_sessions", "Database sessions of this instance's pool, by state.",
             "gauge");
  out.Sample("market_db_pool_sessions", {{"state", "in_use"}}, pool.in_use);
  out.Sample("market_db_pool_sessions", {{"state", "idle"}}, pool.size - pool.in_use);
  out.Header("market_db_pool_size", "Sessions in this instance's database pool.", "gauge");
  out.Sample("market_db_pool_size", {}, pool.size);
  out.Header("market_db_pool_waiting", "Callers waiting for a free database session.", "gauge");
  out.Sample("market_db_pool_waiting", {}, pool.waiting);

  // Read from the database, so every instance sharing it reports the same figures.
  Result<ActiveBuilds> active = monitor_->CountActiveBuilds();
  out.Header("market_metrics_database_up",
             "1 when the build counts below could be read from the database.", "gauge");
  out.Sample("market_metrics_database_up", {}, active ? 1 : 0);
  if (!active) return;
  out.Header("market_builds", "Builds queued or running now, over all instances, by state.",
             "gauge");
  out.Sample("market_builds", {{"state", "queued"}}, static_cast<double>(active->queued));
  out.Sample("market_builds", {{"state", "running"}}, static_cast<double>(active->running));
  out.Header("market_build_queue_depth", "Builds waiting for a worker, over all instances.",
             "gauge");
  out.Sample("market_build_queue_depth", {}, static_cast<double>(active->queued));
}

}  // namespace market::server

namespace market::server {

// The handler lives here, beside what it renders.
HandlerResult Api::Metrics(const RequestContext&) {
  if (deps_.metrics == nullptr) {
    return ErrorResult(Error{Errc::kNotFound, "metrics are not enabled"});
  }
  HttpResponse response = TextResponse(http::status::ok, std::string(metrics::kContentType),
                                       deps_.metrics->Render());
  response.set(http::field::cache_control, "no-store");
  return HandlerResult{std::move(response), nullptr};
}

}  // namespace market::server
