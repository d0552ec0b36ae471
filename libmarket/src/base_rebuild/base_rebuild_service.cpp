#include "market/base_rebuild_service.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <stop_token>
#include <thread>

#include "log.hpp"
#include "market/base_images.hpp"
#include "market/validation.hpp"

namespace market {

namespace {

constexpr std::string_view kKind = "base-image";

nlohmann::json SettingJson(const BaseRebuildSetting& setting) {
  return {{"project", setting.project}, {"rebuildOnBaseChange", setting.enabled}};
}

// Failures of Enqueue that may pass: the claim is released so that a later poll retries.
bool Passing(Errc code) {
  return code == Errc::kTooManyRequests || code == Errc::kUnavailable || code == Errc::kInternal ||
         code == Errc::kUpstreamFailed || code == Errc::kUpstreamTimeout;
}

}  // namespace

class BaseRebuildService::Impl {
 public:
  Impl(BaseRebuildDependencies deps, BaseRebuildOptions options)
      : deps_(deps), options_(options), audit_(deps.audit, *deps.clock) {}

  Result<BaseRebuildStatus> Get(std::string_view project) {
    MARKET_ASSIGN_OR_RETURN(auto name, NormalizeProjectName("projectName", project));
    BaseRebuildStatus status;
    MARKET_ASSIGN_OR_RETURN(status.setting, deps_.store->GetSetting(name));
    MARKET_ASSIGN_OR_RETURN(status.latest, LatestSucceeded(name));
    MARKET_ASSIGN_OR_RETURN(status.rebuilds, deps_.store->Claims(name, kRebuildsShown));
    return status;
  }

  Result<BaseRebuildSetting> Set(const BaseRebuildRequest& request, const ChangeOrigin& origin) {
    MARKET_ASSIGN_OR_RETURN(auto name, NormalizeProjectName("projectName", request.project));
    if (!request.enabled) return Fail(Errc::kInvalid, "enabled is required");
    const bool enabled = *request.enabled;
    MARKET_ASSIGN_OR_RETURN(auto op, ValidateOperator("operator", request.operator_name));
    MARKET_ASSIGN_OR_RETURN(auto before, deps_.store->GetSetting(name));
    MARKET_ASSIGN_OR_RETURN(auto after,
                            deps_.store->SetSetting(name, enabled, op, deps_.clock->Now()));
    audit_.Record(op, origin, "project.baseRebuild", "project:" + name, SettingJson(before),
                  SettingJson(after));
    MARKET_LOG_INFO("project {}: rebuild on base change {} by {}", name, enabled ? "on" : "off",
                    op);
    return after;
  }

  void Publish(const Event& event) {
    if (event.type != EventType::kBuildSucceeded || !event.build) return;
    {
      std::lock_guard lock(mu_);
      pending_.push_back(*event.build);
    }
    cv_.notify_all();
  }

  int ProcessPending() {
    int queued = 0;
    while (true) {
      Build built;
      {
        std::lock_guard lock(mu_);
        if (pending_.empty()) return queued;
        built = std::move(pending_.front());
        pending_.pop_front();
      }
      auto n = OnBaseBuilt(built);
      if (n) {
        queued += *n;
      } else {
        MARKET_LOG_WARN("base-image rebuilds after build {} of {}: {}", built.id, built.project,
                        n.error().message);
      }
    }
  }

  // A successful build pushed its image under its tag and extra tags: the opted-in projects
  // whose latest successful build used one of them at another digest are rebuilt.
  Result<int> OnBaseBuilt(const Build& built) {
    if (built.digest.empty()) return 0;
    std::set<std::string> pushed;
    const std::string repository = built.image.substr(0, built.image.rfind(':'));
    for (const std::string& tag : Tags(built)) {
      if (auto ref = ParseImageReference(repository + ":" + tag)) pushed.insert(ref->Canonical());
    }
    MARKET_ASSIGN_OR_RETURN(auto enabled, deps_.store->Enabled());
    int queued = 0;
    for (const BaseRebuildSetting& setting : enabled) {
      MARKET_ASSIGN_OR_RETURN(auto latest, LatestSucceeded(setting.project));
      if (!latest) continue;
      for (const BaseImage& base : latest->base_images) {
        auto ref = ParseImageReference(base.image);
        if (!ref || !pushed.contains(ref->Canonical()) || base.digest == built.digest) continue;
        if (Consider(setting, *latest, base, built.digest, built)) ++queued;
        break;  // one rebuild per project and event
      }
    }
    return queued;
  }

  Result<int> Poll() {
    if (deps_.registry == nullptr) return 0;
    const std::string host = deps_.registry->PushHost();
    MARKET_ASSIGN_OR_RETURN(auto enabled, deps_.store->Enabled());
    std::map<std::string, std::string> digests;  // canonical reference -> digest now ("": unknown)
    int queued = 0;
    for (const BaseRebuildSetting& setting : enabled) {
      MARKET_ASSIGN_OR_RETURN(auto latest, LatestSucceeded(setting.project));
      if (!latest) continue;
      for (const BaseImage& base : latest->base_images) {
        auto ref = ParseImageReference(base.image);
        // A pinned reference never changes; an unresolved one has nothing to compare with.
        if (!ref || ref->registry != host || ref->tag.empty() || !ref->digest.empty() ||
            base.digest.empty()) {
          continue;
        }
        const std::string key = ref->Canonical();
        auto found = digests.find(key);
        if (found == digests.end()) {
          auto manifest = deps_.registry->GetManifest(ref->repository, ref->tag);
          if (!manifest) {
            MARKET_LOG_WARN("base image {} of {}: the registry's manifest cannot be read: {}",
                            base.image, setting.project, manifest.error().message);
          }
          found = digests.emplace(key, manifest ? manifest->digest : "").first;
        }
        if (found->second.empty() || found->second == base.digest) continue;
        PolledCause cause = CauseOf(*ref, found->second);
        if (cause.defer) continue;
        if (Consider(setting, *latest, base, found->second, cause.build)) ++queued;
        break;  // one rebuild per project and pass
      }
    }
    return queued;
  }

  void Start() {
    std::lock_guard lock(thread_mu_);
    if (thread_.joinable()) return;
    thread_ = std::jthread([this](std::stop_token stop) { Loop(stop); });
  }

  void Stop() {
    std::lock_guard lock(thread_mu_);
    if (!thread_.joinable()) return;
    thread_.request_stop();
    cv_.notify_all();
    thread_.join();
    thread_ = {};
  }

  BaseRebuildCounters Counters() const {
    return {queued_.load(), debounced_.load(), loops_.load(),
            capped_.load(), refused_.load(),   busy_.load()};
  }

 private:
  static std::vector<std::string> Tags(const Build& build) {
    std::vector<std::string> tags{build.tag};
    tags.insert(tags.end(), build.extra_tags.begin(), build.extra_tags.end());
    return tags;
  }

  Result<std::optional<Build>> LatestSucceeded(const std::string& project) {
    BuildFilter filter;
    filter.states = {BuildState::kSucceeded};
    filter.project = project;
    filter.limit = 1;
    MARKET_ASSIGN_OR_RETURN(auto builds, deps_.build_store->List(filter));
    if (builds.empty()) return std::optional<Build>();
    return std::optional<Build>(std::move(builds.front()));
  }

  // Where a base found changed by polling came from. When `ref` is the image of a project of
  // this service: the build that pushed `digest` (the loop guard follows the chain from it), or
  // `defer` while a build of that project is queued or running (it may be pushing `digest`
  // now, and its own event decides, naming itself as the cause).
  struct PolledCause {
    std::optional<Build> build;
    bool defer = false;
  };
  PolledCause CauseOf(const ImageReference& ref, const std::string& digest) {
    const std::string project = ref.repository.substr(ref.repository.rfind('/') + 1);
    auto same_image = [&](const Build& build) {
      auto pushed = ParseImageReference(build.image);
      return pushed && pushed->registry == ref.registry && pushed->repository == ref.repository;
    };
    BuildFilter active;
    active.states = {BuildState::kQueued, BuildState::kRunning};
    active.project = project;
    active.limit = 1;
    if (auto busy = deps_.build_store->List(active);
        busy && !busy->empty() && same_image(busy->front())) {
      return {std::nullopt, true};
    }
    auto latest = LatestSucceeded(project);
    if (!latest || !*latest || (*latest)->digest != digest || !same_image(**latest)) return {};
    return {*latest, false};
  }

  // Empty when `project` may be rebuilt because of `cause`; else why not. The chain is the
  // causing build, the build that caused it, and so on.
  std::string LoopThrough(const std::string& project, const std::optional<Build>& cause) {
    std::optional<Build> link = cause;
    std::vector<std::string> chain;
    for (int depth = 0; link; ++depth) {
      chain.push_back(fmt::format("{} (build {})", link->project, link->id));
      if (link->project == project) {
        return fmt::format("it is in the chain of causing builds: {}", fmt::join(chain, " <- "));
      }
      if (depth >= options_.max_chain_depth) {
        return fmt::format("the chain of causing builds is longer than {}",
                           options_.max_chain_depth);
      }
      if (link->trigger.kind != kKind || link->trigger.cause_build_id == 0) break;
      auto next = deps_.build_store->Get(link->trigger.cause_build_id);
      if (!next) break;  // a deleted project's builds end the chain
      link = std::move(*next);
    }
    return {};
  }

  // Queues one rebuild of `setting.project` for `base` now at `new_digest`; true when queued.
  bool Consider(const BaseRebuildSetting& setting, const Build& latest, const BaseImage& base,
                const std::string& new_digest, const std::optional<Build>& cause) {
    const std::string& project = setting.project;
    // A queued build resolves its bases when it starts, after this change: it is the rebuild.
    // A running one may have resolved the old digest: nothing is claimed, so the next event or
    // poll compares again with what that build recorded.
    BuildFilter active;
    active.states = {BuildState::kQueued, BuildState::kRunning};
    active.project = project;
    active.limit = 1;
    auto busy = deps_.build_store->List(active);
    if (!busy) {
      MARKET_LOG_WARN("base image {} of {}: {}", base.image, project, busy.error().message);
      return false;
    }
    if (!busy->empty()) {
      ++busy_;
      MARKET_LOG_INFO("base image {} of {} changed ({} -> {}); build {} is {}: no rebuild queued",
                      base.image, project, base.digest, new_digest, busy->front().id,
                      ToString(busy->front().state));
      return false;
    }

    BaseRebuildClaim claim;
    claim.project = project;
    claim.base_image = base.image;
    claim.old_digest = base.digest;
    claim.new_digest = new_digest;
    claim.cause_build_id = cause ? cause->id : 0;
    claim.created_at = deps_.clock->Now();

    if (std::string loop = LoopThrough(project, cause); !loop.empty()) {
      // Claimed as refused, so the poll does not refuse (and log) the same change again.
      auto claimed = deps_.store->Claim(claim);
      if (claimed && *claimed) {
        ++loops_;
        MARKET_LOG_WARN("base image {} of {} changed ({} -> {}): no rebuild, {}", base.image,
                        project, base.digest, new_digest, loop);
        (void)deps_.store->SetOutcome(claim.id, 0, "refused: " + loop);
      }
      return false;
    }

    if (options_.per_hour > 0) {
      auto count = deps_.store->CountQueuedSince(deps_.clock->Now() - std::chrono::hours(1));
      if (!count) {
        MARKET_LOG_WARN("base-image rebuilds: counting the last hour's failed: {}",
                        count.error().message);
        return false;
      }
      if (*count >= options_.per_hour) {
        ++capped_;
        MARKET_LOG_WARN(
            "base image {} of {} changed ({} -> {}): no rebuild, {} base-image builds were queued "
            "in the last hour (base-image-rebuilds-per-hour); a later poll retries",
            base.image, project, base.digest, new_digest, *count);
        return false;
      }
    }

    auto claimed = deps_.store->Claim(claim);
    if (!claimed) {
      MARKET_LOG_WARN("base image {} of {}: {}", base.image, project, claimed.error().message);
      return false;
    }
    if (!*claimed) {
      ++debounced_;
      return false;
    }

    BuildRequest request;
    request.project = project;
    request.tag = latest.tag;
    request.extra_tags = latest.extra_tags;
    request.operator_name = setting.operator_name;
    request.role = Role::kDeveloper;
    request.trigger.kind = std::string(kKind);
    request.trigger.base_image = base.image;
    request.trigger.old_digest = base.digest;
    request.trigger.new_digest = new_digest;
    request.trigger.cause_build_id = claim.cause_build_id;
    auto build = deps_.builds->Enqueue(request);
    if (!build) {
      ++refused_;
      MARKET_LOG_WARN("base image {} of {} changed ({} -> {}): the rebuild was refused: {}",
                      base.image, project, base.digest, new_digest, build.error().message);
      if (Passing(build.error().code)) {
        (void)deps_.store->Release(claim.id);
      } else {
        (void)deps_.store->SetOutcome(claim.id, 0, "refused: " + build.error().message);
      }
      return false;
    }
    ++queued_;
    (void)deps_.store->SetOutcome(claim.id, build->id, "queued");
    MARKET_LOG_INFO("base image {} of {} changed ({} -> {}): build {} queued", base.image, project,
                    base.digest, new_digest, build->id);
    return true;
  }

  void Loop(std::stop_token stop) {
    std::mt19937_64 random{std::random_device{}()};
    std::uniform_real_distribution<double> spread(0.8, 1.2);
    auto next_poll = [&] {
      return std::chrono::steady_clock::now() +
             std::chrono::duration_cast<std::chrono::milliseconds>(options_.poll_interval *
                                                                   spread(random));
    };
    auto poll_at = next_poll();
    while (!stop.stop_requested()) {
      ProcessPending();
      if (options_.poll_interval.count() > 0 && std::chrono::steady_clock::now() >= poll_at) {
        if (auto polled = Poll(); !polled) {
          MARKET_LOG_WARN("base-image poll failed: {}", polled.error().message);
        }
        poll_at = next_poll();
      }
      std::unique_lock lock(mu_);
      auto ready = [&] { return !pending_.empty(); };
      if (options_.poll_interval.count() > 0) {
        cv_.wait_until(lock, stop, poll_at, ready);
      } else {
        cv_.wait(lock, stop, ready);
      }
    }
  }

  BaseRebuildDependencies deps_;
  BaseRebuildOptions options_;
  AuditTrail audit_;

  std::mutex mu_;
  std::condition_variable_any cv_;
  std::deque<Build> pending_;

  std::mutex thread_mu_;
  std::jthread thread_;

  std::atomic<std::int64_t> queued_{0}, debounced_{0}, loops_{0}, capped_{0}, refused_{0}, busy_{0};
};

BaseRebuildService::BaseRebuildService(BaseRebuildDependencies deps, BaseRebuildOptions options)
    : impl_(std::make_unique<Impl>(deps, options)) {}
BaseRebuildService::~BaseRebuildService() { impl_->Stop(); }

Result<BaseRebuildStatus> BaseRebuildService::Get(std::string_view project) {
  return impl_->Get(project);
}
Result<BaseRebuildSetting> BaseRebuildService::Set(const BaseRebuildRequest& request,
                                                   const ChangeOrigin& origin) {
  return impl_->Set(request, origin);
}
void BaseRebuildService::Publish(const Event& event) {
  try {
    impl_->Publish(event);
  } catch (const std::exception& e) {
    MARKET_LOG_ERROR("base-image rebuilds: an event was not kept: {}", e.what());
  }
}
int BaseRebuildService::ProcessPending() { return impl_->ProcessPending(); }
Result<int> BaseRebuildService::Poll() { return impl_->Poll(); }
void BaseRebuildService::Start() { impl_->Start(); }
void BaseRebuildService::Stop() { impl_->Stop(); }
BaseRebuildCounters BaseRebuildService::Counters() const { return impl_->Counters(); }

}  // namespace market
