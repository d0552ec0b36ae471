// TriggerService: build triggers' rules, the events git hosts send them, and the count of their
// builds' failures.

#include "market/trigger_service.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include "hex.hpp"
#include "log.hpp"
#include "market/validation.hpp"

namespace market {

namespace {

// The longest text a delivery record keeps of one field of an event.
constexpr std::size_t kDeliveryFieldMax = 512;

std::string NewSecret() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) {
    throw std::runtime_error("the system's random number generator failed");
  }
  return HexEncode(std::string_view(reinterpret_cast<const char*>(bytes), sizeof bytes));
}

// What the audit log keeps of a trigger: everything but the secret.
nlohmann::json AuditJson(const BuildTriggerRule& rule) {
  return {{"id", rule.id},
          {"project", rule.project},
          {"name", rule.name},
          {"enabled", rule.enabled},
          {"branches", rule.branches},
          {"tags", rule.tags},
          {"tagTemplates", rule.tag_templates},
          {"latest", rule.latest},
          {"defaultBranch", rule.default_branch}};
}

}  // namespace

class TriggerService::Impl {
 public:
  Impl(TriggerDependencies deps, TriggerOptions options)
      : deps_(deps), options_(options), audit_(deps.audit, *deps.clock) {}

  Result<BuildTriggerRule> Create(const TriggerRequest& request, std::string_view operator_name,
                                  const ChangeOrigin& origin) {
    BuildTriggerRule rule;
    if (request.project.empty()) return Fail(Errc::kInvalid, "project is required");
    MARKET_ASSIGN_OR_RETURN(rule.project, NormalizeProjectName("project", request.project));
    if (!request.name) return Fail(Errc::kInvalid, "name is required");
    MARKET_RETURN_IF_ERROR(Apply(request, rule));
    if (!request.secret) rule.secret = NewSecret();
    rule.creator = std::string(operator_name);
    MARKET_ASSIGN_OR_RETURN(BuildTriggerRule created, deps_.store->Create(rule));
    audit_.Record(operator_name, origin, "trigger.create", fmt::format("trigger:{}", created.id),
                  nullptr, AuditJson(created));
    return created;
  }

  Result<BuildTriggerRule> Update(std::int64_t id, const TriggerRequest& request,
                                  std::string_view operator_name, const ChangeOrigin& origin) {
    MARKET_ASSIGN_OR_RETURN(BuildTriggerRule before, deps_.store->Get(id));
    BuildTriggerRule rule = before;
    MARKET_RETURN_IF_ERROR(Apply(request, rule));
    MARKET_ASSIGN_OR_RETURN(BuildTriggerRule updated, deps_.store->Update(rule));
    audit_.Record(operator_name, origin, "trigger.update", fmt::format("trigger:{}", id),
                  AuditJson(before), AuditJson(updated));
    return updated;
  }

  Result<void> Delete(std::int64_t id, std::string_view operator_name,
                      const ChangeOrigin& origin) {
    MARKET_ASSIGN_OR_RETURN(BuildTriggerRule before, deps_.store->Get(id));
    MARKET_RETURN_IF_ERROR(deps_.store->Delete(id));
    audit_.Record(operator_name, origin, "trigger.delete", fmt::format("trigger:{}", id),
                  AuditJson(before), nullptr);
    return {};
  }

  Result<BuildTriggerRule> Get(std::int64_t id) { return deps_.store->Get(id); }

  Result<std::vector<BuildTriggerRule>> List(std::string_view project) {
    if (project.empty()) return deps_.store->List("");
    MARKET_ASSIGN_OR_RETURN(auto name, NormalizeProjectName("project", project));
    return deps_.store->List(name);
  }

  Result<Build> Start(std::int64_t id, std::string_view ref_text, std::string_view sha_text,
                      std::string_view operator_name, Role role, const ChangeOrigin& origin) {
    MARKET_ASSIGN_OR_RETURN(BuildTriggerRule rule, deps_.store->Get(id));
    if (ref_text.empty() && sha_text.empty()) {
      return Fail(Errc::kInvalid, "ref or sha is required");
    }
    std::string sha(sha_text);
    std::transform(sha.begin(), sha.end(), sha.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (!sha.empty() && !IsFullCommitId(sha)) {
      return Fail(Errc::kInvalid, "sha must be a full commit id (40 or 64 hexadecimal digits)");
    }
    std::string ref(ref_text);
    if (ref.size() > 255) return Fail(Errc::kInvalid, "ref is longer than 255 characters");
    if (!ref.empty() && !ref.starts_with("refs/")) ref = "refs/heads/" + ref;
    if (!ref.empty() && !ref.starts_with("refs/heads/") && !ref.starts_with("refs/tags/")) {
      return Fail(Errc::kInvalid, "ref must be a branch, refs/heads/<branch> or refs/tags/<tag>");
    }
    if (ref.size() == std::string_view("refs/heads/").size() ||
        ref.size() == std::string_view("refs/tags/").size()) {
      return Fail(Errc::kInvalid, "ref names no branch or tag");
    }
    MARKET_ASSIGN_OR_RETURN(std::string repository, RepositoryOfPush(rule.project, {}));

    const std::vector<std::string> tags =
        TriggeredTags(rule, ref, sha, rule.default_branch.empty() ? "main" : rule.default_branch,
                      deps_.clock->Now());
    BuildRequest request = BuildFor(rule, tags);
    request.operator_name = std::string(operator_name);
    request.role = role;
    request.origin = origin;
    request.trigger.kind = "start";
    request.trigger.ref = ref;
    request.trigger.sha = sha;
    request.trigger.repository = repository;
    MARKET_ASSIGN_OR_RETURN(Build build, deps_.builds->Enqueue(request));
    audit_.Record(operator_name, origin, "trigger.start", fmt::format("trigger:{}", id), nullptr,
                  {{"build", build.id}, {"ref", ref}, {"sha", sha}});
    return build;
  }

  Result<TriggerReceipt> Receive(std::int64_t id, const HookRequest& request) {
    Result<BuildTriggerRule> found = deps_.store->Get(id);
    if (!found) return std::unexpected(found.error());
    const BuildTriggerRule& rule = *found;
    MARKET_RETURN_IF_ERROR(VerifyHookRequest(request, rule.secret));
    TriggerDelivery delivery;
    delivery.trigger_id = id;
    delivery.received_at = deps_.clock->Now();
    delivery.host = std::string(ToString(DetectGitHost(request)));
    Result<TriggerReceipt> receipt = ReceiveVerified(rule, request, delivery);
    Record(delivery, receipt);
    return receipt;
  }

  Result<std::vector<TriggerDelivery>> Deliveries(std::int64_t id) {
    MARKET_RETURN_IF_ERROR(deps_.store->Get(id));
    return deps_.store->ListDeliveries(id, options_.deliveries_kept);
  }

  // Receive, once the request is known to come from whoever holds the secret; fills in
  // `delivery` what the event says.
  Result<TriggerReceipt> ReceiveVerified(const BuildTriggerRule& rule, const HookRequest& request,
                                         TriggerDelivery& delivery) {
    const std::int64_t id = rule.id;
    // Read before the trigger's state is checked, so that the record of a refused event says
    // which event it was; the answer is still the state's.
    Result<PushEvent> read = ReadPushEvent(request);
    if (read) {
      delivery.event = read->event;
      delivery.delivery_id = read->delivery_id;
      delivery.ref = read->ref;
      delivery.sha = read->sha;
    }
    if (!rule.enabled) {
      return Fail(Errc::kInvalid,
                  fmt::format("build trigger {} is disabled{}", id,
                              rule.disabled_reason.empty() ? std::string()
                                                           : ": " + rule.disabled_reason));
    }
    if (!read) return std::unexpected(read.error());
    const PushEvent& event = *read;
    TriggerReceipt receipt;
    TriggerPlan plan = PlanTriggeredBuild(rule, event, deps_.clock->Now());
    if (!plan.skipped.empty()) {
      receipt.skipped = plan.skipped;
      MARKET_LOG_INFO("build trigger {} ({}): {} event {} builds nothing: {}", id, rule.project,
                      ToString(event.host), event.delivery_id, plan.skipped);
      return receipt;
    }
    MARKET_ASSIGN_OR_RETURN(std::string repository,
                            RepositoryOfPush(rule.project, event.repository_urls));

    BuildRequest build_request = BuildFor(rule, plan.tags);
    build_request.operator_name = rule.creator;
    build_request.role = Role::kDeveloper;
    build_request.origin.actor = fmt::format("trigger:{}", id);
    build_request.trigger.kind = "git-push";
    build_request.trigger.ref = event.ref;
    build_request.trigger.sha = event.sha;
    build_request.trigger.repository = repository;
    build_request.trigger.delivery_id = event.delivery_id;

    Build probe;
    probe.tag = build_request.tag;
    probe.trigger = build_request.trigger;
    MARKET_ASSIGN_OR_RETURN(std::optional<Build> earlier, deps_.build_store->FindTriggered(probe));
    if (!earlier) {
      Result<Build> queued = deps_.builds->Enqueue(build_request);
      if (queued) {
        receipt.build = *queued;
        return receipt;
      }
      if (queued.error().code != Errc::kAlreadyExists) return std::unexpected(queued.error());
      // Another instance queued it between the look and the insert.
      MARKET_ASSIGN_OR_RETURN(earlier, deps_.build_store->FindTriggered(probe));
      if (!earlier) return std::unexpected(queued.error());
    }
    receipt.build = *earlier;
    receipt.duplicate = true;
    return receipt;
  }

  // Keeps what a verified request did. The record is for people looking at the trigger;
  // failing to write it must not turn a queued build into an error the git host retries.
  void Record(TriggerDelivery& delivery, const Result<TriggerReceipt>& receipt) {
    if (!receipt) {
      delivery.outcome = "refused";
      delivery.reason = receipt.error().message;
    } else if (receipt->build) {
      delivery.outcome = receipt->duplicate ? "duplicate" : "queued";
      delivery.build_id = receipt->build->id;
    } else {
      delivery.outcome = "skipped";
      delivery.reason = receipt->skipped;
    }
    // An event's text is the sender's: keep what a person reads, not what a sender pads.
    for (std::string* field : {&delivery.event, &delivery.delivery_id, &delivery.ref,
                               &delivery.sha, &delivery.reason}) {
      if (field->size() > kDeliveryFieldMax) field->resize(kDeliveryFieldMax);
    }
    Result<TriggerDelivery> stored =
        deps_.store->RecordDelivery(delivery, options_.deliveries_kept);
    if (!stored && stored.error().code != Errc::kNotFound) {  // deleted meanwhile: nothing to keep
      MARKET_LOG_WARN("build trigger {}: the received event was not recorded: {}",
                      delivery.trigger_id, stored.error().message);
    }
  }

  void Publish(const Event& event) {
    if (!event.build || event.build->trigger.trigger_id == 0) return;
    if (event.type != EventType::kBuildSucceeded && event.type != EventType::kBuildFailed) return;
    const Build& build = *event.build;
    const bool succeeded = event.type == EventType::kBuildSucceeded;
    const std::string reason = fmt::format(
        "{} triggered builds failed in a row (trigger-disable-after); build {} was the last",
        options_.disable_after, build.id);
    Result<BuildTriggerRule> after =
        deps_.store->RecordBuildEnd(build.trigger.trigger_id, succeeded, options_.disable_after,
                                    reason, deps_.clock->Now());
    if (!after) {
      if (after.error().code != Errc::kNotFound) {  // a deleted trigger counts nothing
        MARKET_LOG_WARN("build trigger {}: the end of build {} was not counted: {}",
                        build.trigger.trigger_id, build.id, after.error().message);
      }
      return;
    }
    if (!succeeded && !after->enabled && after->disabled_reason == reason) {
      MARKET_LOG_WARN("build trigger {} of {} disabled: {}", after->id, after->project, reason);
    }
  }

 private:
  Result<void> Apply(const TriggerRequest& request, BuildTriggerRule& rule) {
    if (request.name) {
      MARKET_ASSIGN_OR_RETURN(rule.name, ValidateObjectName("name", *request.name));
    }
    if (request.enabled) rule.enabled = *request.enabled;
    if (request.secret) {
      MARKET_ASSIGN_OR_RETURN(rule.secret, ValidateSecret("secret", *request.secret));
    }
    if (request.branches) rule.branches = *request.branches;
    if (request.tags) rule.tags = *request.tags;
    if (request.tag_templates) rule.tag_templates = *request.tag_templates;
    if (request.latest) rule.latest = *request.latest;
    if (request.default_branch) rule.default_branch = *request.default_branch;
    return ValidateTriggerRule(rule);
  }

  // The first tag is the build's; the others are pushed with it.
  static BuildRequest BuildFor(const BuildTriggerRule& rule, const std::vector<std::string>& tags) {
    BuildRequest request;
    request.project = rule.project;
    request.tag = tags.front();
    request.extra_tags.assign(tags.begin() + 1, tags.end());
    request.trigger.trigger_id = rule.id;
    return request;
  }

  // The URL, as the project names it, of the git repository a push of `event_urls` is for.
  // Without URLs (a generic event, a manual start): the project's only git repository.
  Result<std::string> RepositoryOfPush(const std::string& project_name,
                                       const std::vector<std::string>& event_urls) {
    Result<Project> project = deps_.projects->Get(project_name);
    if (!project) {
      if (project.error().code == Errc::kNotFound) {
        return Fail(Errc::kBuildProjectMissing, "project does not exist: " + project_name);
      }
      return std::unexpected(project.error());
    }
    auto rendered = deps_.plugins->Render(project->define_type, project->pipeline);
    if (!rendered) {
      return Fail(Errc::kInvalid, fmt::format("project {} cannot be built: {}", project_name,
                                              rendered.error().message));
    }
    std::vector<std::string> repositories;  // distinct git repositories the project checks out
    auto add = [&](const SourceSpec& source) {
      if (source.type != "git") return;
      for (const auto& known : repositories) {
        if (SameRepository(known, source.url)) return;
      }
      repositories.push_back(source.url);
    };
    for (const SourceSpec& source : rendered->sources) add(source);
    if (rendered->dockerfile_source) add(*rendered->dockerfile_source);
    if (repositories.empty()) {
      return Fail(Errc::kInvalid,
                  fmt::format("project {} checks out no git repository: a commit cannot be "
                              "built",
                              project_name));
    }
    if (event_urls.empty()) {
      if (repositories.size() == 1) return repositories.front();
      return Fail(Errc::kInvalid,
                  fmt::format("repository is required: project {} checks out {} git repositories",
                              project_name, repositories.size()));
    }
    for (const auto& known : repositories) {
      for (const auto& url : event_urls) {
        if (SameRepository(known, url)) return known;
      }
    }
    return Fail(Errc::kInvalid,
                fmt::format("the push is for {}, which none of project {}'s git sources checks "
                            "out",
                            event_urls.front().substr(0, 256), project_name));
  }

  TriggerDependencies deps_;
  TriggerOptions options_;
  AuditTrail audit_;
};

TriggerService::TriggerService(TriggerDependencies deps, TriggerOptions options)
    : impl_(std::make_unique<Impl>(deps, options)) {}
TriggerService::~TriggerService() = default;

Result<BuildTriggerRule> TriggerService::Create(const TriggerRequest& request,
                                                std::string_view operator_name,
                                                const ChangeOrigin& origin) {
  return impl_->Create(request, operator_name, origin);
}
Result<BuildTriggerRule> TriggerService::Update(std::int64_t id, const TriggerRequest& request,
                                                std::string_view operator_name,
                                                const ChangeOrigin& origin) {
  return impl_->Update(id, request, operator_name, origin);
}
Result<void> TriggerService::Delete(std::int64_t id, std::string_view operator_name,
                                    const ChangeOrigin& origin) {
  return impl_->Delete(id, operator_name, origin);
}
Result<BuildTriggerRule> TriggerService::Get(std::int64_t id) { return impl_->Get(id); }
Result<std::vector<BuildTriggerRule>> TriggerService::List(std::string_view project) {
  return impl_->List(project);
}
Result<Build> TriggerService::Start(std::int64_t id, std::string_view ref, std::string_view sha,
                                    std::string_view operator_name, Role role,
                                    const ChangeOrigin& origin) {
  return impl_->Start(id, ref, sha, operator_name, role, origin);
}
Result<TriggerReceipt> TriggerService::Receive(std::int64_t id, const HookRequest& request) {
  return impl_->Receive(id, request);
}
Result<std::vector<TriggerDelivery>> TriggerService::Deliveries(std::int64_t id) {
  return impl_->Deliveries(id);
}
void TriggerService::Publish(const Event& event) {
  try {
    impl_->Publish(event);
  } catch (const std::exception& e) {
    MARKET_LOG_ERROR("build trigger: counting a build's end failed: {}", e.what());
  }
}

}  // namespace market
