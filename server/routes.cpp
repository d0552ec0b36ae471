#include "routes.hpp"

namespace market::server {

std::vector<Route> MakeRoutes(Api& api) {
  using http::verb;
  constexpr RunOn kPool = RunOn::kBlockingPool;
  constexpr RunOn kIo = RunOn::kIoThread;
  auto bind = [&api](HandlerResult (Api::*method)(const RequestContext&)) -> Handler {
    return [&api, method](const RequestContext& context) { return (api.*method)(context); };
  };
  // method, path, prefix, where it runs, needs authentication (when on), handler
  return {
      {verb::post, "/api/project/new", false, kPool, true, bind(&Api::NewProject)},
      {verb::post, "/api/project/delete", false, kPool, true, bind(&Api::DeleteProject)},
      {verb::post, "/api/project/clone", false, kPool, true, bind(&Api::CloneProject)},
      {verb::get, "/api/project/info", false, kPool, true, bind(&Api::ProjectInfo)},
      {verb::get, "/api/project/list", false, kPool, true, bind(&Api::ListProjects)},
      {verb::post, "/api/project/list", false, kPool, true, bind(&Api::ListProjects)},
      {verb::post, "/api/project/save", false, kPool, true, bind(&Api::SaveProject)},
      {verb::get, "/api/project/dockerfile", false, kPool, true, bind(&Api::ProjectDockerfile)},
      {verb::post, "/api/project/dockerfile", false, kPool, true, bind(&Api::PreviewDockerfile)},
      {verb::post, "/api/project/build", false, kPool, true, bind(&Api::StartBuild)},
      {verb::get, "/api/project/buildHistory", false, kPool, true, bind(&Api::BuildHistory)},
      {verb::get, "/api/project/buildLog", false, kPool, true, bind(&Api::BuildLog)},
      {verb::post, "/api/project/buildCancel", false, kPool, true, bind(&Api::CancelBuild)},
      {verb::get, "/api/plugin/schemas", false, kIo, true, bind(&Api::PluginSchemas)},
      {verb::post, "/api/plugin/extension/interface", false, kPool, true,
       bind(&Api::PluginExtension)},
      {verb::get, "/view/config/independent", false, kPool, true, bind(&Api::ConfigPage)},
      {verb::get, "/static/", true, kIo, false, bind(&Api::StaticAsset)},
      {verb::get, "/projects", false, kPool, true, bind(&Api::RegistryProjects)},
      {verb::get, "/repositories", false, kPool, true, bind(&Api::RegistryRepositories)},
      {verb::delete_, "/repositories", false, kPool, true, bind(&Api::RegistryDeleteTag)},
      {verb::post, "/repositories", false, kPool, true, bind(&Api::RegistryDeleteTag)},
      {verb::get, "/repositories/tags", false, kPool, true, bind(&Api::RegistryTags)},
      {verb::get, "/repositories/manifests", false, kPool, true, bind(&Api::RegistryManifest)},
      {verb::get, "/healthz", false, kIo, false, bind(&Api::Healthz)},
      {verb::get, "/readyz", false, kPool, false, bind(&Api::Readyz)},
  };
}

}  // namespace market::server
