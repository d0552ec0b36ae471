// Handlers of /api/project/{new,delete,clone,info,list,save,dockerfile} and /api/plugin/*.

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "api.hpp"
#include "json_codec.hpp"
#include "logging.hpp"
#include "market/plugin_schema_json.hpp"
#include "market/validation.hpp"
#include "project_list_text.hpp"
#include "responses.hpp"

namespace market::server {

namespace {

Result<std::string> ProjectNameParam(const RequestParams& params, std::string_view field) {
  MARKET_ASSIGN_OR_RETURN(std::string raw, params.Required(field));
  return NormalizeProjectName(field, raw);
}

// An optional text parameter where empty means "not given" (forms send empty fields).
Result<std::optional<std::string>> NonEmpty(const RequestParams& params, std::string_view field) {
  Result<std::optional<std::string>> value = params.Optional(field);
  if (value && value->has_value() && (*value)->empty()) return std::optional<std::string>{};
  return value;
}

// What a list request asks for.
Result<ListRequest> ListRequestOf(const RequestContext& context) {
  MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
  ListRequest request;
  MARKET_ASSIGN_OR_RETURN(request.page, params.NumberText("page"));
  MARKET_ASSIGN_OR_RETURN(request.page_size, params.NumberText("page_size"));
  MARKET_ASSIGN_OR_RETURN(request.name_filter, params.Text("projectName"));
  MARKET_ASSIGN_OR_RETURN(request.after, params.Text("after"));
  request.with_pipeline = false;  // the list shows no plugins
  return request;
}

HandlerResult ListResult(const ProjectListing& listing) {
  return HandlerResult{TextResponse(http::status::ok, "application/json; charset=utf-8",
                                    ProjectListText(listing)),
                       nullptr};
}

// Builds an asynchronous answer under the request's id, as the blocking path runs; as there,
// an exception's text goes to the log and 10100 to the client. The answer comes on whichever
// thread the database's did, so the id is set here. A failure on the server's side is logged
// under it: the read's connection logged the driver's detail when it failed (without a request
// id: one lost connection fails every read on it).
template <class Build>
HandlerResult GuardedResult(const std::string& request_id, std::string_view what,
                            const Error* error, Build&& build) {
  RequestIdScope scope(request_id);
  if (error != nullptr && (error->code == Errc::kUnavailable || error->code == Errc::kInternal)) {
    spdlog::warn("{} failed: {}", what, error->message);
  }
  try {
    return build();
  } catch (const std::exception& e) {
    spdlog::error("{} failed: {}", what, e.what());
  }
  return ErrorResult(Error{Errc::kInternal, DefaultMessage(Errc::kInternal)});
}

// The Dockerfile as the client asked for it: the envelope, or the text itself.
HandlerResult DockerfileResult(const RequestContext& context, std::string text) {
  if (Accepts(context, "text/plain")) {
    return HandlerResult{
        TextResponse(http::status::ok, "text/plain; charset=utf-8", std::move(text)), nullptr};
  }
  return Ok(std::move(text));
}

}  // namespace

HandlerResult Api::NewProject(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    CreateRequest request;
    MARKET_ASSIGN_OR_RETURN(request.name, params.Required("projectName"));
    MARKET_ASSIGN_OR_RETURN(request.cluster, params.Optional("Cluster"));
    MARKET_ASSIGN_OR_RETURN(request.define_type, params.Optional("DefineDockerFileType"));
    MARKET_ASSIGN_OR_RETURN(Acting acting, ActingOf(context, params));
    request.operator_name = acting.operator_name;
    MARKET_RETURN_IF_ERROR(deps_.projects->Create(request, OriginOf(context, acting)));
    return Ok();
  });
}

HandlerResult Api::DeleteProject(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    MARKET_ASSIGN_OR_RETURN(std::string name, params.Required("projectName"));
    MARKET_ASSIGN_OR_RETURN(Acting acting, ActingOf(context, params));
    MARKET_RETURN_IF_ERROR(
        deps_.projects->Delete(name, acting.operator_name, OriginOf(context, acting)));
    return Ok();
  });
}

HandlerResult Api::CloneProject(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    MARKET_ASSIGN_OR_RETURN(std::string source, params.Required("srcProjectName"));
    MARKET_ASSIGN_OR_RETURN(std::string destination, params.Required("dstProjectName"));
    MARKET_ASSIGN_OR_RETURN(Acting acting, ActingOf(context, params));
    MARKET_RETURN_IF_ERROR(deps_.projects->Clone(source, destination, acting.operator_name,
                                                 OriginOf(context, acting)));
    return Ok();
  });
}

void Api::ProjectInfo(const RequestContext& context, Completion done) {
  Result<std::string> name = [&]() -> Result<std::string> {
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    return ProjectNameParam(params, "projectName");
  }();
  if (!name) return done(ErrorResult(name.error()));
  deps_.projects->Info(*name, [plugins = deps_.plugins, request_id = context.request_id,
                                done = std::move(done)](Result<Project> project) {
    done(GuardedResult(request_id, "project info", project ? nullptr : &project.error(),
                       [&]() -> HandlerResult {
                         return project ? Ok(ProjectToJson(*project, plugins))
                                        : ErrorResult(project.error());
                       }));
  });
}

void Api::ListProjects(const RequestContext& context, Completion done) {
  Result<ListRequest> request = ListRequestOf(context);
  if (!request) return done(ErrorResult(request.error()));
  deps_.projects->List(*request, [request_id = context.request_id,
                                  done = std::move(done)](Result<ProjectListing> listing) {
    done(GuardedResult(request_id, "project list", listing ? nullptr : &listing.error(),
                       [&]() -> HandlerResult {
                         return listing ? ListResult(*listing) : ErrorResult(listing.error());
                       }));
  });
}

HandlerResult Api::SaveProject(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    SaveRequest request;
    // The original's page sends `project`; API clients tend to send `projectName`.
    request.name_field =
        params.Has("projectName") && !params.Has("project") ? "projectName" : "project";
    MARKET_ASSIGN_OR_RETURN(request.name, params.Required(request.name_field));
    MARKET_ASSIGN_OR_RETURN(request.cluster, NonEmpty(params, "Cluster"));
    MARKET_ASSIGN_OR_RETURN(request.define_type, NonEmpty(params, "DefineDockerFileType"));
    MARKET_ASSIGN_OR_RETURN(request.add_or_update, params.Text("addOrUpdate"));
    MARKET_ASSIGN_OR_RETURN(request.pipeline, params.PipelineParam());
    MARKET_ASSIGN_OR_RETURN(Acting acting, ActingOf(context, params));
    request.operator_name = acting.operator_name;
    MARKET_RETURN_IF_ERROR(deps_.projects->Save(request, OriginOf(context, acting)));
    return Ok();
  });
}

HandlerResult Api::ProjectDockerfile(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    MARKET_ASSIGN_OR_RETURN(std::string name, params.Required("projectName"));
    MARKET_ASSIGN_OR_RETURN(RenderedDockerfile rendered, deps_.projects->Dockerfile(name));
    return DockerfileResult(context, std::move(rendered.text));
  });
}

HandlerResult Api::PreviewDockerfile(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    PreviewRequest request;
    MARKET_ASSIGN_OR_RETURN(request.define_type, params.Text("DefineDockerFileType"));
    MARKET_ASSIGN_OR_RETURN(request.pipeline, params.PipelineParam());
    MARKET_ASSIGN_OR_RETURN(RenderedDockerfile rendered, deps_.projects->Preview(request));
    return DockerfileResult(context, std::move(rendered.text));
  });
}

HandlerResult Api::PluginSchemas(const RequestContext&) {
  return Ok(SchemasToJson(*deps_.plugins));
}

HandlerResult Api::PluginExtension(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    MARKET_ASSIGN_OR_RETURN(std::string plugin_name, params.Required("plugin"));
    MARKET_ASSIGN_OR_RETURN(std::string method, params.Required("method"));
    const Plugin* plugin = deps_.plugins->Find(plugin_name);
    if (plugin == nullptr) {
      return Fail(Errc::kUnknownPlugin, fmt::format("plugin {} does not exist", plugin_name));
    }
    std::map<std::string, std::string> arguments = params.StringMap({"plugin", "method"});
    MARKET_ASSIGN_OR_RETURN(nlohmann::json result,
                            plugin->CallExtension(method, arguments,
                                                  ExtensionContext{deps_.registry}));
    return Ok(std::move(result));
  });
}

}  // namespace market::server
