#include "harbor_registry.hpp"

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>

#include "log.hpp"

namespace market::harbor {

namespace {

constexpr const char* kApi = "/api/v2.0";
constexpr int kHarborMaxPageSize = 100;
constexpr int kMaxPages = 10000;

using nlohmann::json;

std::optional<std::int64_t> ParseCount(const std::optional<std::string>& text) {
  if (!text) return std::nullopt;
  std::int64_t value = 0;
  const auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec != std::errc() || ptr != text->data() + text->size() || value < 0) return std::nullopt;
  return value;
}

// X-Total-Count when Harbor sends it; otherwise what the Link header proves at least exists.
std::int64_t TotalCount(const HttpResponse& response, RegistryPage page, std::size_t items) {
  if (auto total = ParseCount(response.Header("X-Total-Count"))) return *total;
  const bool more = NextLink(response.Header("Link").value_or("")).has_value();
  return static_cast<std::int64_t>(page.page - 1) * page.page_size +
         static_cast<std::int64_t>(items) + (more ? 1 : 0);
}

std::string Str(const json& object, const char* key) {
  if (object.is_object() && object.contains(key) && object[key].is_string()) {
    return object[key].get<std::string>();
  }
  return {};
}

std::int64_t Int(const json& object, const char* key) {
  if (object.is_object() && object.contains(key) && object[key].is_number_integer()) {
    return object[key].get<std::int64_t>();
  }
  return 0;
}

std::optional<TimePoint> Time(const json& object, const char* key) {
  const std::string text = Str(object, key);
  if (text.empty()) return std::nullopt;
  return ParseIso8601(text);
}

// "<project>/<rest>" -> {project, rest}; Harbor repositories always live in a project.
Result<std::pair<std::string, std::string>> SplitRepository(std::string_view repository) {
  if (auto ok = CheckRepository(repository); !ok) return std::unexpected(ok.error());
  const auto slash = repository.find('/');
  if (slash == std::string_view::npos) {
    return Fail(Errc::kInvalid,
                "repository: expected <project>/<name>, got " + std::string(repository));
  }
  return std::pair{std::string(repository.substr(0, slash)),
                   std::string(repository.substr(slash + 1))};
}

Result<json> ParseArray(const HttpResponse& response, std::string_view what) {
  auto body = json::parse(response.body, nullptr, false);
  if (!body.is_array()) {
    return Fail(Errc::kUpstreamFailed,
                "registry: " + std::string(what) + ": answer is not a JSON array");
  }
  return body;
}

}  // namespace

std::string HarborRepositoryPath(std::string_view repository_without_project) {
  return PercentEncode(PercentEncode(repository_without_project));
}

HarborRegistry::HarborRegistry(std::unique_ptr<RegistryHttp> http, bool tls_verify)
    : http_(std::move(http)), tls_verify_(tls_verify) {}

std::string HarborRegistry::PushHost() const { return http_->base().HostPort(); }

// Registry ------------------------------------------------------------------------------------

Result<Paged<RegistryProject>> HarborRegistry::ListProjects(std::string_view name_filter,
                                                            RegistryPage page) {
  if (auto ok = CheckPage(page); !ok) return std::unexpected(ok.error());
  std::string target = std::string(kApi) + "/projects?page=" + std::to_string(page.page) +
                       "&page_size=" + std::to_string(page.page_size) + "&sort=name";
  if (!name_filter.empty()) target += "&name=" + PercentEncode(name_filter);
  auto response = http_->Send("GET", target);
  if (!response) return std::unexpected(response.error());
  if (response->status != 200) {
    return std::unexpected(
        http_->StatusError(*response, "listing projects", "project API not found"));
  }
  auto body = ParseArray(*response, "listing projects");
  if (!body) return std::unexpected(body.error());
  Paged<RegistryProject> out;
  for (const auto& item : *body) {
    RegistryProject p;
    p.project_id = Int(item, "project_id");
    p.name = Str(item, "name");
    p.creation_time = Time(item, "creation_time");
    p.update_time = Time(item, "update_time");
    p.repo_count = Int(item, "repo_count");
    p.owner_id = Int(item, "owner_id");
    p.is_public = item.contains("metadata") && Str(item["metadata"], "public") == "true";
    out.items.push_back(std::move(p));
  }
  out.total_count = TotalCount(*response, page, out.items.size());
  return out;
}

Result<Paged<RegistryRepository>> HarborRegistry::ListRepositories(std::int64_t project_id,
                                                                   std::string_view query,
                                                                   RegistryPage page) {
  if (auto ok = CheckPage(page); !ok) return std::unexpected(ok.error());
  const std::string id = std::to_string(project_id);
  // The repositories API wants the project's name.
  auto project =
      http_->Send("GET", std::string(kApi) + "/projects/" + id, {{"X-Is-Resource-Name", "false"}});
  if (!project) return std::unexpected(project.error());
  if (project->status != 200) {
    return std::unexpected(
        http_->StatusError(*project, "reading project " + id, "project id " + id + " not found"));
  }
  const std::string name = Str(json::parse(project->body, nullptr, false), "name");
  if (name.empty()) return Fail(Errc::kUpstreamFailed, "registry: project " + id + " has no name");

  std::string target = std::string(kApi) + "/projects/" + PercentEncode(name) +
                       "/repositories?page=" + std::to_string(page.page) +
                       "&page_size=" + std::to_string(page.page_size) + "&sort=name";
  if (!query.empty()) target += "&q=" + PercentEncode("name=~" + std::string(query));
  auto response = http_->Send("GET", target);
  if (!response) return std::unexpected(response.error());
  if (response->status != 200) {
    return std::unexpected(http_->StatusError(*response, "listing repositories of " + name,
                                              "project " + name + " not found"));
  }
  auto body = ParseArray(*response, "listing repositories");
  if (!body) return std::unexpected(body.error());
  Paged<RegistryRepository> out;
  for (const auto& item : *body) out.items.push_back({Str(item, "name")});
  out.total_count = TotalCount(*response, page, out.items.size());
  return out;
}

Result<Paged<RegistryTag>> HarborRegistry::ListTags(std::string_view repository,
                                                    RegistryPage page) {
  if (auto ok = CheckPage(page); !ok) return std::unexpected(ok.error());
  auto parts = SplitRepository(repository);
  if (!parts) return std::unexpected(parts.error());
  const std::string name(repository);
  const std::string base = std::string(kApi) + "/projects/" + PercentEncode(parts->first) +
                           "/repositories/" + HarborRepositoryPath(parts->second) +
                           "/artifacts?with_tag=true&q=" + PercentEncode("tags=*") +
                           "&page_size=" + std::to_string(kHarborMaxPageSize) + "&page=";
  // An artifact carries any number of tags, so tag pages cannot be artifact pages: read every
  // tagged artifact (Link and X-Total-Count say when to stop), then page the tags by name. The
  // next page is asked for by number: Harbor's own Link targets lose the double encoding.
  std::vector<RegistryTag> tags;
  std::int64_t artifacts_seen = 0;
  for (int number = 1; number <= kMaxPages; ++number) {
    auto response = http_->Send("GET", base + std::to_string(number));
    if (!response) return std::unexpected(response.error());
    if (response->status != 200) {
      return std::unexpected(http_->StatusError(*response, "listing tags of " + name,
                                                "repository " + name + " not found"));
    }
    auto body = ParseArray(*response, "listing artifacts");
    if (!body) return std::unexpected(body.error());
    for (const auto& artifact : *body) {
      ++artifacts_seen;
      const std::string digest = Str(artifact, "digest");
      const std::int64_t size = Int(artifact, "size");
      std::optional<TimePoint> created;
      if (artifact.contains("extra_attrs")) created = Time(artifact["extra_attrs"], "created");
      if (!artifact.contains("tags") || !artifact["tags"].is_array()) continue;
      for (const auto& tag : artifact["tags"]) {
        RegistryTag t;
        t.name = Str(tag, "name");
        t.digest = digest;
        t.size = size;
        t.created = created ? created : Time(tag, "push_time");
        tags.push_back(std::move(t));
      }
    }
    const auto total = ParseCount(response->Header("X-Total-Count"));
    const bool more = NextLink(response->Header("Link").value_or("")).has_value();
    if (body->empty() || !more || (total && artifacts_seen >= *total)) break;
  }
  std::sort(tags.begin(), tags.end(),
            [](const RegistryTag& a, const RegistryTag& b) { return a.name < b.name; });
  return Slice(std::move(tags), page);
}

Result<RegistryManifest> HarborRegistry::GetManifest(std::string_view repository,
                                                     std::string_view reference) {
  auto info = FetchManifest(*http_, repository, reference, true);
  if (!info) return std::unexpected(info.error());
  return std::move(info->manifest);
}

Result<void> HarborRegistry::DeleteTag(std::string_view repository, std::string_view tag,
                                       bool /*force*/) {
  auto parts = SplitRepository(repository);
  if (!parts) return std::unexpected(parts.error());
  if (auto ok = CheckTag(tag); !ok) return std::unexpected(ok.error());
  const std::string name(repository);
  const std::string t(tag);
  // The artifact is addressed by the tag itself; only that tag goes, the artifact stays.
  auto response = http_->Send(
      "DELETE", std::string(kApi) + "/projects/" + PercentEncode(parts->first) + "/repositories/" +
                    HarborRepositoryPath(parts->second) + "/artifacts/" + t + "/tags/" + t);
  if (!response) return std::unexpected(response.error());
  if (response->status == 200 || response->status == 202 || response->status == 204) {
    MARKET_LOG_INFO("registry: deleted tag {} of {}", t, name);
    return {};
  }
  if (response->status == 405 || response->status == 412) {
    const auto detail = RegistryErrorText(response->body);
    return Fail(Errc::kRegistryUnsupported, "registry refuses to delete tag " + t + " of " + name +
                                                " (" + std::to_string(response->status) +
                                                (detail.empty() ? "" : " " + detail) +
                                                "; an immutable tag rule?)");
  }
  return std::unexpected(http_->StatusError(*response, "deleting tag " + t + " of " + name,
                                            "tag " + t + " of repository " + name + " not found"));
}

Result<void> HarborRegistry::EnsureProject(std::string_view project) {
  if (auto ok = CheckRepository(project); !ok || project.find('/') != std::string_view::npos) {
    return Fail(Errc::kInvalid, "project: not a valid registry project name: " +
                                    std::string(project.substr(0, 300)));
  }
  const std::string name(project);
  auto head =
      http_->Send("HEAD", std::string(kApi) + "/projects?project_name=" + PercentEncode(name));
  if (!head) return std::unexpected(head.error());
  if (head->status == 200) return {};
  if (head->status != 404) {
    return std::unexpected(
        http_->StatusError(*head, "checking project " + name, "project API not found"));
  }
  json request = {{"project_name", name}, {"metadata", {{"public", "false"}}}};
  auto created = http_->Send("POST", std::string(kApi) + "/projects",
                             {{"Content-Type", "application/json"}}, request.dump());
  if (!created) return std::unexpected(created.error());
  if (created->status == 201 || created->status == 200) {
    MARKET_LOG_INFO("registry: created Harbor project {}", name);
    return {};
  }
  if (created->status == 409) return {};  // someone created it in between: what we wanted
  return std::unexpected(
      http_->StatusError(*created, "creating project " + name, "project API not found"));
}

Result<void> HarborRegistry::Ping() {
  auto response = http_->Send("GET", std::string(kApi) + "/projects?page=1&page_size=1");
  if (!response) return std::unexpected(response.error());
  if (response->status == 200) return {};
  return std::unexpected(http_->StatusError(*response, "checking the Harbor API",
                                            "no Harbor API v2.0 at " + std::string(kApi)));
}

}  // namespace market::harbor
