// RetentionService: rule sets as requests give them, the worker that queues scheduled runs and
// executes queued ones, and a run's walk over a registry project's repositories.

#include "market/retention_service.hpp"

#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <stop_token>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "anchored_regex.hpp"
#include "glob.hpp"
#include "log.hpp"
#include "market/json_bounded.hpp"
#include "market/retention_schedule.hpp"
#include "market/validation.hpp"

namespace market {

namespace {

using nlohmann::json;

constexpr std::size_t kMaxRules = 16;
constexpr std::size_t kMaxGlobLength = 256;
constexpr int kMaxKeepLatest = 100000;
constexpr int kMaxKeepDays = 36500;
constexpr int kRegistryPageSize = 100;
constexpr int kMaxRegistryPages = 10000;
constexpr int kBuildPageSize = 100;
constexpr int kMaxBuildPages = 1000;  // the newest 100000 succeeded builds

std::string DefaultWorkerPrefix() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return fmt::format("{}:{}", host, ::getpid());
}

bool Printable(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](unsigned char c) { return c > 0x20 && c < 0x7f; });
}

Result<int> Bounded(const json& value, const std::string& field, int max) {
  if (!value.is_number_integer()) {
    return Fail(Errc::kInvalid, fmt::format("{} must be a whole number", field));
  }
  const auto n = value.get<std::int64_t>();
  if (n < 0 || n > max) {
    return Fail(Errc::kInvalid, fmt::format("{} must be from 0 to {}", field, max));
  }
  return static_cast<int>(n);
}

Result<std::string> Pattern(const json& value, const std::string& field) {
  if (!value.is_string()) return Fail(Errc::kInvalid, field + " must be a string");
  std::string text = value.get<std::string>();
  if (!text.empty()) MARKET_RETURN_IF_ERROR(CompileAnchoredRegex(field, text));
  return text;
}

// The rules field: a JSON array of 1..16 rule objects with only the known keys.
Result<std::vector<RetentionRule>> ParseRules(std::string_view text) {
  MARKET_ASSIGN_OR_RETURN(auto parsed, ParseJsonBounded(text, "rules"));
  if (!parsed || !parsed->is_array()) {
    return Fail(Errc::kInvalid, "rules must be a JSON array of rule objects");
  }
  if (parsed->empty() || parsed->size() > kMaxRules) {
    return Fail(Errc::kInvalid, fmt::format("rules must hold 1 to {} rules", kMaxRules));
  }
  std::vector<RetentionRule> rules;
  for (std::size_t i = 0; i < parsed->size(); ++i) {
    const json& item = (*parsed)[i];
    const std::string at = fmt::format("rules[{}]", i);
    if (!item.is_object()) return Fail(Errc::kInvalid, at + " must be an object");
    RetentionRule rule;
    for (const auto& [key, value] : item.items()) {
      const std::string field = at + "." + key;
      if (key == "repositories") {
        if (!value.is_string() || value.get<std::string>().size() > kMaxGlobLength ||
            !Printable(value.get<std::string>())) {
          return Fail(Errc::kInvalid,
                      fmt::format("{} must be a glob of at most {} printable characters without "
                                  "spaces",
                                  field, kMaxGlobLength));
        }
        rule.repositories = value.get<std::string>();
      } else if (key == "include") {
        MARKET_ASSIGN_OR_RETURN(rule.include, Pattern(value, field));
      } else if (key == "exclude") {
        MARKET_ASSIGN_OR_RETURN(rule.exclude, Pattern(value, field));
      } else if (key == "keepLatest") {
        MARKET_ASSIGN_OR_RETURN(rule.keep_latest, Bounded(value, field, kMaxKeepLatest));
      } else if (key == "keepDays") {
        MARKET_ASSIGN_OR_RETURN(rule.keep_days, Bounded(value, field, kMaxKeepDays));
      } else {
        return Fail(Errc::kInvalid,
                    fmt::format("{} is not a rule field (repositories, include, exclude, "
                                "keepLatest, keepDays)",
                                field.substr(0, 100)));
      }
    }
    rules.push_back(std::move(rule));
  }
  return rules;
}

json AuditJson(const RetentionRuleSet& set) {
  json rules = json::array();
  for (const auto& rule : set.rules) {
    rules.push_back({{"repositories", rule.repositories},
                     {"include", rule.include},
                     {"exclude", rule.exclude},
                     {"keepLatest", rule.keep_latest},
                     {"keepDays", rule.keep_days}});
  }
  return {{"id", set.id},           {"cluster", set.cluster},   {"name", set.name},
          {"enabled", set.enabled}, {"schedule", set.schedule}, {"rules", rules}};
}

// The blobs a manifest references, digest -> size; empty for an index or an unreadable one.
std::map<std::string, std::int64_t> Blobs(const RegistryManifest& manifest) {
  std::map<std::string, std::int64_t> blobs;
  const json doc = json::parse(manifest.manifest_json, nullptr, false);
  if (!doc.is_object()) return blobs;
  const auto add = [&](const json& descriptor) {
    if (descriptor.is_object() && descriptor.contains("digest") &&
        descriptor["digest"].is_string() && descriptor.contains("size") &&
        descriptor["size"].is_number_integer()) {
      blobs[descriptor["digest"].get<std::string>()] = descriptor["size"].get<std::int64_t>();
    }
  };
  if (doc.contains("config")) add(doc["config"]);
  if (doc.contains("layers") && doc["layers"].is_array()) {
    for (const auto& layer : doc["layers"]) add(layer);
  }
  return blobs;
}

// Where each tag was pushed by Image Market's builds, and each project's latest success.
struct BuildRecords {
  // repository -> tag -> when the newest succeeded build pushed it
  std::map<std::string, std::map<std::string, TimePoint>, std::less<>> pushed;
  // repository -> tag -> why it is protected ("latest successful build 7 of project web")
  std::map<std::string, std::map<std::string, std::string>, std::less<>> latest;
};

}  // namespace

std::string_view ToString(RetentionRunState state) {
  switch (state) {
    case RetentionRunState::kQueued: return "queued";
    case RetentionRunState::kRunning: return "running";
    case RetentionRunState::kSucceeded: return "succeeded";
    case RetentionRunState::kFailed: return "failed";
  }
  return "failed";
}

std::optional<RetentionRunState> ParseRetentionRunState(std::string_view text) {
  for (auto state : {RetentionRunState::kQueued, RetentionRunState::kRunning,
                     RetentionRunState::kSucceeded, RetentionRunState::kFailed}) {
    if (ToString(state) == text) return state;
  }
  return std::nullopt;
}

class RetentionService::Impl {
 public:
  Impl(RetentionDependencies deps, RetentionOptions options)
      : deps_(std::move(deps)), options_(std::move(options)), audit_(deps_.audit, *deps_.clock) {
    if (options_.worker_prefix.empty()) options_.worker_prefix = DefaultWorkerPrefix();
    if (!deps_.sleep) {
      deps_.sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
    }
  }

  ~Impl() { Stop(); }

  Result<RetentionRuleSet> Create(const RetentionRuleSetRequest& request,
                                  std::string_view operator_name, const ChangeOrigin& origin) {
    MARKET_ASSIGN_OR_RETURN(auto who, ValidateOperator("operator", operator_name));
    RetentionRuleSet set;
    MARKET_ASSIGN_OR_RETURN(set.cluster,
                            NormalizeClusterName("cluster", request.cluster.value_or("")));
    if (!request.name) return Fail(Errc::kInvalid, "name is required");
    if (!request.rules) return Fail(Errc::kInvalid, "rules is required");
    set.creator = who;
    MARKET_RETURN_IF_ERROR(Apply(request, set));
    MARKET_ASSIGN_OR_RETURN(auto created, deps_.store->CreateRuleSet(set));
    audit_.Record(who, origin, "retention.create", fmt::format("retention:{}", created.id),
                  nullptr, AuditJson(created));
    return created;
  }

  Result<RetentionRuleSet> Update(std::int64_t id, const RetentionRuleSetRequest& request,
                                  std::string_view operator_name, const ChangeOrigin& origin) {
    MARKET_ASSIGN_OR_RETURN(auto who, ValidateOperator("operator", operator_name));
    if (request.cluster) {
      return Fail(Errc::kInvalid, "cluster cannot change; create a rule set in the other one");
    }
    MARKET_ASSIGN_OR_RETURN(RetentionRuleSet before, deps_.store->GetRuleSet(id));
    RetentionRuleSet set = before;
    MARKET_RETURN_IF_ERROR(Apply(request, set));
    MARKET_ASSIGN_OR_RETURN(auto updated, deps_.store->UpdateRuleSet(set));
    audit_.Record(who, origin, "retention.update", fmt::format("retention:{}", id),
                  AuditJson(before), AuditJson(updated));
    return updated;
  }

  Result<void> Delete(std::int64_t id, std::string_view operator_name,
                      const ChangeOrigin& origin) {
    MARKET_ASSIGN_OR_RETURN(auto who, ValidateOperator("operator", operator_name));
    MARKET_ASSIGN_OR_RETURN(RetentionRuleSet before, deps_.store->GetRuleSet(id));
    MARKET_RETURN_IF_ERROR(deps_.store->DeleteRuleSet(id));
    audit_.Record(who, origin, "retention.delete", fmt::format("retention:{}", id),
                  AuditJson(before), nullptr);
    return {};
  }

  Result<RetentionRuleSet> Get(std::int64_t id) { return deps_.store->GetRuleSet(id); }

  Result<std::vector<RetentionRuleSet>> List(std::string_view cluster) {
    if (cluster.empty()) return deps_.store->ListRuleSets("");
    MARKET_ASSIGN_OR_RETURN(auto name, NormalizeClusterName("cluster", cluster));
    return deps_.store->ListRuleSets(name);
  }

  Result<RetentionRun> StartRun(std::int64_t rule_set_id, bool dry_run,
                                std::string_view operator_name, const ChangeOrigin& origin) {
    MARKET_ASSIGN_OR_RETURN(auto who, ValidateOperator("operator", operator_name));
    MARKET_ASSIGN_OR_RETURN(auto run, deps_.store->QueueRun(rule_set_id, dry_run, "manual", who,
                                                           deps_.clock->Now()));
    audit_.Record(who, origin, dry_run ? "retention.dryrun" : "retention.run",
                  fmt::format("retention:{}", rule_set_id), nullptr, {{"run", run.id}});
    cv_.notify_all();
    return run;
  }

  Result<RetentionRun> Run(std::int64_t run_id) { return deps_.store->GetRun(run_id); }

  Result<std::vector<RetentionRun>> Runs(std::int64_t rule_set_id) {
    if (rule_set_id < 0) return Fail(Errc::kInvalid, "ruleSet must be a rule set id");
    return deps_.store->ListRuns(rule_set_id, options_.runs_listed);
  }

  void Start() {
    std::lock_guard lock(mu_);
    if (thread_.joinable()) return;
    thread_ = std::jthread([this](std::stop_token stop) { Loop(stop); });
  }

  void Stop() {
    if (!thread_.joinable()) return;
    thread_.request_stop();
    cv_.notify_all();
    thread_.join();
  }

  Result<bool> Step(std::string_view worker, std::stop_token stop = {}) {
    MARKET_RETURN_IF_ERROR(QueueDueSchedules());
    const TimePoint now = deps_.clock->Now();
    MARKET_ASSIGN_OR_RETURN(auto claimed, deps_.store->ClaimRun(worker, now, now + options_.lease));
    if (!claimed) return false;
    Execute(std::move(*claimed), worker, stop);
    return true;
  }

 private:
  Result<void> Apply(const RetentionRuleSetRequest& request, RetentionRuleSet& set) {
    if (request.name) {
      MARKET_ASSIGN_OR_RETURN(set.name, ValidateObjectName("name", *request.name));
    }
    if (request.enabled) {
      MARKET_ASSIGN_OR_RETURN(set.enabled, ParseFlag("enabled", *request.enabled));
    }
    if (request.rules) {
      MARKET_ASSIGN_OR_RETURN(set.rules, ParseRules(*request.rules));
    }
    if (request.schedule && *request.schedule != set.schedule) {
      set.schedule = *request.schedule;
      set.next_run_at.reset();
      if (!set.schedule.empty()) {
        MARKET_ASSIGN_OR_RETURN(auto schedule, RetentionSchedule::Parse("schedule", set.schedule));
        set.next_run_at = schedule.Next(deps_.clock->Now());
        if (!set.next_run_at) {
          return Fail(Errc::kInvalid, "schedule: the cron fields never match a date");
        }
      }
    }
    return {};
  }

  // Every instance looks; QueueScheduled lets one of them queue each due run.
  Result<void> QueueDueSchedules() {
    const TimePoint now = deps_.clock->Now();
    MARKET_ASSIGN_OR_RETURN(auto sets, deps_.store->ListRuleSets(""));
    for (const auto& set : sets) {
      if (!set.enabled || !set.next_run_at || *set.next_run_at > now) continue;
      auto schedule = RetentionSchedule::Parse("schedule", set.schedule);
      if (!schedule) continue;
      // From now, not from the missed time: a server that was down runs once, not once per
      // missed slot.
      auto next = schedule->Next(now);
      if (!next) continue;
      MARKET_ASSIGN_OR_RETURN(auto queued,
                              deps_.store->QueueScheduled(set.id, *set.next_run_at, *next, now));
      if (queued) {
        MARKET_LOG_INFO("retention: queued scheduled run {} of rule set {}", queued->id, set.id);
      }
    }
    return {};
  }

  void Loop(std::stop_token stop) {
    const std::string worker = options_.worker_prefix + "/retention";
    while (!stop.stop_requested()) {
      auto stepped = Step(worker, stop);
      if (!stepped) MARKET_LOG_WARN("retention worker: {}", stepped.error().message);
      if (stepped && *stepped) continue;
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, stop, options_.poll_interval, [] { return false; });
    }
  }

  Result<BuildRecords> ReadBuildRecords() {
    BuildRecords records;
    if (deps_.builds == nullptr || deps_.registry == nullptr) return records;
    const std::string host = deps_.registry->PushHost() + "/";
    std::set<std::string> projects_seen;
    BuildFilter filter;
    filter.states = {BuildState::kSucceeded};
    filter.limit = kBuildPageSize;
    for (int page = 0; page < kMaxBuildPages; ++page) {
      MARKET_ASSIGN_OR_RETURN(auto builds, deps_.builds->List(filter));
      for (const auto& build : builds) {  // newest first
        const std::string suffix = ":" + build.tag;
        if (!build.image.starts_with(host) || !build.image.ends_with(suffix)) continue;
        const std::string repository =
            build.image.substr(host.size(), build.image.size() - host.size() - suffix.size());
        std::vector<std::string> tags = {build.tag};
        tags.insert(tags.end(), build.extra_tags.begin(), build.extra_tags.end());
        const bool latest = projects_seen.insert(build.project).second;
        for (const auto& tag : tags) {
          if (build.finished_at) records.pushed[repository].emplace(tag, *build.finished_at);
          if (latest) {
            records.latest[repository].emplace(
                tag, fmt::format("latest successful build {} of project {}", build.id,
                                 build.project));
          }
        }
      }
      if (builds.size() < static_cast<std::size_t>(kBuildPageSize)) break;
      filter.before_id = builds.back().id;
    }
    return records;
  }

  Result<std::vector<std::string>> Repositories(const std::string& cluster) {
    std::optional<std::int64_t> project_id;
    for (int page = 1; page <= kMaxRegistryPages && !project_id; ++page) {
      MARKET_ASSIGN_OR_RETURN(auto projects,
                              deps_.registry->ListProjects(cluster, {page, kRegistryPageSize}));
      for (const auto& project : projects.items) {
        if (project.name == cluster) project_id = project.project_id;
      }
      if (projects.items.size() < static_cast<std::size_t>(kRegistryPageSize)) break;
    }
    if (!project_id) return std::vector<std::string>{};  // nothing pushed there yet
    std::vector<std::string> names;
    for (int page = 1; page <= kMaxRegistryPages; ++page) {
      MARKET_ASSIGN_OR_RETURN(auto repos, deps_.registry->ListRepositories(
                                              *project_id, "", {page, kRegistryPageSize}));
      for (auto& repo : repos.items) names.push_back(std::move(repo.name));
      if (repos.items.size() < static_cast<std::size_t>(kRegistryPageSize)) break;
    }
    return names;
  }

  Result<std::vector<RegistryTag>> Tags(const std::string& repository) {
    std::vector<RegistryTag> tags;
    for (int page = 1; page <= kMaxRegistryPages; ++page) {
      MARKET_ASSIGN_OR_RETURN(auto listed,
                              deps_.registry->ListTags(repository, {page, kRegistryPageSize}));
      for (auto& tag : listed.items) tags.push_back(std::move(tag));
      if (listed.items.size() < static_cast<std::size_t>(kRegistryPageSize)) break;
    }
    return tags;
  }

  // Paces deletes to max_deletes_per_minute.
  void Throttle() {
    if (options_.max_deletes_per_minute <= 0) return;
    const auto gap = std::chrono::milliseconds(60000 / options_.max_deletes_per_minute);
    const auto now = std::chrono::steady_clock::now();
    if (last_delete_ && now < *last_delete_ + gap) {
      deps_.sleep(std::chrono::duration_cast<std::chrono::milliseconds>(*last_delete_ + gap - now));
    }
    last_delete_ = std::chrono::steady_clock::now();
  }

  // One repository: evaluate, measure, and (unless dry) delete. Whether the lease still holds.
  bool Repository(const RetentionRuleSet& set, const std::string& repository,
                  const BuildRecords& records, const ProtectionSnapshot& protection,
                  RetentionRun& run, std::string_view worker, std::stop_token stop) {
    // Listing a large repository takes a while: hold the run for the next stretch.
    auto holding = deps_.store->RenewLease(run.id, worker, deps_.clock->Now() + options_.lease);
    if (!holding || !*holding) return false;
    RetentionRepositorySummary summary;
    summary.repository = repository;
    const std::string rest = repository.substr(set.cluster.size() + 1);
    auto listed = Tags(repository);
    if (!listed) {
      summary.error = listed.error().message;
      run.repositories.push_back(std::move(summary));
      return true;
    }
    std::vector<RetentionTag> tags;
    const auto pushed_by_us = records.pushed.find(repository);
    for (const auto& tag : *listed) {
      RetentionTag t{tag.name, tag.digest, tag.pushed};
      if (!t.pushed && pushed_by_us != records.pushed.end()) {
        if (auto at = pushed_by_us->second.find(tag.name); at != pushed_by_us->second.end()) {
          t.pushed = at->second;
        }
      }
      if (!t.pushed) t.pushed = tag.created;
      tags.push_back(std::move(t));
    }
    const auto latest = records.latest.find(repository);
    const auto protected_because = [&](std::string_view tag) -> std::string {
      if (latest != records.latest.end()) {
        if (auto found = latest->second.find(std::string(tag)); found != latest->second.end()) {
          return found->second;
        }
      }
      if (const ImmutabilityRule* rule = protection.Protecting(repository, tag)) {
        return fmt::format("protected by immutability rule {}", rule->id);
      }
      return {};
    };
    auto items = Evaluate(set, repository, rest, tags, protected_because, deps_.clock->Now());

    std::set<std::string> kept_digests, deleted_digests;
    for (const auto& item : items) {
      (item.keep ? kept_digests : deleted_digests).insert(item.digest);
    }
    // Each manifest's blobs, read before anything is deleted (a deleted one cannot be read).
    // One that cannot be read counts for nothing: bytes are as far as the registry tells.
    std::map<std::string, std::int64_t> kept_blobs;
    std::map<std::string, std::map<std::string, std::int64_t>> deleted_blobs;
    for (const auto& digest : kept_digests) {
      if (auto manifest = deps_.registry->GetManifest(repository, digest)) {
        kept_blobs.merge(Blobs(*manifest));
      }
    }
    for (const auto& digest : deleted_digests) {
      if (auto manifest = deps_.registry->GetManifest(repository, digest)) {
        deleted_blobs[digest] = Blobs(*manifest);
      }
    }

    std::map<std::string, std::string> failed;  // digest -> error
    if (!run.dry_run && !deleted_digests.empty()) {
      // A tag pushed since the listing onto a digest about to go would go with it: read the
      // tags again and spare every digest that has a tag the evaluation did not see.
      std::set<std::string> evaluated;
      for (const auto& item : items) evaluated.insert(item.tag + "@" + item.digest);
      if (auto again = Tags(repository)) {
        for (const auto& tag : *again) {
          if (deleted_digests.contains(tag.digest) &&
              !evaluated.contains(tag.name + "@" + tag.digest)) {
            failed[tag.digest] = "tag " + tag.name + " was pushed onto it during the run; kept";
          }
        }
      } else {
        for (const auto& digest : deleted_digests) failed[digest] = again.error().message;
      }
      for (const auto& digest : deleted_digests) {
        if (failed.contains(digest)) continue;
        if (stop.stop_requested()) {
          failed[digest] = "the server stopped before deleting it";
          continue;
        }
        const TimePoint now = deps_.clock->Now();
        auto held = deps_.store->RenewLease(run.id, worker, now + options_.lease);
        if (!held || !*held) return false;
        Throttle();
        auto deleted = deps_.registry->DeleteManifest(repository, digest);
        if (!deleted && deleted.error().code != Errc::kNotFound) {
          failed[digest] = deleted.error().message;
        }
      }
    }
    for (auto& item : items) {
      ++summary.total;
      if (item.keep) {
        ++summary.kept;
      } else if (auto error = failed.find(item.digest); error != failed.end()) {
        item.error = error->second;
        ++summary.errors;
      } else {
        ++summary.deleted;
      }
    }
    std::map<std::string, std::int64_t> freed;  // a blob two deleted manifests share counts once
    for (const auto& [digest, blobs] : deleted_blobs) {
      if (failed.contains(digest)) continue;
      for (const auto& [blob, size] : blobs) {
        if (!kept_blobs.contains(blob)) freed[blob] = size;
      }
    }
    for (const auto& [blob, size] : freed) summary.bytes_unreferenced += size;
    run.items.insert(run.items.end(), std::make_move_iterator(items.begin()),
                     std::make_move_iterator(items.end()));
    run.repositories.push_back(std::move(summary));
    return true;
  }

  // The immutability rules as they are when a run starts; none without a TagProtection.
  Result<ProtectionSnapshot> ReadProtection() {
    if (deps_.protection == nullptr) return ProtectionSnapshot({});
    return deps_.protection->Snapshot();
  }

  void Execute(RetentionRun run, std::string_view worker, std::stop_token stop) {
    run.repositories.clear();
    run.items.clear();
    run.state = RetentionRunState::kSucceeded;
    const auto fail = [&](std::string why) {
      run.state = RetentionRunState::kFailed;
      run.error = std::move(why);
    };
    auto set = deps_.store->GetRuleSet(run.rule_set_id);
    if (deps_.registry == nullptr) {
      fail("no registry is configured (--registry)");
    } else if (!set) {
      fail(set.error().message);
    } else if (auto records = ReadBuildRecords(); !records) {
      fail("reading the builds failed: " + records.error().message);
    } else if (auto protection = ReadProtection(); !protection) {
      fail("reading the immutability rules failed: " + protection.error().message);
    } else if (auto repositories = Repositories(set->cluster); !repositories) {
      fail("listing the repositories of " + set->cluster + " failed: " +
           repositories.error().message);
    } else {
      for (const auto& repository : *repositories) {
        const std::string prefix = set->cluster + "/";
        if (!repository.starts_with(prefix)) continue;
        const std::string rest = repository.substr(prefix.size());
        const bool applies = std::any_of(set->rules.begin(), set->rules.end(), [&](const auto& r) {
          return r.repositories.empty() || GlobMatches(r.repositories, rest);
        });
        if (!applies) continue;
        if (!Repository(*set, repository, *records, *protection, run, worker, stop)) {
          MARKET_LOG_WARN("retention: run {} lost its lease; another instance took it", run.id);
          return;
        }
      }
    }
    auto finished = deps_.store->FinishRun(run, worker, deps_.clock->Now());
    if (!finished) {
      MARKET_LOG_WARN("retention: recording run {} failed: {}", run.id, finished.error().message);
      return;
    }
    if (!*finished) return;
    RetentionRunNote note;
    note.run_id = run.id;
    note.rule_set_id = run.rule_set_id;
    note.rule_set = run.rule_set;
    note.cluster = run.cluster;
    note.state = std::string(ToString(run.state));
    note.repositories = static_cast<std::int64_t>(run.repositories.size());
    for (const auto& s : run.repositories) {
      note.total += s.total;
      note.kept += s.kept;
      note.deleted += s.deleted;
      note.errors += s.errors;
      note.bytes_unreferenced += s.bytes_unreferenced;
    }
    MARKET_LOG_INFO("retention: run {} of {} ({}) {}: {} tags, {} kept, {} deleted, {} errors",
                    run.id, run.rule_set, run.dry_run ? "dry" : "deleting", note.state, note.total,
                    note.kept, note.deleted, note.errors);
    if (!run.dry_run && deps_.events != nullptr) {
      deps_.events->Publish(Event::ForRetentionRun(note, run.operator_name, deps_.clock->Now()));
    }
  }

  RetentionDependencies deps_;
  RetentionOptions options_;
  AuditTrail audit_;
  std::mutex mu_;
  std::condition_variable_any cv_;
  std::jthread thread_;
  std::optional<std::chrono::steady_clock::time_point> last_delete_;
};

RetentionService::RetentionService(RetentionDependencies deps, RetentionOptions options)
    : impl_(std::make_unique<Impl>(std::move(deps), std::move(options))) {}

RetentionService::~RetentionService() = default;

Result<RetentionRuleSet> RetentionService::Create(const RetentionRuleSetRequest& request,
                                                  std::string_view operator_name,
                                                  const ChangeOrigin& origin) {
  return impl_->Create(request, operator_name, origin);
}

Result<RetentionRuleSet> RetentionService::Update(std::int64_t id,
                                                  const RetentionRuleSetRequest& request,
                                                  std::string_view operator_name,
                                                  const ChangeOrigin& origin) {
  return impl_->Update(id, request, operator_name, origin);
}

Result<void> RetentionService::Delete(std::int64_t id, std::string_view operator_name,
                                      const ChangeOrigin& origin) {
  return impl_->Delete(id, operator_name, origin);
}

Result<RetentionRuleSet> RetentionService::Get(std::int64_t id) { return impl_->Get(id); }

Result<std::vector<RetentionRuleSet>> RetentionService::List(std::string_view cluster) {
  return impl_->List(cluster);
}

Result<RetentionRun> RetentionService::StartRun(std::int64_t rule_set_id, bool dry_run,
                                                std::string_view operator_name,
                                                const ChangeOrigin& origin) {
  return impl_->StartRun(rule_set_id, dry_run, operator_name, origin);
}

Result<RetentionRun> RetentionService::Run(std::int64_t run_id) { return impl_->Run(run_id); }

Result<std::vector<RetentionRun>> RetentionService::Runs(std::int64_t rule_set_id) {
  return impl_->Runs(rule_set_id);
}

void RetentionService::Start() { impl_->Start(); }

void RetentionService::Stop() { impl_->Stop(); }

Result<bool> RetentionService::Step(std::string_view worker) { return impl_->Step(worker); }

}  // namespace market
