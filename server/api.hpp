#pragma once
// The endpoints. Each handler decodes the request, calls one libmarket service, and encodes the
// result; the route table (routes.cpp) says which path and method reach which handler.

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "audit.hpp"
#include "http_types.hpp"
#include "market/base_rebuild_service.hpp"
#include "market/build_service.hpp"
#include "market/error.hpp"
#include "market/identity.hpp"
#include "market/immutability.hpp"
#include "market/plugin_registry.hpp"
#include "market/project_service.hpp"
#include "market/project_store.hpp"
#include "market/registry.hpp"
#include "market/retention_service.hpp"
#include "market/trigger_service.hpp"
#include "market/webhook_service.hpp"
#include "request_params.hpp"

namespace market::server {

class Authenticator;
class IdentityAdmin;
class ServiceMetrics;

struct ApiDependencies {
  ProjectService* projects = nullptr;
  ProjectStore* project_store = nullptr;  // for /readyz
  BuildService* builds = nullptr;
  const PluginRegistry* plugins = nullptr;
  Registry* registry = nullptr;  // null: no registry configured
  const ServiceMetrics* metrics = nullptr;  // null: /metrics answers 404
  AuditLog* audit = nullptr;     // null: changes are not audited
  IdentityStore* identity = nullptr;
  const Authenticator* auth = nullptr;  // null: authentication off (no sessions)
  WebhookService* webhooks = nullptr;
  TriggerService* triggers = nullptr;
  ImmutabilityService* immutability = nullptr;  // null: no tag is protected
  RetentionService* retention = nullptr;
  BaseRebuildService* base_rebuilds = nullptr;
  const Clock* clock = nullptr;  // null: the system clock
  bool auth_enabled = false;     // whether requests carry a verified identity
};

class Api {
 public:
  explicit Api(ApiDependencies deps)
      : deps_(deps), auditor_(deps.audit, deps.clock != nullptr ? *deps.clock : system_clock_) {}

  // project_handlers.cpp
  HandlerResult NewProject(const RequestContext& context);
  HandlerResult DeleteProject(const RequestContext& context);
  HandlerResult CloneProject(const RequestContext& context);
  // Info and list answer `done` from the project reads' callback (see AsyncProjectReads).
  void ProjectInfo(const RequestContext& context, Completion done);
  void ListProjects(const RequestContext& context, Completion done);
  HandlerResult SaveProject(const RequestContext& context);
  HandlerResult ProjectDockerfile(const RequestContext& context);
  HandlerResult PreviewDockerfile(const RequestContext& context);
  HandlerResult PluginSchemas(const RequestContext& context);
  HandlerResult PluginExtension(const RequestContext& context);

  // build_handlers.cpp
  HandlerResult StartBuild(const RequestContext& context);
  HandlerResult BuildHistory(const RequestContext& context);
  HandlerResult ListBuilds(const RequestContext& context);
  HandlerResult BuildLog(const RequestContext& context);
  HandlerResult CancelBuild(const RequestContext& context);

  // registry_handlers.cpp: the seed's registry section, in its shapes (no envelope).
  HandlerResult RegistryProjects(const RequestContext& context);
  HandlerResult RegistryRepositories(const RequestContext& context);
  HandlerResult RegistryTags(const RequestContext& context);
  HandlerResult RegistryManifest(const RequestContext& context);
  HandlerResult RegistryDeleteTag(const RequestContext& context);

  // page_handlers.cpp
  HandlerResult ConsolePage(const RequestContext& context);
  HandlerResult ConfigPage(const RequestContext& context);
  HandlerResult StaticAsset(const RequestContext& context);
  HandlerResult Healthz(const RequestContext& context);
  HandlerResult Readyz(const RequestContext& context);
  // metrics_service.cpp: the Prometheus exposition.
  HandlerResult Metrics(const RequestContext& context);

  // identity_handlers.cpp
  HandlerResult WhoAmI(const RequestContext& context);
  HandlerResult AuditList(const RequestContext& context);

  // admin_handlers.cpp: the console's sign-in, users and API tokens.
  HandlerResult SignIn(const RequestContext& context);
  HandlerResult SignOut(const RequestContext& context);
  HandlerResult ListUsers(const RequestContext& context);
  HandlerResult NewUser(const RequestContext& context);
  HandlerResult SetUserRole(const RequestContext& context);
  HandlerResult SetUserPassword(const RequestContext& context);
  HandlerResult DeleteUser(const RequestContext& context);
  HandlerResult ListTokens(const RequestContext& context);
  HandlerResult NewToken(const RequestContext& context);
  HandlerResult RevokeToken(const RequestContext& context);

  // webhook_handlers.cpp: webhook policies, deliveries, redelivery and test events.
  HandlerResult ListWebhooks(const RequestContext& context);
  HandlerResult NewWebhook(const RequestContext& context);
  HandlerResult GetWebhook(const RequestContext& context);
  HandlerResult UpdateWebhook(const RequestContext& context);
  HandlerResult DeleteWebhook(const RequestContext& context);
  HandlerResult WebhookDeliveries(const RequestContext& context);
  HandlerResult ShowWebhookDelivery(const RequestContext& context);
  HandlerResult RedeliverWebhook(const RequestContext& context);
  HandlerResult TestWebhook(const RequestContext& context);

  // trigger_handlers.cpp: build triggers, and the URL git hosts send push events to.
  HandlerResult ListTriggers(const RequestContext& context);
  HandlerResult NewTrigger(const RequestContext& context);
  HandlerResult GetTrigger(const RequestContext& context);
  HandlerResult UpdateTrigger(const RequestContext& context);
  HandlerResult DeleteTrigger(const RequestContext& context);
  HandlerResult StartTrigger(const RequestContext& context);
  HandlerResult TriggerDeliveries(const RequestContext& context);
  HandlerResult ReceiveTrigger(const RequestContext& context);

  // immutability_handlers.cpp: the rules that make tags immutable.
  HandlerResult ListImmutabilityRules(const RequestContext& context);
  HandlerResult NewImmutabilityRule(const RequestContext& context);
  HandlerResult UpdateImmutabilityRule(const RequestContext& context);
  HandlerResult DeleteImmutabilityRule(const RequestContext& context);
  // retention_handlers.cpp: tag retention rule sets, dry runs, runs and their records.
  HandlerResult ListRetention(const RequestContext& context);
  HandlerResult NewRetention(const RequestContext& context);
  HandlerResult GetRetention(const RequestContext& context);
  HandlerResult UpdateRetention(const RequestContext& context);
  HandlerResult DeleteRetention(const RequestContext& context);
  HandlerResult DryRunRetention(const RequestContext& context);
  HandlerResult RunRetention(const RequestContext& context);
  HandlerResult ListRetentionRuns(const RequestContext& context);
  HandlerResult GetRetentionRun(const RequestContext& context);
  // base_rebuild_handlers.cpp: a project's opt-in to rebuilds when a base image changes.
  HandlerResult GetBaseRebuild(const RequestContext& context);
  HandlerResult SetBaseRebuild(const RequestContext& context);
  // build_handlers.cpp: a project's build settings (its layer cache switch).
  HandlerResult GetBuildSettings(const RequestContext& context);
  HandlerResult SetBuildSettings(const RequestContext& context);

 private:
  HttpResponse CheckReadiness() const;  // pings the database and the registry
  Result<AuditActor> AdminActor(const RequestContext& context) const;
  IdentityAdmin Admin() const;
  WebhookService& Webhooks() const;
  TriggerService& Triggers() const;
  ImmutabilityService& Immutability() const;
  RetentionService& Retention() const;
  HandlerResult QueueRetention(const RequestContext& context, bool dry_run);
  Result<std::string> RepositoryParameter(const RequestParams& params,
                                         std::string_view field) const;
  Result<WebhookPolicy> VisiblePolicy(const RequestContext& context, std::int64_t id) const;

  // /readyz's latest answer: probes are answered from it for a second, so a flood of them
  // cannot flood the database or the registry.
  struct Readiness {
    std::mutex mutex;
    std::optional<HttpResponse> answer;
    std::chrono::steady_clock::time_point made{};
    bool refreshing = false;  // a thread is pinging; the others answer the latest result
  };

  ApiDependencies deps_;
  Readiness readiness_;
  SystemClock system_clock_;
  Auditor auditor_;
};

// Helpers shared by the handler files.
Result<RequestParams> DecodeParams(const RequestContext& context);
// Who acts and who is recorded. Authentication on: the authenticated user; an `operator` naming
// someone else is kForbidden unless the user is an admin (then the change records that operator
// and the audit both). Off: `operator`; else a bare `Authorization: <user>` header (the
// original's client). Validated with market::ValidateOperator; kInvalid when there is none and
// `required` (else the actor is "anonymous").
Result<Acting> ActingOf(const RequestContext& context, const RequestParams& params,
                        bool required = true);
// ActingOf(...).operator_name.
Result<std::string> OperatorOf(const RequestContext& context, const RequestParams& params);
// Whether the client asked for `type` (e.g. "text/plain") in Accept.
bool Accepts(const RequestContext& context, std::string_view type);

}  // namespace market::server
