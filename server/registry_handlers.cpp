// Handlers of the seed's registry section (/projects, /repositories...): answered through
// market::Registry in the seed's own shapes, which are not the /api envelope.

#include <charconv>

#include <boost/beast/core/string.hpp>
#include <fmt/format.h>

#include "api.hpp"
#include "json_codec.hpp"
#include "market/registry_changes.hpp"
#include "market/validation.hpp"
#include "responses.hpp"

namespace market::server {

namespace {

Result<Registry*> RequireRegistry(Registry* registry) {
  if (registry == nullptr) {
    return Fail(Errc::kRegistryNotConfigured,
                "no registry configured (start market-server with --registry URL)");
  }
  return registry;
}

Result<RegistryPage> PageParams(const RequestParams& params) {
  RegistryPage page;
  MARKET_ASSIGN_OR_RETURN(std::string page_text, params.NumberText("page"));
  MARKET_ASSIGN_OR_RETURN(std::string size_text, params.NumberText("page_size"));
  std::string_view size_field = "page_size";
  if (size_text.empty()) {  // the seed's parameter tables also say "pagesize"
    MARKET_ASSIGN_OR_RETURN(size_text, params.NumberText("pagesize"));
    size_field = "pagesize";
  }
  MARKET_ASSIGN_OR_RETURN(page.page, ParsePage("page", page_text));
  MARKET_ASSIGN_OR_RETURN(page.page_size, ParsePageSize(size_field, size_text));
  return page;
}

bool IsDelete(std::string_view method) { return boost::beast::iequals(method, "DELETE"); }

// A JSON array with the total in X-Total-Count, as Harbor pages.
HandlerResult PagedArray(nlohmann::json items, std::int64_t total_count) {
  HttpResponse response = JsonResponse(http::status::ok, items);
  response.set("X-Total-Count", std::to_string(total_count));
  return HandlerResult{std::move(response), nullptr};
}

}  // namespace

// The seed names a repository by its path ("default_cluster/myweb") or, in its own examples, by
// the Image Market project it holds ("myweb"): a name without '/' is the project's repository.
Result<std::string> Api::RepositoryParameter(const RequestParams& params,
                                             std::string_view field) const {
  MARKET_ASSIGN_OR_RETURN(std::string text, params.Required(field));
  if (text.find('/') != std::string::npos) return text;
  Result<std::string> name = NormalizeProjectName(field, text);
  if (!name) {
    return Fail(Errc::kInvalid, fmt::format("{} must be a repository path (<cluster>/<name>) or "
                                            "a project name: {}",
                                            field, name.error().message));
  }
  Result<Project> project = deps_.projects->Info(*name);
  if (!project) {
    if (project.error().code != Errc::kNotFound) return std::unexpected(project.error());
    return Fail(Errc::kNotFound,
                fmt::format("{} '{}' names no project, and a repository path has a '/'", field,
                            *name));
  }
  return fmt::format("{}/{}", project->cluster, project->name);
}

HandlerResult Api::RegistryProjects(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(Registry * registry, RequireRegistry(deps_.registry));
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    MARKET_ASSIGN_OR_RETURN(RegistryPage page, PageParams(params));
    MARKET_ASSIGN_OR_RETURN(std::string filter_text, params.Text("project_name"));
    MARKET_ASSIGN_OR_RETURN(std::string filter, ValidateNameFilter("project_name", filter_text));
    MARKET_ASSIGN_OR_RETURN(Paged<RegistryProject> projects, registry->ListProjects(filter, page));
    nlohmann::json items = nlohmann::json::array();
    for (const RegistryProject& project : projects.items) {
      items.push_back(RegistryProjectToJson(project));
    }
    return PagedArray(std::move(items), projects.total_count);
  });
}

HandlerResult Api::RegistryRepositories(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(Registry * registry, RequireRegistry(deps_.registry));
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    MARKET_ASSIGN_OR_RETURN(std::string id_text, params.NumberText("project_id"));
    if (id_text.empty()) return Fail(Errc::kInvalid, "project_id is required");
    std::int64_t project_id = 0;
    auto [end, ec] = std::from_chars(id_text.data(), id_text.data() + id_text.size(), project_id);
    if (ec != std::errc() || end != id_text.data() + id_text.size() || project_id < 0) {
      return Fail(Errc::kInvalid, fmt::format("project_id must be an integer, not '{}'", id_text));
    }
    MARKET_ASSIGN_OR_RETURN(std::string query_text, params.Text("q"));
    MARKET_ASSIGN_OR_RETURN(std::string query, ValidateNameFilter("q", query_text));
    MARKET_ASSIGN_OR_RETURN(RegistryPage page, PageParams(params));
    MARKET_ASSIGN_OR_RETURN(Paged<RegistryRepository> repositories,
                            registry->ListRepositories(project_id, query, page));
    nlohmann::json items = nlohmann::json::array();
    for (const RegistryRepository& repository : repositories.items) {
      items.push_back({{"name", repository.name}});
    }
    return PagedArray(std::move(items), repositories.total_count);
  });
}

HandlerResult Api::RegistryTags(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(Registry * registry, RequireRegistry(deps_.registry));
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    MARKET_ASSIGN_OR_RETURN(std::string repository, RepositoryParameter(params, "repo_name"));
    MARKET_ASSIGN_OR_RETURN(RegistryPage page, PageParams(params));
    MARKET_ASSIGN_OR_RETURN(Paged<RegistryTag> tags, registry->ListTags(repository, page));
    nlohmann::json items = nlohmann::json::array();
    for (const RegistryTag& tag : tags.items) {
      // The console marks a protected tag and offers no delete for it.
      std::optional<std::int64_t> protecting;
      if (deps_.immutability != nullptr) {
        MARKET_ASSIGN_OR_RETURN(std::optional<ImmutabilityRule> rule,
                                deps_.immutability->Protecting(repository, tag.name));
        if (rule) protecting = rule->id;
      }
      items.push_back(RegistryTagToJson(tag, protecting));
    }
    return PagedArray(std::move(items), tags.total_count);
  });
}

HandlerResult Api::RegistryManifest(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(Registry * registry, RequireRegistry(deps_.registry));
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    MARKET_ASSIGN_OR_RETURN(std::string repository, RepositoryParameter(params, "repo_name"));
    MARKET_ASSIGN_OR_RETURN(std::string tag, params.Required("tag"));
    MARKET_ASSIGN_OR_RETURN(market::RegistryManifest manifest,
                            registry->GetManifest(repository, tag));
    nlohmann::json parsed = nlohmann::json::parse(manifest.manifest_json, nullptr, false);
    nlohmann::json body = {
        {"config", manifest.config_json},  // the seed's shape: the config as a JSON string
        {"manifest", parsed.is_discarded() ? nlohmann::json(manifest.manifest_json) : parsed},
        {"digest", manifest.digest},
        {"mediaType", manifest.media_type}};
    return HandlerResult{JsonResponse(http::status::ok, body), nullptr};
  });
}

// The seed: repoName is the tag, projectName the repository (or the project holding it). Answers {code: 0, msg: ""}; an
// error is the envelope here, turned into {code, msg} with the code's HTTP status by the route's
// error shape (routes.cpp), like every refusal of this route.
HandlerResult Api::RegistryDeleteTag(const RequestContext& context) {
  auto run = [&]() -> Result<void> {
    MARKET_ASSIGN_OR_RETURN(Registry * registry, RequireRegistry(deps_.registry));
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    if (context.message.method() == http::verb::post) {
      MARKET_ASSIGN_OR_RETURN(std::string method, params.Text("method"));
      bool is_delete =
          IsDelete(method) || IsDelete(HeaderValue(context.message, "X-HTTP-Method-Override"));
      if (!is_delete) {
        return Fail(Errc::kInvalid, "POST /repositories deletes only: send method=DELETE");
      }
    }
    MARKET_ASSIGN_OR_RETURN(std::string tag, params.Required("repoName"));
    MARKET_ASSIGN_OR_RETURN(std::string repository, RepositoryParameter(params, "projectName"));
    MARKET_ASSIGN_OR_RETURN(bool force, params.Flag("force"));
    MARKET_ASSIGN_OR_RETURN(Acting acting, ActingOf(context, params, /*required=*/false));
    return market::DeleteTag(*registry, auditor_.Trail(),
                             TagDeleteRequest{repository, tag, force, acting.operator_name},
                             OriginOf(context, acting), deps_.webhooks, deps_.immutability);
  };
  Result<void> result = run();
  if (!result) return ErrorResult(result.error());
  return HandlerResult{JsonResponse(http::status::ok, {{"code", 0}, {"msg", ""}}), nullptr};
}

}  // namespace market::server
