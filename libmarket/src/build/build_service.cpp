#include "market/build_service.hpp"
#include "market/immutability.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <shared_mutex>
#include <thread>
#include <vector>

#include "build/log_pruner.hpp"
#include "build/log_redactor.hpp"
#include "build/step_timer.hpp"
#include "log.hpp"
#include "market/base_images.hpp"
#include "market/domain_json.hpp"
#include "market/trigger_events.hpp"
#include "market/validation.hpp"
#include "publish_event.hpp"
#include "source/context_paths.hpp"

namespace market {

namespace {

using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::string_view kServerStopping = "server stopping";
constexpr std::string_view kWorkerRestarted = "worker restarted while the build ran";
constexpr std::string_view kLeaseExpired = "worker lost: its lease expired while the build ran";
// Followers must see lines within about a second; fewer, larger writes are kinder to the DB.
constexpr milliseconds kLogFlushInterval{250};
constexpr std::size_t kLogFlushBytes = 16 * 1024;
// One read of a log from the store: a long log is read in pieces.
constexpr std::int64_t kLogReadPiece = 1 << 20;

// "queued,running": each state once, in the order given; empty text is any state.
Result<std::vector<BuildState>> ParseStateList(std::string_view field, std::string_view text) {
  std::vector<BuildState> states;
  if (text.empty()) return states;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t comma = std::min(text.find(',', start), text.size());
    std::string_view name = text.substr(start, comma - start);
    std::optional<BuildState> state = ParseBuildState(name);
    if (!state) {
      return Fail(Errc::kInvalid,
                  fmt::format("{} has an unknown build state '{}' (queued, running, succeeded, "
                              "failed, cancelled)",
                              field, name.substr(0, 32)));
    }
    if (std::find(states.begin(), states.end(), *state) == states.end()) states.push_back(*state);
    start = comma + 1;
  }
  return states;
}

std::string DefaultWorkerPrefix() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return fmt::format("{}:{}", host[0] != '\0' ? host : "localhost", ::getpid());
}

// A path inside the build context given by the user, normalized as at save ("a//b" -> "a/b");
// no '.', '..' or absolute path.
Result<std::filesystem::path> ContextPath(std::string_view what, std::string_view rel) {
  auto normal = source::NormalizeContextPath(rel);
  if (!normal) return Fail(Errc::kInvalid, fmt::format("{} '{}' {}", what, rel, normal.error()));
  return std::filesystem::path(*normal);
}

// Every folder of `rel` below the context a real directory, none reached through a link that an
// earlier checkout put there; then the checkout may write at `rel`.
Result<void> PrepareCheckout(const std::filesystem::path& context,
                             const std::filesystem::path& rel) {
  if (auto ok = source::PrepareCheckoutFolder(context, rel.string()); !ok) {
    return Fail(ok.error().code,
                fmt::format("checkoutAs {}: {} in the build context (checkouts do not follow "
                            "links or write into files)",
                            rel.string(), ok.error().message));
  }
  return {};
}

// "host/cluster/project:tag" -> "cluster/project".
std::string RepositoryOf(std::string_view image) {
  auto slash = image.find('/');
  std::string_view rest = slash == std::string_view::npos ? image : image.substr(slash + 1);
  auto colon = rest.rfind(':');
  return std::string(colon == std::string_view::npos ? rest : rest.substr(0, colon));
}

}  // namespace

std::string CacheRepositoryOf(std::string_view cluster, std::string_view project,
                              std::string_view cache_project) {
  if (!cache_project.empty()) return fmt::format("{}/{}/{}", cache_project, cluster, project);
  // A project name holds no '/', so no project's images can land in this repository.
  return fmt::format("{}/{}/buildcache", cluster, project);
}

namespace {

std::string ClusterOf(std::string_view image) {
  std::string repo = RepositoryOf(image);
  return repo.substr(0, repo.find('/'));
}

// Bytes of config + layers as the registry serves them; nullopt for an index or bad JSON.
std::optional<std::int64_t> ManifestSize(std::string_view manifest_json) {
  auto m = nlohmann::json::parse(manifest_json, nullptr, false);
  if (m.is_discarded() || !m.is_object()) return std::nullopt;
  auto config = m.find("config");
  auto layers = m.find("layers");
  if (config == m.end() || !config->is_object() || layers == m.end() || !layers->is_array()) {
    return std::nullopt;
  }
  std::int64_t size = config->value("size", std::int64_t{0});
  for (const auto& layer : *layers) size += layer.value("size", std::int64_t{0});
  return size;
}

// A running build's log: redacted, buffered, appended to the store in order.
class BuildLog {
 public:
  // A runaway build cannot fill the database: past `max_bytes` lines are dropped.
  BuildLog(BuildStore* store, std::int64_t id, const LogRedactor* redactor, std::int64_t max_bytes)
      : store_(store), id_(id), redactor_(redactor), max_bytes_(max_bytes) {}

  void Line(std::string_view line) {
    bool flush = false;
    {
      std::lock_guard lock(mu_);
      if (written_ >= max_bytes_) return;
      std::string text = redactor_->Redact(line);
      text.push_back('\n');
      written_ += static_cast<std::int64_t>(text.size());
      if (written_ >= max_bytes_) {
        text += fmt::format("... log truncated: it exceeds build-log-bytes ({} bytes)\n",
                            max_bytes_);
      }
      pending_ += text;
      flush = pending_.size() >= kLogFlushBytes;
    }
    if (flush) Flush();
  }

  void Flush() {
    std::lock_guard write_lock(write_mu_);  // keeps appends in order across threads
    std::string text;
    {
      std::lock_guard lock(mu_);
      text.swap(pending_);
    }
    if (text.empty()) return;
    const auto start = SteadyClock::now();
    auto ok = store_->AppendLog(id_, text);
    ++writes_;
    write_time_ += SteadyClock::now() - start;
    if (!ok) {
      MARKET_LOG_WARN("build {}: storing {} bytes of log failed: {}", id_, text.size(),
                      ok.error().message);
      std::lock_guard lock(mu_);
      if (pending_.size() + text.size() < (4u << 20)) pending_.insert(0, text);
    }
  }

  // "7 writes, 3 ms": what storing the log cost the build so far.
  std::string WriteCost() {
    std::lock_guard write_lock(write_mu_);
    return fmt::format("{} writes, {} ms", writes_,
                       std::chrono::duration_cast<milliseconds>(write_time_).count());
  }

 private:
  BuildStore* store_;
  std::int64_t id_;
  const LogRedactor* redactor_;
  const std::int64_t max_bytes_;
  std::mutex write_mu_;
  std::mutex mu_;
  std::string pending_;
  std::int64_t written_ = 0;
  int writes_ = 0;                      // under write_mu_
  SteadyClock::duration write_time_{};  // under write_mu_
};

struct RunningBuild {
  std::stop_source stop;
  std::atomic<bool> cancel_requested{false};
  std::atomic<bool> timed_out{false};
};

bool Contains(const std::vector<std::string>& list, std::string_view value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

// A triggered build checks the pushed commit (or ref) out for the project's sources of the
// pushed repository; its other sources stay as the project names them.
void PinTriggeredSources(const BuildTrigger& trigger, RenderedDockerfile& rendered,
                         const LogLineFn& log) {
  if (trigger.repository.empty() || (trigger.sha.empty() && trigger.ref.empty())) return;
  std::string ref = trigger.sha;
  if (ref.empty()) {
    ref = trigger.ref;
    for (std::string_view prefix : {"refs/heads/", "refs/tags/"}) {
      if (ref.starts_with(prefix)) ref.erase(0, prefix.size());
    }
  }
  auto pin = [&](SourceSpec& source) {
    if (source.type != "git" || !SameRepository(source.url, trigger.repository)) return;
    source.ref = ref;
    log(fmt::format("source {}: checking out {} ({})",
                    source.checkout_as.empty() ? std::string(".") : source.checkout_as, ref,
                    trigger.ref.empty() ? std::string("started by hand") : trigger.ref));
  };
  for (SourceSpec& source : rendered.sources) pin(source);
  if (rendered.dockerfile_source) pin(*rendered.dockerfile_source);
}

}  // namespace

class BuildService::Impl {
 public:
  Impl(BuildDependencies deps, BuildServiceOptions options)
      : deps_(deps),
        options_(std::move(options)),
        audit_(deps.audit, *deps.clock),
        pruner_(*deps.builds, *deps.clock, options_.log_retention) {
    if (options_.worker_prefix.empty()) options_.worker_prefix = DefaultWorkerPrefix();
    if (options_.workers < 1) options_.workers = 1;
  }
  ~Impl() { Stop(); }

  Result<Build> Enqueue(const BuildRequest& request);
  Result<Build> Cancel(std::int64_t id, std::string_view operator_name,
                       const ChangeOrigin& origin);
  Result<Build> Get(std::int64_t id) { return deps_.builds->Get(id); }
  Result<ProjectBuildSettings> Settings(std::string_view project) {
    MARKET_ASSIGN_OR_RETURN(auto name, NormalizeProjectName("projectName", project));
    return deps_.builds->GetBuildSettings(name);
  }
  Result<ProjectBuildSettings> SetLayerCache(std::string_view project, bool layer_cache,
                                             std::string_view operator_name,
                                             const ChangeOrigin& origin);
  Result<BuildPage> History(std::string_view project, int page, int page_size) {
    return deps_.builds->ListForProject(project, page, page_size);
  }
  Result<BuildSummary> Summary(const BuildHistoryRequest& request);
  Result<BuildListing> List(const BuildListRequest& request);
  Result<LogChunk> ReadLog(std::int64_t id, std::int64_t offset, std::int64_t max_bytes);
  void Start();
  void Stop();

 private:
  std::string WorkerId(int i) const { return fmt::format("{}/{}", options_.worker_prefix, i); }
  // The next checkout's limits: its share of the size limit is what the context's files leave.
  Result<CheckoutLimits> ContextLeft(const std::filesystem::path& context) const {
    CheckoutLimits limits = options_.checkout_limits;
    const std::int64_t used = source::TreeBytes(context);
    if (used >= limits.max_bytes) {
      return Fail(Errc::kInternal,
                  fmt::format("the build context holds {} bytes, the size limit of "
                              "build-context-bytes is {} bytes",
                              used, limits.max_bytes));
    }
    limits.max_bytes -= used;
    return limits;
  }
  void Wake() {
    {
      std::lock_guard lock(mu_);
      ++generation_;
    }
    cv_.notify_all();
  }
  void WorkerLoop(std::stop_token stop, std::string worker);
  void FailExpiredNow();
  // build.failed of each build the store failed in bulk (a dead worker's): no worker of theirs
  // is left to publish it, so the instance that failed them does.
  void PublishFailedInBulk(const std::vector<Build>& failed);
  void RemoveStaleWorkspaces();
  void RunBuild(std::stop_token worker_stop, const std::string& worker, const Build& build);
  Result<ImageBuildOutcome> Execute(const Build& build, const std::filesystem::path& workspace,
                                    BuildLog& log, LogRedactor& redactor, std::stop_token stop,
                                    StepTimer& timer);
  // The base images `dockerfile` names with the digests known before building: a pinned
  // reference's own, the configured registry's for an image there, else empty (the builder may
  // tell it afterwards).
  std::vector<BaseImage> ResolveBaseImages(std::string_view dockerfile, BuildLog& log);
  // The request's layer caching: the service's setting, the project's, and the build's noCache.
  Result<void> ChooseLayerCache(const Build& build, ImageBuildRequest& request, BuildLog& log);
  void Monitor(std::stop_token monitor_stop, const Build& build, const std::string& worker,
               BuildLog& log, RunningBuild& running, std::atomic<bool>& lease_lost);
  // One build.* event of `build` as the store recorded it.
  void PublishBuild(EventType type, const Build& build, TimePoint at);
  // The event of how `build` ended; a success is followed by tag.pushed.
  void PublishEnded(const Build& build);
  // Nothing, or the refusal of the first of `tag` and `extra_tags` that an immutability rule
  // protects and that exists in `repository` already.
  Result<void> CheckProtectedTags(const std::string& repository, const std::string& tag,
                                  const std::vector<std::string>& extra_tags) {
    if (deps_.tag_protection == nullptr) return {};
    MARKET_RETURN_IF_ERROR(CheckTagOverwrite(*deps_.tag_protection, *deps_.registry, repository, tag));
    for (const std::string& extra : extra_tags) {
      MARKET_RETURN_IF_ERROR(
          CheckTagOverwrite(*deps_.tag_protection, *deps_.registry, repository, extra));
    }
    return {};
  }
  // Returns once every Enqueue of this instance that stored its build has published it.
  void AfterQueuedPublished() { std::unique_lock wait(queued_publishing_); }

  BuildDependencies deps_;
  BuildServiceOptions options_;
  AuditTrail audit_;
  LogPruner pruner_;

  std::mutex mu_;
  std::condition_variable_any cv_;
  std::uint64_t generation_ = 0;  // bumped when there may be something new to claim
  std::map<std::int64_t, RunningBuild*> running_;
  std::vector<std::jthread> workers_;
  bool started_ = false;
  std::atomic<std::int64_t> next_expiry_check_{0};  // steady-clock ms
  // Held shared by Enqueue from storing a build until build.queued is published: a worker may
  // claim the build in between, and its build.started must not be heard first. Events of other
  // instances cannot be ordered so; receivers have occurredAt.
  std::shared_mutex queued_publishing_;
};

Result<Build> BuildService::Impl::Enqueue(const BuildRequest& request) {
  const std::string_view tag = request.tag;
  const std::string_view operator_name = request.operator_name;
  const Role role = request.role;
  const ChangeOrigin& origin = request.origin;
  if (!options_.disabled_reason.empty()) {
    return Fail(Errc::kUnavailable, "builds are disabled: " + options_.disabled_reason);
  }
  const TimePoint now = deps_.clock->Now();
  std::string the_tag;
  if (tag.empty()) {
    the_tag = FormatCompactUtc(now);
  } else {
    MARKET_ASSIGN_OR_RETURN(auto valid, ValidateTag("tag", tag));
    the_tag = valid;
  }
  if (request.extra_tags.size() > kMaxExtraTags) {
    return Fail(Errc::kInvalid, fmt::format("extraTags has more than {} tags", kMaxExtraTags));
  }
  std::vector<std::string> extra_tags;
  for (const std::string& extra : request.extra_tags) {
    MARKET_ASSIGN_OR_RETURN(auto valid, ValidateTag("extraTags", extra));
    if (valid == the_tag || Contains(extra_tags, valid)) {
      return Fail(Errc::kInvalid, fmt::format("extraTags names {} twice", valid));
    }
    extra_tags.push_back(std::move(valid));
  }
  MARKET_ASSIGN_OR_RETURN(auto name, NormalizeProjectName("projectName", request.project));
  auto stored = deps_.projects->Get(name);
  if (!stored) {
    if (stored.error().code == Errc::kNotFound) {
      return Fail(Errc::kBuildProjectMissing, DefaultMessage(Errc::kBuildProjectMissing));
    }
    return std::unexpected(stored.error());
  }
  if (deps_.registry == nullptr) {
    return Fail(Errc::kRegistryNotConfigured, "no registry is configured: builds are disabled");
  }
  // A pipeline that cannot render would only fail on a worker: it is refused now, with what
  // is wrong, and nothing is queued.
  if (auto rendered = deps_.plugins->Render(stored->define_type, stored->pipeline); !rendered) {
    return Fail(Errc::kInvalid,
                fmt::format("project {} cannot be built: {}", name, rendered.error().message));
  }
  // The Cluster is the registry project the image lands in: a developer must not replace what
  // others build from (the base images).
  const bool reserved = Contains(options_.reserved_clusters, stored->cluster);
  if (reserved && role != Role::kAdmin) {
    return Fail(Errc::kForbidden,
                fmt::format("Cluster {} is reserved: only admins may build into it (reserved-clusters)",
                            stored->cluster));
  }
  if (!reserved && !options_.allowed_clusters.empty() &&
      !Contains(options_.allowed_clusters, stored->cluster)) {
    return Fail(Errc::kForbidden,
                fmt::format("Cluster {} is not one builds may push into (allowed-clusters)",
                            stored->cluster));
  }
  // Refused now rather than failed on a worker; checked again before the push (Execute).
  MARKET_RETURN_IF_ERROR(CheckProtectedTags(stored->cluster + "/" + name, the_tag, extra_tags));
  if (options_.max_queued_per_project > 0 || options_.max_queued_per_operator > 0) {
    MARKET_ASSIGN_OR_RETURN(auto queued, deps_.builds->CountQueued(name, operator_name));
    if (options_.max_queued_per_project > 0 && queued.project >= options_.max_queued_per_project) {
      return Fail(Errc::kTooManyRequests, fmt::format("project {} has {} queued builds already "
                                                      "(max-queued-builds-per-project)",
                                                      name, queued.project));
    }
    if (options_.max_queued_per_operator > 0 &&
        queued.operator_builds >= options_.max_queued_per_operator) {
      return Fail(Errc::kTooManyRequests,
                  fmt::format("{} has {} queued builds already (max-queued-builds-per-user)",
                              operator_name, queued.operator_builds));
    }
  }
  Build build;
  build.project = name;
  build.tag = the_tag;
  build.operator_name = std::string(operator_name);
  build.image =
      fmt::format("{}/{}/{}:{}", deps_.registry->PushHost(), stored->cluster, name, the_tag);
  build.queued_at = now;
  build.state = BuildState::kQueued;
  build.extra_tags = std::move(extra_tags);
  build.trigger = request.trigger;
  build.no_cache = request.no_cache;
  Result<Build> queued;
  {
    std::shared_lock publishing(queued_publishing_);
    queued = deps_.builds->Enqueue(build);
    if (queued) PublishBuild(EventType::kBuildQueued, *queued, queued->queued_at);
  }
  if (queued) {
    MARKET_LOG_INFO("build {} of {} queued by {}: {}", queued->id, queued->project,
                    queued->operator_name, queued->image);
    Wake();
    audit_.Record(operator_name, origin, "build.start", "project:" + name, nullptr,
                  BuildToJson(*queued));
  }
  return queued;
}

Result<ProjectBuildSettings> BuildService::Impl::SetLayerCache(std::string_view project,
                                                               bool layer_cache,
                                                               std::string_view operator_name,
                                                               const ChangeOrigin& origin) {
  MARKET_ASSIGN_OR_RETURN(auto name, NormalizeProjectName("projectName", project));
  MARKET_ASSIGN_OR_RETURN(auto op, ValidateOperator("operator", operator_name));
  MARKET_ASSIGN_OR_RETURN(auto before, deps_.builds->GetBuildSettings(name));
  ProjectBuildSettings wanted = before;
  wanted.layer_cache = layer_cache;
  wanted.operator_name = op;
  MARKET_ASSIGN_OR_RETURN(auto after, deps_.builds->SetBuildSettings(wanted, deps_.clock->Now()));
  auto json = [](const ProjectBuildSettings& s) {
    return nlohmann::json{{"layerCache", s.layer_cache}};
  };
  audit_.Record(op, origin, "project.buildSettings", "project:" + name, json(before), json(after));
  MARKET_LOG_INFO("project {}: layer cache {} by {}", name, layer_cache ? "on" : "off", op);
  return after;
}

Result<Build> BuildService::Impl::Cancel(std::int64_t id, std::string_view operator_name,
                                         const ChangeOrigin& origin) {
  Result<Build> before = audit_.Enabled() ? deps_.builds->Get(id) : Result<Build>(Build{});
  auto build = deps_.builds->RequestCancel(id, fmt::format("cancelled by {}", operator_name),
                                           deps_.clock->Now());
  if (!build) return build;
  audit_.Record(operator_name, origin, "build.cancel", "project:" + build->project,
                before ? BuildToJson(*before) : nlohmann::json(nullptr), BuildToJson(*build));
  MARKET_LOG_INFO("build {} cancel requested by {} ({})", id, operator_name,
                  ToString(build->state));
  // A queued build ends here; a running one ends, and is published, on its worker.
  if (build->state == BuildState::kCancelled) {
    AfterQueuedPublished();
    PublishEnded(*build);
  }
  // A build running here stops at once; one running elsewhere sees cancel_requested when its
  // worker polls the store.
  std::lock_guard lock(mu_);
  if (auto it = running_.find(id); it != running_.end()) {
    it->second->cancel_requested = true;
    it->second->stop.request_stop();
  }
  return build;
}

Result<LogChunk> BuildService::Impl::ReadLog(std::int64_t id, std::int64_t offset,
                                             std::int64_t max_bytes) {
  LogChunk all;
  all.next_offset = offset;
  do {
    const std::int64_t want =
        std::min(kLogReadPiece, max_bytes - static_cast<std::int64_t>(all.text.size()));
    auto chunk = deps_.builds->ReadLog(id, all.next_offset, want);
    if (!chunk) return chunk;
    all.text += chunk->text;
    all.next_offset = chunk->next_offset;
    all.finished = chunk->finished;
    if (chunk->finished || chunk->text.empty()) break;
  } while (static_cast<std::int64_t>(all.text.size()) < max_bytes);
  return all;
}

Result<BuildSummary> BuildService::Impl::Summary(const BuildHistoryRequest& request) {
  MARKET_ASSIGN_OR_RETURN(auto name, NormalizeProjectName("projectName", request.project));
  MARKET_ASSIGN_OR_RETURN(auto page, ParsePage("page", request.page));
  MARKET_ASSIGN_OR_RETURN(auto page_size, ParsePageSize("page_size", request.page_size));
  auto no_builds = [&] {
    return Fail(Errc::kBuildProjectMissing, fmt::format("project {} has no builds", name));
  };
  BuildSummary summary;
  summary.page_number = page;
  summary.page_size = page_size;
  MARKET_ASSIGN_OR_RETURN(auto history, History(name, page, page_size));
  summary.page = std::move(history);
  if (summary.page.total_count == 0) return no_builds();
  if (page == 1 && !summary.page.builds.empty()) {
    summary.latest = summary.page.builds.front();
  } else {
    MARKET_ASSIGN_OR_RETURN(auto first, History(name, 1, 1));
    if (first.builds.empty()) return no_builds();
    summary.latest = first.builds.front();
  }
  MARKET_ASSIGN_OR_RETURN(auto log, ReadLog(summary.latest.id, 0, kSummaryLogBytes));
  summary.latest_log = std::move(log);
  return summary;
}

Result<BuildListing> BuildService::Impl::List(const BuildListRequest& request) {
  BuildFilter filter;
  MARKET_ASSIGN_OR_RETURN(filter.states, ParseStateList("state", request.states));
  if (!request.project.empty()) {
    MARKET_ASSIGN_OR_RETURN(filter.project, NormalizeProjectName("project", request.project));
  }
  if (!request.operator_name.empty()) {
    MARKET_ASSIGN_OR_RETURN(filter.operator_name,
                            ValidateOperator("operator", request.operator_name));
  }
  if (!request.before.empty()) {
    MARKET_ASSIGN_OR_RETURN(filter.before_id, ParseBuildId("before", request.before));
  }
  BuildListing listing;
  MARKET_ASSIGN_OR_RETURN(listing.page_size, ParsePageSize("page_size", request.page_size));
  filter.limit = listing.page_size + 1;  // one more tells whether a next page exists
  MARKET_ASSIGN_OR_RETURN(listing.builds, deps_.builds->List(filter));
  if (static_cast<int>(listing.builds.size()) > listing.page_size) {
    listing.builds.resize(listing.page_size);
    listing.next_before = listing.builds.back().id;
  }
  return listing;
}

void BuildService::Impl::FailExpiredNow() {
  auto failed = deps_.builds->FailExpired(deps_.clock->Now(), kLeaseExpired);
  if (!failed) {
    MARKET_LOG_WARN("finishing builds of lost workers failed: {}", failed.error().message);
  } else if (!failed->empty()) {
    MARKET_LOG_WARN("{} build(s) of lost workers finished as failed", failed->size());
    PublishFailedInBulk(*failed);
    Wake();  // their projects can build again
  }
}

void BuildService::Impl::PublishFailedInBulk(const std::vector<Build>& failed) {
  for (const Build& build : failed) PublishEnded(build);
}

// A killed server leaves its builds' folders behind. A folder goes once its build has ended (or
// is unknown); a build still running belongs to another instance sharing this workspace.
void BuildService::Impl::RemoveStaleWorkspaces() {
  std::error_code ec;
  std::vector<std::filesystem::path> stale;
  for (const auto& entry : std::filesystem::directory_iterator(options_.workspace, ec)) {
    const std::string name = entry.path().filename().string();
    std::int64_t id = 0;
    const char* digits = name.data() + 6;
    if (!name.starts_with("build-") || name.size() == 6 ||
        std::from_chars(digits, name.data() + name.size(), id).ptr != name.data() + name.size()) {
      continue;  // not ours (the builder's storage lives here too)
    }
    auto build = deps_.builds->Get(id);
    if (build && build->state == BuildState::kRunning) continue;
    if (!build && build.error().code != Errc::kBuildNotFound) continue;  // cannot tell: keep
    stale.push_back(entry.path());
  }
  for (const auto& path : stale) {
    std::filesystem::remove_all(path, ec);
    if (ec) {
      MARKET_LOG_WARN("removing the stale workspace {} failed: {}", path.string(), ec.message());
    } else {
      MARKET_LOG_INFO("removed the stale workspace {}", path.string());
    }
  }
}

void BuildService::Impl::Start() {
  {
    std::lock_guard lock(mu_);
    if (started_) return;
    started_ = true;
  }
  const TimePoint now = deps_.clock->Now();
  // This instance's previous life used these worker ids (whatever its worker count was):
  // whatever it left running is dead.
  auto failed = deps_.builds->FailOwnedBy(options_.worker_prefix, kWorkerRestarted, now);
  if (!failed) {
    MARKET_LOG_WARN("finishing builds of {} failed: {}", options_.worker_prefix,
                    failed.error().message);
  } else if (!failed->empty()) {
    MARKET_LOG_WARN("{} build(s) left running by {} finished as failed", failed->size(),
                    options_.worker_prefix);
    PublishFailedInBulk(*failed);
  }
  FailExpiredNow();  // takes mu_ when it wakes workers: not held here
  RemoveStaleWorkspaces();
  std::lock_guard lock(mu_);
  for (int i = 0; i < options_.workers; ++i) {
    workers_.emplace_back([this, id = WorkerId(i)](std::stop_token stop) { WorkerLoop(stop, id); });
  }
  pruner_.Start();
  MARKET_LOG_INFO("build service started: {} worker(s) as {}", options_.workers,
                  options_.worker_prefix);
}

void BuildService::Impl::Stop() {
  std::vector<std::jthread> workers;
  {
    std::lock_guard lock(mu_);
    workers.swap(workers_);
  }
  // Each worker's stop token also stops the build it runs, which it then records as failed.
  for (auto& w : workers) w.request_stop();
  cv_.notify_all();
  workers.clear();  // joins
  pruner_.Stop();
}

void BuildService::Impl::WorkerLoop(std::stop_token stop, std::string worker) {
  const auto expiry_every = std::max(options_.lease / 2, options_.poll_interval);
  while (!stop.stop_requested()) {
    // Several instances share the queue: any of them finishes the builds of a dead one.
    const auto now_ms =
        std::chrono::duration_cast<milliseconds>(SteadyClock::now().time_since_epoch()).count();
    auto due = next_expiry_check_.load();
    if (now_ms >= due &&
        next_expiry_check_.compare_exchange_strong(due, now_ms + expiry_every.count())) {
      FailExpiredNow();
    }

    std::uint64_t seen;
    {
      std::lock_guard lock(mu_);
      seen = generation_;
    }
    const TimePoint now = deps_.clock->Now();
    auto claimed = deps_.builds->ClaimNext(worker, now, now + options_.lease);
    if (claimed && *claimed) {
      RunBuild(stop, worker, **claimed);
      continue;
    }
    if (!claimed)
      MARKET_LOG_WARN("{}: claiming a build failed: {}", worker, claimed.error().message);
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, stop, options_.poll_interval, [&] { return generation_ != seen; });
  }
}

void BuildService::Impl::Monitor(std::stop_token monitor_stop, const Build& build,
                                 const std::string& worker, BuildLog& log, RunningBuild& running,
                                 std::atomic<bool>& lease_lost) {
  std::mutex m;
  std::condition_variable_any cv;
  const auto heartbeat_every = std::max(options_.lease / 3, milliseconds(100));
  const auto cancel_poll_every =
      std::clamp(options_.poll_interval, milliseconds(100), milliseconds(1000));
  auto next_heartbeat = SteadyClock::now() + heartbeat_every;
  auto next_cancel_poll = SteadyClock::now() + cancel_poll_every;
  const auto deadline = SteadyClock::now() + options_.timeout;
  while (!monitor_stop.stop_requested()) {
    {
      std::unique_lock lock(m);
      cv.wait_for(lock, monitor_stop, kLogFlushInterval, [] { return false; });
    }
    log.Flush();
    const auto now = SteadyClock::now();
    if (options_.timeout.count() > 0 && now >= deadline && !running.timed_out) {
      MARKET_LOG_WARN("build {}: exceeded build-timeout, stopping it", build.id);
      running.timed_out = true;
      running.stop.request_stop();
    }
    if (now >= next_heartbeat) {
      next_heartbeat = now + heartbeat_every;
      const TimePoint t = deps_.clock->Now();
      auto ours = deps_.builds->Heartbeat(build.id, worker, t + options_.lease);
      if (ours && !*ours) {
        // Another instance declared this worker dead and finished the build: stop working.
        MARKET_LOG_WARN("build {}: lease lost, stopping it", build.id);
        lease_lost = true;
        running.stop.request_stop();
      } else if (!ours) {
        MARKET_LOG_WARN("build {}: heartbeat failed: {}", build.id, ours.error().message);
      }
    }
    if (now >= next_cancel_poll && !running.cancel_requested) {
      next_cancel_poll = now + cancel_poll_every;
      auto current = deps_.builds->Get(build.id);
      if (current && (current->cancel_requested || IsFinished(current->state))) {
        running.cancel_requested = current->cancel_requested;
        if (!current->cancel_requested) lease_lost = true;
        running.stop.request_stop();
      }
    }
  }
}

Result<void> BuildService::Impl::ChooseLayerCache(const Build& build, ImageBuildRequest& request,
                                                  BuildLog& log) {
  using LayerCache = ImageBuildRequest::LayerCache;
  request.layer_cache = LayerCache::kOff;
  if (!options_.layer_cache) {
    log.Line("layer cache: off on this server (build-cache)");
    return {};
  }
  auto settings = deps_.builds->GetBuildSettings(build.project);
  if (!settings) {
    return Fail(Errc::kInternal, fmt::format("the project's build settings cannot be read: {}",
                                             settings.error().message));
  }
  if (!settings->layer_cache) {
    log.Line("layer cache: off for this project");
    return {};
  }
  if (!options_.cache_project.empty()) {
    if (auto ok = deps_.registry->EnsureProject(options_.cache_project); !ok) {
      return Fail(Errc::kInternal,
                  "the build cache's registry project cannot be prepared: " + ok.error().message);
    }
  }
  request.layer_cache = build.no_cache ? LayerCache::kRefresh : LayerCache::kUse;
  request.cache_repository =
      deps_.registry->PushHost() + "/" +
      CacheRepositoryOf(ClusterOf(build.image), build.project, options_.cache_project);
  log.Line(build.no_cache ? "layer cache: noCache, every step runs again and refreshes the cache"
                          : "layer cache: steps cached here or in the registry are reused");
  return {};
}

Result<ImageBuildOutcome> BuildService::Impl::Execute(const Build& build,
                                                      const std::filesystem::path& workspace,
                                                      BuildLog& log, LogRedactor& redactor,
                                                      std::stop_token stop, StepTimer& timer) {
  LogLineFn line = [&log](std::string_view text) { log.Line(text); };
  auto project = deps_.projects->Get(build.project);
  if (!project) {
    return Fail(Errc::kInternal, fmt::format("project {} cannot be read: {}", build.project,
                                             project.error().message));
  }
  auto rendered = deps_.plugins->Render(project->define_type, project->pipeline);
  if (!rendered) {
    return Fail(Errc::kInternal, "the pipeline does not render: " + rendered.error().message);
  }
  PinTriggeredSources(build.trigger, *rendered, line);
  for (const auto& s : rendered->sources) redactor.Add(s.password, s.username);
  if (rendered->dockerfile_source) {
    redactor.Add(rendered->dockerfile_source->password, rendered->dockerfile_source->username);
  }

  std::error_code ec;
  std::filesystem::remove_all(workspace, ec);
  std::filesystem::path context = workspace / "context";
  std::filesystem::create_directories(context, ec);
  if (ec) {
    return Fail(Errc::kInternal, fmt::format("cannot create the workspace {}: {}",
                                             workspace.string(), ec.message()));
  }

  std::filesystem::path dockerfile;
  if (project->define_type == DockerfileType::kDownload) {
    if (!rendered->dockerfile_source) {
      return Fail(Errc::kInternal, "the pipeline names no Dockerfile source");
    }
    // The repository holding the Dockerfile is the build context, as `docker build <repo>`.
    const SourceSpec& src = *rendered->dockerfile_source;
    if (!src.checkout_as.empty()) {
      MARKET_ASSIGN_OR_RETURN(auto rel, ContextPath("checkoutAs", src.checkout_as));
      MARKET_RETURN_IF_ERROR(PrepareCheckout(context, rel));
      context /= rel;
    }
    MARKET_ASSIGN_OR_RETURN(auto limits, ContextLeft(workspace / "context"));
    if (auto ok = deps_.checkout->Checkout(src, context, limits, line, stop); !ok) {
      return Fail(Errc::kInternal, "checking out the Dockerfile source failed: " +
                                       redactor.Redact(ok.error().message));
    }
    auto rel =
        ContextPath("dockerfile path",
                    rendered->dockerfile_path.empty() ? "Dockerfile" : rendered->dockerfile_path);
    if (!rel) return std::unexpected(rel.error());
    dockerfile = context / *rel;
    // The repository decides what is there: a link could make buildah read any file of the
    // host as the Dockerfile (and show it in the log).
    if (auto ok = source::CheckRegularFile(context, rel->string()); !ok) {
      return Fail(ok.error().code, fmt::format("the Dockerfile {} of the checkout: {}",
                                               rel->string(), ok.error().message));
    }
  } else {
    // Outside the context, so a source checked out as "Dockerfile" cannot replace it.
    dockerfile = workspace / "Dockerfile";
    std::ofstream out(dockerfile, std::ios::binary);
    out << rendered->text;
    out.close();
    if (!out) return Fail(Errc::kInternal, "cannot write the Dockerfile");
    log.Line("Dockerfile:");
    std::size_t start = 0;
    while (start < rendered->text.size()) {
      auto end = rendered->text.find('\n', start);
      if (end == std::string::npos) end = rendered->text.size();
      log.Line("  " + rendered->text.substr(start, end - start));
      start = end + 1;
    }
  }

  for (const auto& src : rendered->sources) {
    MARKET_ASSIGN_OR_RETURN(auto rel, ContextPath("checkoutAs", src.checkout_as));
    MARKET_RETURN_IF_ERROR(PrepareCheckout(context, rel));
    MARKET_ASSIGN_OR_RETURN(auto limits, ContextLeft(context));
    if (auto ok = deps_.checkout->Checkout(src, context / rel, limits, line, stop); !ok) {
      return Fail(Errc::kInternal, fmt::format("checking out {} failed: {}", rel.string(),
                                               redactor.Redact(ok.error().message)));
    }
  }
  if (stop.stop_requested()) return Fail(Errc::kInternal, "cancelled");
  timer.Mark("workspace");

  if (auto ok = deps_.registry->EnsureProject(ClusterOf(build.image)); !ok) {
    return Fail(Errc::kInternal, "the registry project cannot be prepared: " + ok.error().message);
  }
  ImageBuildRequest request;
  request.context_dir = context;
  request.dockerfile = dockerfile;
  request.image = build.image;
  const std::string repository_ref = build.image.substr(0, build.image.rfind(':'));
  for (const std::string& extra : build.extra_tags) {
    request.extra_images.push_back(repository_ref + ":" + extra);
  }
  request.registry_host = deps_.registry->PushHost();
  request.credentials = deps_.registry->Credentials();
  request.tls_verify = deps_.registry->TlsVerify();
  MARKET_RETURN_IF_ERROR(ChooseLayerCache(build, request, log));
  // A protected tag pushed by someone else since the build was queued is not pushed over.
  if (auto ok = CheckProtectedTags(RepositoryOf(build.image), build.tag, build.extra_tags); !ok) {
    return Fail(Errc::kInternal, ok.error().message);
  }
  std::string dockerfile_text;
  if (project->define_type == DockerfileType::kDownload) {
    std::ifstream in(dockerfile, std::ios::binary);
    dockerfile_text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  } else {
    dockerfile_text = rendered->text;
  }
  std::vector<BaseImage> bases = ResolveBaseImages(dockerfile_text, log);
  for (const BaseImage& base : bases) {
    if (base.digest.empty()) request.base_images.push_back(base.image);
  }
  timer.Mark("registry checks");
  auto outcome = deps_.builder->BuildAndPush(request, line, stop);
  timer.Mark("builder");
  if (outcome) {
    for (BaseImage& base : bases) {
      if (auto it = outcome->base_digests.find(base.image);
          base.digest.empty() && it != outcome->base_digests.end()) {
        base.digest = it->second;
      }
    }
  }
  for (const BaseImage& base : bases) {
    log.Line(fmt::format("base image {} {}", base.image,
                         base.digest.empty() ? "(digest unknown)" : base.digest));
  }
  if (auto recorded = deps_.builds->RecordBaseImages(build.id, bases); !recorded) {
    MARKET_LOG_WARN("build {}: recording its base images failed: {}", build.id,
                    recorded.error().message);
  }
  timer.Mark("base images recorded");
  if (!outcome) return outcome;
  // The size users see in the registry is that of the pushed, compressed blobs.
  if (auto manifest = deps_.registry->GetManifest(RepositoryOf(build.image), outcome->digest)) {
    if (auto size = ManifestSize(manifest->manifest_json)) outcome->size = *size;
  } else {
    MARKET_LOG_WARN("build {}: reading the pushed manifest failed: {}", build.id,
                    manifest.error().message);
  }
  timer.Mark("manifest read");
  return outcome;
}

std::vector<BaseImage> BuildService::Impl::ResolveBaseImages(std::string_view dockerfile,
                                                             BuildLog& log) {
  std::vector<BaseImage> bases;
  const std::string host = deps_.registry->PushHost();
  for (std::string& image : BaseImageReferences(dockerfile)) {
    BaseImage base{std::move(image), ""};
    if (auto ref = ParseImageReference(base.image)) {
      if (!ref->digest.empty()) {
        base.digest = ref->digest;
      } else if (ref->registry == host) {
        if (auto manifest = deps_.registry->GetManifest(ref->repository, ref->tag)) {
          base.digest = manifest->digest;
        } else {
          log.Line(fmt::format("base image {}: the registry's manifest cannot be read: {}",
                               base.image, manifest.error().message));
        }
      }
    }
    bases.push_back(std::move(base));
  }
  return bases;
}

void BuildService::Impl::RunBuild(std::stop_token worker_stop, const std::string& worker,
                                  const Build& build) {
  RunningBuild running;
  std::stop_callback stop_on_shutdown(worker_stop, [&running] { running.stop.request_stop(); });
  {
    std::lock_guard lock(mu_);
    running_[build.id] = &running;
  }
  const auto started = SteadyClock::now();
  StepTimer timer;
  LogRedactor redactor;
  if (deps_.registry != nullptr) {
    redactor.Add(deps_.registry->Credentials().password, deps_.registry->Credentials().username);
  }
  BuildLog log(deps_.builds, build.id, &redactor, options_.max_log_bytes);
  std::atomic<bool> lease_lost{false};
  const std::filesystem::path workspace = options_.workspace / fmt::format("build-{}", build.id);
  MARKET_LOG_INFO("build {} of {} started by {}", build.id, build.project, worker);
  AfterQueuedPublished();
  PublishBuild(EventType::kBuildStarted, build, build.started_at.value_or(deps_.clock->Now()));
  log.Line(fmt::format("build {} of {} -> {} (worker {})", build.id, build.project, build.image,
                       worker));
  timer.Mark("started");

  Result<ImageBuildOutcome> outcome;
  {
    std::jthread monitor(
        [&](std::stop_token st) { Monitor(st, build, worker, log, running, lease_lost); });
    outcome = Execute(build, workspace, log, redactor, running.stop.get_token(), timer);
  }  // the monitor stops here

  BuildResult result;
  if (outcome) {
    result.state = BuildState::kSucceeded;
    result.digest = outcome->digest;
    result.size = outcome->size;
  } else if (running.cancel_requested) {
    result.state = BuildState::kCancelled;
    auto current = deps_.builds->Get(build.id);
    result.reason = current && !current->reason.empty() ? current->reason : "cancelled";
  } else if (running.timed_out) {
    result.state = BuildState::kFailed;
    result.reason = fmt::format("build exceeded build-timeout of {} s", options_.timeout.count());
  } else if (worker_stop.stop_requested()) {
    result.state = BuildState::kFailed;
    result.reason = kServerStopping;
  } else {
    result.state = BuildState::kFailed;
    result.reason = redactor.Redact(outcome.error().message);
  }
  const double seconds = std::chrono::duration<double>(SteadyClock::now() - started).count();
  if (result.state == BuildState::kSucceeded) {
    log.Line(fmt::format("build succeeded in {:.1f} s: {}@{} ({} bytes)", seconds, build.image,
                         result.digest, result.size));
  } else {
    log.Line(
        fmt::format("build {} after {:.1f} s: {}", ToString(result.state), seconds, result.reason));
  }
  timer.Mark("monitor stopped");
  log.Flush();
  timer.Mark("log flushed");

  std::error_code ec;
  std::filesystem::remove_all(workspace, ec);
  if (ec)
    MARKET_LOG_WARN("build {}: removing {} failed: {}", build.id, workspace.string(), ec.message());
  timer.Mark("workspace removed");

  if (lease_lost) {
    MARKET_LOG_WARN("build {}: finished elsewhere while running here", build.id);
  }
  auto finished = deps_.builds->Finish(build.id, result, deps_.clock->Now());
  if (!finished) {
    MARKET_LOG_WARN("build {}: recording the result failed: {}", build.id,
                    finished.error().message);
  } else {
    MARKET_LOG_INFO("build {} of {} {} in {:.1f} s", build.id, build.project,
                    ToString(finished->state), seconds);
    timer.Mark("finished");
    PublishEnded(*finished);
    timer.Mark("published");
  }
  // Where the build's time went, step by step; the queue wait is the store's times.
  MARKET_LOG_DEBUG("build {} steps: {}; queued {} ms before its start; log {}", build.id,
                   timer.Summary(),
                   build.started_at ? (*build.started_at - build.queued_at).count() : -1,
                   log.WriteCost());
  {
    std::lock_guard lock(mu_);
    running_.erase(build.id);
  }
  Wake();  // the project may have more queued builds
}

void BuildService::Impl::PublishBuild(EventType type, const Build& build, TimePoint at) {
  PublishEvent(deps_.events,
               [&] { return Event::ForBuild(type, build, RepositoryOf(build.image), at); });
}

void BuildService::Impl::PublishEnded(const Build& build) {
  const TimePoint at = build.finished_at.value_or(deps_.clock->Now());
  switch (build.state) {
    case BuildState::kSucceeded:
      PublishBuild(EventType::kBuildSucceeded, build, at);
      for (std::size_t i = 0; i <= build.extra_tags.size(); ++i) {
        const std::string& tag = i == 0 ? build.tag : build.extra_tags[i - 1];
        PublishEvent(deps_.events, [&] {
          Event pushed = Event::ForTag(EventType::kTagPushed, RepositoryOf(build.image), tag,
                                       build.digest, build.operator_name, at);
          pushed.project = build.project;
          return pushed;
        });
      }
      break;
    case BuildState::kFailed:
      PublishBuild(EventType::kBuildFailed, build, at);
      break;
    case BuildState::kCancelled:
      PublishBuild(EventType::kBuildCancelled, build, at);
      break;
    case BuildState::kQueued:
    case BuildState::kRunning:
      break;  // not ended
  }
}

// --- BuildService ---

BuildService::BuildService(BuildDependencies deps, BuildServiceOptions options)
    : impl_(std::make_unique<Impl>(deps, std::move(options))) {}
BuildService::~BuildService() = default;

Result<Build> BuildService::Enqueue(std::string_view project, std::string_view tag,
                                    std::string_view operator_name, Role role,
                                    const ChangeOrigin& origin) {
  BuildRequest request;
  request.project = std::string(project);
  request.tag = std::string(tag);
  request.operator_name = std::string(operator_name);
  request.role = role;
  request.origin = origin;
  return impl_->Enqueue(request);
}

Result<Build> BuildService::Enqueue(const BuildRequest& request) { return impl_->Enqueue(request); }
Result<ProjectBuildSettings> BuildService::Settings(std::string_view project) {
  return impl_->Settings(project);
}
Result<ProjectBuildSettings> BuildService::SetLayerCache(std::string_view project,
                                                         bool layer_cache,
                                                         std::string_view operator_name,
                                                         const ChangeOrigin& origin) {
  return impl_->SetLayerCache(project, layer_cache, operator_name, origin);
}
Result<Build> BuildService::Cancel(std::int64_t id, std::string_view operator_name,
                                   const ChangeOrigin& origin) {
  return impl_->Cancel(id, operator_name, origin);
}
Result<BuildSummary> BuildService::Summary(const BuildHistoryRequest& request) {
  return impl_->Summary(request);
}
Result<BuildListing> BuildService::List(const BuildListRequest& request) {
  return impl_->List(request);
}
Result<Build> BuildService::Get(std::int64_t id) { return impl_->Get(id); }
Result<BuildPage> BuildService::History(std::string_view project, int page, int page_size) {
  return impl_->History(project, page, page_size);
}
Result<LogChunk> BuildService::ReadLog(std::int64_t id, std::int64_t offset,
                                       std::int64_t max_bytes) {
  return impl_->ReadLog(id, offset, max_bytes);
}
void BuildService::Start() { impl_->Start(); }
void BuildService::Stop() { impl_->Stop(); }

}  // namespace market
