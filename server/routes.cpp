#include "routes.hpp"

namespace market::server {

std::vector<Route> MakeRoutes(Api& api, RunOn project_reads) {
  using http::verb;
  constexpr RunOn kPool = RunOn::kBlockingPool;
  constexpr RunOn kIo = RunOn::kIoThread;
  // A handler that answers before it returns.
  auto bind = [&api](HandlerResult (Api::*method)(const RequestContext&)) -> Handler {
    return [&api, method](const RequestContext& context, Completion done) {
      done((api.*method)(context));
    };
  };
  // A handler that answers from its work's callback.
  auto bind_later = [&api](void (Api::*method)(const RequestContext&, Completion)) -> Handler {
    return [&api, method](const RequestContext& context, Completion done) {
      (api.*method)(context, std::move(done));
    };
  };
  constexpr Access kPublic = Access::kPublic;
  constexpr Access kViewer = Access::kViewer;
  constexpr Access kDeveloper = Access::kDeveloper;
  constexpr Access kAdmin = Access::kAdmin;
  // method, path, prefix, where it runs, who may call it (when authentication is on), handler.
  // Reads: viewer. Edits and builds: developer. Deletes, users, tokens and the audit: admin.
  return {
      {verb::post, "/api/project/new", false, kPool, kDeveloper, bind(&Api::NewProject)},
      {verb::post, "/api/project/delete", false, kPool, kAdmin, bind(&Api::DeleteProject)},
      {verb::post, "/api/project/clone", false, kPool, kDeveloper, bind(&Api::CloneProject)},
      {verb::get, "/api/project/info", false, project_reads, kViewer, bind_later(&Api::ProjectInfo)},
      {verb::get, "/api/project/list", false, project_reads, kViewer,
       bind_later(&Api::ListProjects)},
      {verb::post, "/api/project/list", false, project_reads, kViewer,
       bind_later(&Api::ListProjects)},
      {verb::post, "/api/project/save", false, kPool, kDeveloper, bind(&Api::SaveProject)},
      {verb::get, "/api/project/dockerfile", false, kPool, kViewer, bind(&Api::ProjectDockerfile)},
      {verb::post, "/api/project/dockerfile", false, kPool, kViewer, bind(&Api::PreviewDockerfile)},
      {verb::post, "/api/project/build", false, kPool, kDeveloper, bind(&Api::StartBuild)},
      {verb::get, "/api/project/buildHistory", false, kPool, kViewer, bind(&Api::BuildHistory)},
      {verb::get, "/api/project/buildLog", false, kPool, kViewer, bind(&Api::BuildLog)},
      {verb::post, "/api/project/buildCancel", false, kPool, kDeveloper, bind(&Api::CancelBuild)},
      {verb::get, "/api/builds", false, kPool, kViewer, bind(&Api::ListBuilds)},
      {verb::get, "/api/project/baseRebuild", false, kPool, kViewer,
       bind(&Api::GetBaseRebuild)},
      {verb::post, "/api/project/baseRebuild", false, kPool, kDeveloper,
       bind(&Api::SetBaseRebuild)},
      {verb::get, "/api/project/buildSettings", false, kPool, kViewer,
       bind(&Api::GetBuildSettings)},
      {verb::post, "/api/project/buildSettings", false, kPool, kDeveloper,
       bind(&Api::SetBuildSettings)},
      {verb::get, "/api/plugin/schemas", false, kIo, kViewer, bind(&Api::PluginSchemas)},
      {verb::post, "/api/plugin/extension/interface", false, kPool, kViewer,
       bind(&Api::PluginExtension)},
      {verb::get, "/api/whoami", false, kPool, kViewer, bind(&Api::WhoAmI)},
      {verb::get, "/api/audit", false, kPool, kAdmin, bind(&Api::AuditList)},
      // The console's sign-in: admission checks the password, the handler starts the session.
      {verb::post, "/api/session/new", false, kPool, kViewer, bind(&Api::SignIn)},
      {verb::post, "/api/session/delete", false, kPool, kPublic, bind(&Api::SignOut)},
      {verb::get, "/api/user/list", false, kPool, kAdmin, bind(&Api::ListUsers)},
      {verb::post, "/api/user/new", false, kPool, kAdmin, bind(&Api::NewUser)},
      {verb::post, "/api/user/role", false, kPool, kAdmin, bind(&Api::SetUserRole)},
      {verb::post, "/api/user/password", false, kPool, kAdmin, bind(&Api::SetUserPassword)},
      {verb::post, "/api/user/delete", false, kPool, kAdmin, bind(&Api::DeleteUser)},
      {verb::get, "/api/token/list", false, kPool, kAdmin, bind(&Api::ListTokens)},
      {verb::post, "/api/token/new", false, kPool, kAdmin, bind(&Api::NewToken)},
      {verb::post, "/api/token/revoke", false, kPool, kAdmin, bind(&Api::RevokeToken)},
      // Webhooks hold targets and secrets: developers manage a project's, admins the global ones.
      {verb::get, "/api/webhooks/list", false, kPool, kDeveloper, bind(&Api::ListWebhooks)},
      {verb::post, "/api/webhooks/new", false, kPool, kDeveloper, bind(&Api::NewWebhook)},
      {verb::get, "/api/webhooks/get", false, kPool, kDeveloper, bind(&Api::GetWebhook)},
      {verb::post, "/api/webhooks/update", false, kPool, kDeveloper, bind(&Api::UpdateWebhook)},
      {verb::post, "/api/webhooks/delete", false, kPool, kDeveloper, bind(&Api::DeleteWebhook)},
      {verb::get, "/api/webhooks/deliveries", false, kPool, kDeveloper,
       bind(&Api::WebhookDeliveries)},
      {verb::get, "/api/webhooks/delivery", false, kPool, kDeveloper,
       bind(&Api::ShowWebhookDelivery)},
      {verb::post, "/api/webhooks/redeliver", false, kPool, kDeveloper,
       bind(&Api::RedeliverWebhook)},
      {verb::post, "/api/webhooks/test", false, kPool, kDeveloper, bind(&Api::TestWebhook)},
      {verb::get, "/api/triggers/list", false, kPool, kDeveloper, bind(&Api::ListTriggers)},
      {verb::post, "/api/triggers/new", false, kPool, kDeveloper, bind(&Api::NewTrigger)},
      {verb::get, "/api/triggers/get", false, kPool, kDeveloper, bind(&Api::GetTrigger)},
      {verb::post, "/api/triggers/update", false, kPool, kDeveloper, bind(&Api::UpdateTrigger)},
      {verb::post, "/api/triggers/delete", false, kPool, kDeveloper, bind(&Api::DeleteTrigger)},
      {verb::post, "/api/triggers/start", false, kPool, kDeveloper, bind(&Api::StartTrigger)},
      {verb::get, "/api/triggers/deliveries", false, kPool, kDeveloper,
       bind(&Api::TriggerDeliveries)},
      // Immutability rules bind every project's tags: admins make them, anyone may read them.
      {verb::get, "/api/immutability/list", false, kPool, kViewer,
       bind(&Api::ListImmutabilityRules)},
      {verb::post, "/api/immutability/new", false, kPool, kAdmin, bind(&Api::NewImmutabilityRule)},
      {verb::post, "/api/immutability/update", false, kPool, kAdmin,
       bind(&Api::UpdateImmutabilityRule)},
      {verb::post, "/api/immutability/delete", false, kPool, kAdmin,
       bind(&Api::DeleteImmutabilityRule)},
      // Git hosts carry no session or token: the trigger's secret signs each request.
      {verb::post, "/api/trigger/", true, kPool, kPublic, bind(&Api::ReceiveTrigger)},
      // Retention deletes images: admins manage it and start runs, viewers read.
      {verb::get, "/api/retention/list", false, kPool, kViewer, bind(&Api::ListRetention)},
      {verb::post, "/api/retention/new", false, kPool, kAdmin, bind(&Api::NewRetention)},
      {verb::get, "/api/retention/get", false, kPool, kViewer, bind(&Api::GetRetention)},
      {verb::post, "/api/retention/update", false, kPool, kAdmin, bind(&Api::UpdateRetention)},
      {verb::post, "/api/retention/delete", false, kPool, kAdmin, bind(&Api::DeleteRetention)},
      {verb::post, "/api/retention/dryrun", false, kPool, kAdmin, bind(&Api::DryRunRetention)},
      {verb::post, "/api/retention/run", false, kPool, kAdmin, bind(&Api::RunRetention)},
      {verb::get, "/api/retention/runs", false, kPool, kViewer, bind(&Api::ListRetentionRuns)},
      {verb::get, "/api/retention/runs/get", false, kPool, kViewer,
       bind(&Api::GetRetentionRun)},
      // The page's HTML holds no data; its script asks for a login when the API answers 401.
      {verb::get, "/", false, kIo, kPublic, bind(&Api::ConsolePage)},
      {verb::get, "/builds", false, kIo, kPublic, bind(&Api::ConsolePage)},
      {verb::get, "/registry", false, kIo, kPublic, bind(&Api::ConsolePage)},
      {verb::get, "/webhooks", false, kIo, kPublic, bind(&Api::ConsolePage)},
      {verb::get, "/retention", false, kIo, kPublic, bind(&Api::ConsolePage)},
      {verb::get, "/admin/users", false, kIo, kPublic, bind(&Api::ConsolePage)},
      {verb::get, "/admin/tokens", false, kIo, kPublic, bind(&Api::ConsolePage)},
      {verb::get, "/admin/audit", false, kIo, kPublic, bind(&Api::ConsolePage)},
      {verb::get, "/view/config/independent", false, kPool, kPublic, bind(&Api::ConfigPage)},
      {verb::get, "/static/", true, kIo, kPublic, bind(&Api::StaticAsset)},
      {verb::get, "/projects", false, kPool, kViewer, bind(&Api::RegistryProjects)},
      {verb::get, "/repositories", false, kPool, kViewer, bind(&Api::RegistryRepositories)},
      // The seed documents {code, msg} for the tag delete: its errors have that shape too.
      {verb::delete_, "/repositories", false, kPool, kAdmin, bind(&Api::RegistryDeleteTag),
       ErrorShape::kSeedCodeMsg},
      {verb::post, "/repositories", false, kPool, kAdmin, bind(&Api::RegistryDeleteTag),
       ErrorShape::kSeedCodeMsg},
      {verb::get, "/repositories/tags", false, kPool, kViewer, bind(&Api::RegistryTags)},
      {verb::get, "/repositories/manifests", false, kPool, kViewer, bind(&Api::RegistryManifest)},
      {verb::get, "/healthz", false, kIo, kPublic, bind(&Api::Healthz)},
      {verb::get, "/readyz", false, kPool, kPublic, bind(&Api::Readyz)},
      {verb::get, "/metrics", false, kPool, kPublic, bind(&Api::Metrics)},
  };
}

}  // namespace market::server
