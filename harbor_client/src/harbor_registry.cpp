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
  return ParseHarborTime(text);
}

// "<project>/<rest>" -> {project, rest}; Harbor repositories always live in a project.
Result<std::pair<std::string, std::string>> SplitRepository(std::string_view repository) {
  MARKET_RETURN_IF_ERROR(CheckRepository(repository));
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

Result<std::string> HarborQuery(std::string_view key, std::string_view value) {
  const std::string condition = std::string(key) + "=" + std::string(value);
  if (condition.find(',') != std::string::npos) {
    return Fail(Errc::kInvalid,
                "Harbor cannot filter on text with a ',' (its q parameter "
                "separates conditions with commas): " +
                    std::string(value.substr(0, 100)));
  }
  // The second decoding (url.QueryUnescape) would turn "%41" into "A" and "+" into a space.
  std::string protected_text;
  for (char c : condition) {
    if (c == '%') {
      protected_text += "%25";
    } else if (c == '+') {
      protected_text += "%2B";
    } else {
      protected_text.push_back(c);
    }
  }
  return PercentEncode(protected_text);
}

std::optional<TimePoint> ParseHarborTime(std::string_view text) {
  if (auto utc = ParseIso8601(text)) return utc;
  // "...[+-]HH:MM": the same instant in UTC is the local time minus the offset.
  if (text.size() < 7) return std::nullopt;
  const std::size_t at = text.size() - 6;
  const char sign = text[at];
  if ((sign != '+' && sign != '-') || text[at + 3] != ':') return std::nullopt;
  int hours = 0;
  int minutes = 0;
  for (std::size_t i : {at + 1, at + 2, at + 4, at + 5}) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
  }
  hours = (text[at + 1] - '0') * 10 + (text[at + 2] - '0');
  minutes = (text[at + 4] - '0') * 10 + (text[at + 5] - '0');
  if (hours > 23 || minutes > 59) return std::nullopt;
  auto local = ParseIso8601(std::string(text.substr(0, at)) + "Z");
  if (!local) return std::nullopt;
  const std::chrono::minutes offset(hours * 60 + minutes);
  return sign == '+' ? *local - offset : *local + offset;
}

HarborRegistry::HarborRegistry(std::unique_ptr<RegistryHttp> http, bool tls_verify)
    : http_(std::move(http)), tls_verify_(tls_verify) {}

std::string HarborRegistry::PushHost() const { return http_->base().HostPort(); }

Result<void> HarborRegistry::SignedIn(bool fresh) {
  if (http_->credentials().username.empty()) return {};  // anonymous by choice: public projects
  {
    std::lock_guard lock(mutex_);
    if (!fresh && signed_in_at_ && Clock::now() - *signed_in_at_ < kSignInLifetime) return {};
    signed_in_at_.reset();
  }
  // Harbor's v2auth middleware answers /v2/ (its "login" target) 401 to an anonymous caller,
  // and every account kind, an OIDC CLI secret included, is honoured there.
  MARKET_ASSIGN_OR_RETURN(auto response, http_->Send("GET", "/v2/"));
  if (response.status != 200) {
    return std::unexpected(http_->StatusError(
        response, "signing in as " + http_->credentials().username + " (GET /v2/)",
        "no registry API at /v2/"));
  }
  std::lock_guard lock(mutex_);
  signed_in_at_ = Clock::now();
  return {};
}

Result<std::optional<std::int64_t>> HarborRegistry::FindProject(const std::string& name) {
  MARKET_ASSIGN_OR_RETURN(auto q, HarborQuery("name", name));
  auto response =
      http_->Send("GET", std::string(kApi) + "/projects?q=" + q + "&page=1&page_size=10");
  if (!response) return std::unexpected(response.error());
  if (response->status != 200) {
    return std::unexpected(
        http_->StatusError(*response, "looking up project " + name, "project API not found"));
  }
  MARKET_ASSIGN_OR_RETURN(auto body, ParseArray(*response, "looking up a project"));
  for (const auto& item : body) {
    if (Str(item, "name") == name) return std::optional<std::int64_t>(Int(item, "project_id"));
  }
  return std::optional<std::int64_t>();
}

Error HarborRegistry::ProjectForbidden(const HttpResponse& response, const std::string& project,
                                       const std::string& what, const std::string& missing) {
  auto found = FindProject(project);
  if (!found) return found.error();
  if (!*found) {
    return Error{Errc::kNotFound, "registry: " + missing + " (no project " + project +
                                      " visible to " + http_->credentials().username + ")"};
  }
  return http_->StatusError(response, what, missing);
}

// Registry ------------------------------------------------------------------------------------

Result<Paged<RegistryProject>> HarborRegistry::ListProjects(std::string_view name_filter,
                                                            RegistryPage page) {
  MARKET_RETURN_IF_ERROR(CheckPage(page));
  MARKET_RETURN_IF_ERROR(SignedIn());
  std::string target = std::string(kApi) + "/projects?page=" + std::to_string(page.page) +
                       "&page_size=" + std::to_string(page.page_size) + "&sort=name";
  if (!name_filter.empty()) target += "&name=" + PercentEncode(name_filter);
  MARKET_ASSIGN_OR_RETURN(auto response, http_->Send("GET", target));
  if (response.status != 200) {
    return std::unexpected(
        http_->StatusError(response, "listing projects", "project API not found"));
  }
  MARKET_ASSIGN_OR_RETURN(auto body, ParseArray(response, "listing projects"));
  Paged<RegistryProject> out;
  for (const auto& item : body) {
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
  out.total_count = TotalCount(response, page, out.items.size());
  return out;
}

Result<Paged<RegistryRepository>> HarborRegistry::ListRepositories(std::int64_t project_id,
                                                                   std::string_view query,
                                                                   RegistryPage page) {
  MARKET_RETURN_IF_ERROR(CheckPage(page));
  std::string filter;
  if (!query.empty()) {
    MARKET_ASSIGN_OR_RETURN(auto q, HarborQuery("name", "~" + std::string(query)));
    filter = "&q=" + q;
  }
  MARKET_RETURN_IF_ERROR(SignedIn());
  const std::string id = std::to_string(project_id);
  MARKET_ASSIGN_OR_RETURN(auto by_id, HarborQuery("project_id", id));
  auto project =
      http_->Send("GET", std::string(kApi) + "/projects?q=" + by_id + "&page=1&page_size=1");
  if (!project) return std::unexpected(project.error());
  if (project->status != 200) {
    return std::unexpected(
        http_->StatusError(*project, "reading project " + id, "project id " + id + " not found"));
  }
  MARKET_ASSIGN_OR_RETURN(auto projects, ParseArray(*project, "reading a project"));
  std::string name;
  for (const auto& item : projects) {
    if (Int(item, "project_id") == project_id) name = Str(item, "name");
  }
  if (name.empty()) return Fail(Errc::kNotFound, "registry: project id " + id + " not found");

  const std::string target = std::string(kApi) + "/projects/" + PercentEncode(name) +
                             "/repositories?page=" + std::to_string(page.page) +
                             "&page_size=" + std::to_string(page.page_size) + "&sort=name" + filter;
  MARKET_ASSIGN_OR_RETURN(auto response, http_->Send("GET", target));
  const std::string missing = "project " + name + " not found";
  if (response.status == 403) {
    return std::unexpected(
        ProjectForbidden(response, name, "listing repositories of " + name, missing));
  }
  if (response.status != 200) {
    return std::unexpected(
        http_->StatusError(response, "listing repositories of " + name, missing));
  }
  MARKET_ASSIGN_OR_RETURN(auto body, ParseArray(response, "listing repositories"));
  Paged<RegistryRepository> out;
  for (const auto& item : body) out.items.push_back({Str(item, "name")});
  out.total_count = TotalCount(response, page, out.items.size());
  return out;
}

Result<std::vector<RegistryTag>> HarborRegistry::ReadAllTags(const std::string& project,
                                                             const std::string& rest) {
  const std::string name = project + "/" + rest;
  const std::string missing = "repository " + name + " not found";
  const std::string what = "listing tags of " + name;
  MARKET_ASSIGN_OR_RETURN(auto tagged, HarborQuery("tags", "*"));
  const std::string base = std::string(kApi) + "/projects/" + PercentEncode(project) +
                           "/repositories/" + HarborRepositoryPath(rest) +
                           "/artifacts?with_tag=true&q=" + tagged + "%2C";
  // Pages are cut by artifact id (always page 1 of "id=[next~]", sorted by id), not by number:
  // Harbor's default order is newest first, and a tag moved to a new artifact takes the old one
  // out of the tagged list, so numbered pages shift under a push and repeat or skip artifacts.
  // Ids only grow: a push lands after everything read so far.
  std::map<std::string, RegistryTag> by_name;
  std::int64_t last_id = 0;
  for (int number = 1; number <= kMaxPages; ++number) {
    MARKET_ASSIGN_OR_RETURN(auto from, HarborQuery("id", "[" + std::to_string(last_id + 1) + "~]"));
    MARKET_ASSIGN_OR_RETURN(auto response,
                            http_->Send("GET", base + from + "&sort=id&page_size=" +
                                                   std::to_string(kHarborMaxPageSize) + "&page=1"));
    if (response.status == 403) {
      return std::unexpected(ProjectForbidden(response, project, what, missing));
    }
    if (response.status != 200) {
      return std::unexpected(http_->StatusError(response, what, missing));
    }
    MARKET_ASSIGN_OR_RETURN(auto body, ParseArray(response, "listing artifacts"));
    const std::int64_t before = last_id;
    for (const auto& artifact : body) {
      last_id = std::max(last_id, Int(artifact, "id"));
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
        t.pushed = Time(tag, "push_time");
        t.created = created ? created : t.pushed;
        // A tag moved to a newer artifact during the listing: the later (newer) one wins.
        by_name[t.name] = std::move(t);
      }
    }
    // A short page is the end; so is a page whose ids do not advance (a broken answer).
    if (body.size() < static_cast<std::size_t>(kHarborMaxPageSize) || last_id == before) break;
  }
  if (by_name.empty()) {
    // Harbor lists no artifacts, not a 404, for a repository that does not exist.
    MARKET_ASSIGN_OR_RETURN(auto exact, HarborQuery("name", name));
    MARKET_ASSIGN_OR_RETURN(
        auto response,
        http_->Send("GET", std::string(kApi) + "/projects/" + PercentEncode(project) +
                               "/repositories?q=" + exact + "&page=1&page_size=1"));
    if (response.status == 403) {
      return std::unexpected(ProjectForbidden(response, project, what, missing));
    }
    if (response.status != 200) {
      return std::unexpected(http_->StatusError(response, what, missing));
    }
    MARKET_ASSIGN_OR_RETURN(auto body, ParseArray(response, "looking up a repository"));
    if (body.empty()) return Fail(Errc::kNotFound, "registry: " + missing);
  }
  std::vector<RegistryTag> tags;
  tags.reserve(by_name.size());
  for (auto& [tag_name, tag] : by_name) tags.push_back(std::move(tag));
  return tags;
}

Result<Paged<RegistryTag>> HarborRegistry::ListTags(std::string_view repository,
                                                    RegistryPage page) {
  MARKET_RETURN_IF_ERROR(CheckPage(page));
  MARKET_ASSIGN_OR_RETURN(auto parts, SplitRepository(repository));
  const std::string name(repository);
  if (page.page > 1) {
    std::lock_guard lock(mutex_);
    auto snapshot = tag_snapshots_.find(name);
    if (snapshot != tag_snapshots_.end() &&
        Clock::now() - snapshot->second.made < kTagSnapshotLifetime) {
      return Slice(snapshot->second.tags, page);
    }
  }
  MARKET_RETURN_IF_ERROR(SignedIn());
  MARKET_ASSIGN_OR_RETURN(auto tags, ReadAllTags(parts.first, parts.second));
  {
    std::lock_guard lock(mutex_);
    const auto now = Clock::now();
    std::erase_if(tag_snapshots_, [&](const auto& entry) {
      return now - entry.second.made >= kTagSnapshotLifetime;
    });
    tag_snapshots_[name] = TagSnapshot{tags, now};
  }
  return Slice(std::move(tags), page);
}

Result<RegistryManifest> HarborRegistry::GetManifest(std::string_view repository,
                                                     std::string_view reference) {
  MARKET_RETURN_IF_ERROR(SignedIn());
  MARKET_ASSIGN_OR_RETURN(auto info, FetchManifest(*http_, repository, reference, true));
  return std::move(info.manifest);
}

Result<void> HarborRegistry::DeleteTag(std::string_view repository, std::string_view tag,
                                       bool /*force*/) {
  MARKET_RETURN_IF_ERROR(CheckTag(tag));
  const std::string t(tag);
  // The artifact is addressed by the tag itself; only that tag goes, the artifact stays.
  return DeleteArtifact(repository, t + "/tags/" + t, "tag " + t + " of " + std::string(repository),
                        "tag " + t + " of repository " + std::string(repository) + " not found");
}

Result<void> HarborRegistry::DeleteManifest(std::string_view repository, std::string_view digest) {
  MARKET_RETURN_IF_ERROR(CheckDigest(digest));
  const std::string d(digest);
  // Deleting the artifact deletes its tags; Harbor's GC frees the blobs later.
  return DeleteArtifact(repository, d, std::string(repository) + "@" + d,
                        "manifest " + d + " of repository " + std::string(repository) +
                            " not found");
}

Result<void> HarborRegistry::DeleteArtifact(std::string_view repository,
                                            const std::string& reference,
                                            const std::string& subject,
                                            const std::string& missing) {
  MARKET_ASSIGN_OR_RETURN(auto parts, SplitRepository(repository));
  MARKET_RETURN_IF_ERROR(SignedIn());
  const std::string name(repository);
  {
    std::lock_guard lock(mutex_);
    tag_snapshots_.erase(name);
  }
  MARKET_ASSIGN_OR_RETURN(
      auto response,
      http_->Send("DELETE", std::string(kApi) + "/projects/" + PercentEncode(parts.first) +
                                "/repositories/" + HarborRepositoryPath(parts.second) +
                                "/artifacts/" + reference));
  if (response.status == 200 || response.status == 202 || response.status == 204) {
    MARKET_LOG_INFO("registry: deleted {}", subject);
    return {};
  }
  if (response.status == 405 || response.status == 412) {
    const auto detail = RegistryErrorText(response.body);
    return Fail(Errc::kRegistryUnsupported, "registry refuses to delete " + subject + " (" +
                                                std::to_string(response.status) +
                                                (detail.empty() ? "" : " " + detail) +
                                                "; an immutable tag rule?)");
  }
  const std::string what = "deleting " + subject;
  if (response.status == 403) {
    return std::unexpected(ProjectForbidden(response, parts.first, what, missing));
  }
  return std::unexpected(http_->StatusError(response, what, missing));
}

Result<void> HarborRegistry::EnsureProject(std::string_view project) {
  if (auto ok = CheckRepository(project); !ok || project.find('/') != std::string_view::npos) {
    return Fail(Errc::kInvalid, "project: not a valid registry project name: " +
                                    std::string(project.substr(0, 300)));
  }
  MARKET_RETURN_IF_ERROR(SignedIn());
  const std::string name(project);
  MARKET_ASSIGN_OR_RETURN(auto found, FindProject(name));
  if (found) return {};
  json request = {{"project_name", name}, {"metadata", {{"public", "false"}}}};
  auto created = http_->Send("POST", std::string(kApi) + "/projects",
                             {{"Content-Type", "application/json"}}, request.dump());
  if (!created) return std::unexpected(created.error());
  if (created->status == 201 || created->status == 200) {
    MARKET_LOG_INFO("registry: created Harbor project {}", name);
    return {};
  }
  if (created->status == 409) return {};  // it exists (created meanwhile, or not visible to us)
  if (created->status == 403) {
    const std::string detail = RegistryErrorText(created->body);
    return Fail(Errc::kUpstreamFailed,
                http_->Redact(
                    "registry: Harbor refuses to create project " + name + " for " +
                    http_->credentials().username + " (403" + (detail.empty() ? "" : " " + detail) +
                    "): creating a project needs a system robot account with the system "
                    "permission Project: Create (Harbor 2.5 and later refuse project robots), or "
                    "a Harbor administrator when project creation is restricted to "
                    "administrators (project_creation_restriction=adminonly); or create the "
                    "project in Harbor beforehand. See \"The Harbor account\" in docs/ops.md"));
  }
  return std::unexpected(
      http_->StatusError(*created, "creating project " + name, "project API not found"));
}

Result<void> HarborRegistry::Ping() {
  MARKET_ASSIGN_OR_RETURN(auto response, http_->Send("GET", std::string(kApi) + "/systeminfo"));
  if (response.status != 200) {
    return std::unexpected(http_->StatusError(response, "checking the Harbor API",
                                              "no Harbor API v2.0 at " + std::string(kApi)));
  }
  return SignedIn(true);
}

}  // namespace market::harbor
