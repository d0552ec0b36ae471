#include "distribution_registry.hpp"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "log.hpp"

namespace market::harbor {

namespace {

constexpr int kMaxPages = 100000;  // a guard against a registry whose Link never ends

std::string ProjectOf(std::string_view repository) {
  const auto slash = repository.find('/');
  return slash == std::string_view::npos ? std::string() : std::string(repository.substr(0, slash));
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

}  // namespace

std::int64_t SyntheticProjectId(std::string_view project_name) {
  std::uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : project_name) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  const auto id = static_cast<std::int64_t>(hash & ((std::uint64_t{1} << 53) - 1));
  return id == 0 ? 1 : id;
}

DistributionRegistry::DistributionRegistry(std::unique_ptr<RegistryHttp> http, bool tls_verify)
    : http_(std::move(http)), tls_verify_(tls_verify) {}

std::string DistributionRegistry::PushHost() const { return http_->base().HostPort(); }

Result<std::vector<std::string>> DistributionRegistry::Catalog() {
  std::vector<std::string> names;
  Url url = http_->base();
  url.target = "/v2/_catalog?n=1000";
  for (int pages = 0; pages < kMaxPages; ++pages) {
    MARKET_ASSIGN_OR_RETURN(auto response, http_->SendUrl("GET", url));
    if (response.status != 200) {
      return std::unexpected(
          http_->StatusError(response, "listing the catalog", "the catalog API is missing"));
    }
    auto json = nlohmann::json::parse(response.body, nullptr, false);
    if (!json.is_object()) return Fail(Errc::kUpstreamFailed, "registry: catalog is not JSON");
    if (json.contains("repositories") && json["repositories"].is_array()) {
      for (const auto& name : json["repositories"]) {
        if (name.is_string()) names.push_back(name.get<std::string>());
      }
    }
    const auto next = NextLink(response.Header("Link").value_or(""));
    if (!next) break;
    auto resolved = ResolveUrl(url, *next);
    if (!resolved || resolved->Origin() != url.Origin()) {
      return Fail(Errc::kUpstreamFailed, "registry: catalog Link leads elsewhere");
    }
    url = *resolved;
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

Result<std::vector<std::string>> DistributionRegistry::AllTags(const std::string& repository) {
  MARKET_RETURN_IF_ERROR(CheckRepository(repository));
  std::vector<std::string> tags;
  Url url = http_->base();
  url.target = "/v2/" + repository + "/tags/list?n=1000";
  for (int pages = 0; pages < kMaxPages; ++pages) {
    MARKET_ASSIGN_OR_RETURN(auto response, http_->SendUrl("GET", url));
    if (response.status != 200) {
      return std::unexpected(http_->StatusError(response, "listing tags of " + repository,
                                                "repository " + repository + " not found"));
    }
    auto json = nlohmann::json::parse(response.body, nullptr, false);
    if (!json.is_object()) return Fail(Errc::kUpstreamFailed, "registry: tag list is not JSON");
    if (json.contains("tags") && json["tags"].is_array()) {  // null once every tag is gone
      for (const auto& tag : json["tags"]) {
        if (tag.is_string()) tags.push_back(tag.get<std::string>());
      }
    }
    const auto next = NextLink(response.Header("Link").value_or(""));
    if (!next) break;
    auto resolved = ResolveUrl(url, *next);
    if (!resolved || resolved->Origin() != url.Origin()) {
      return Fail(Errc::kUpstreamFailed, "registry: tag list Link leads elsewhere");
    }
    url = *resolved;
  }
  std::sort(tags.begin(), tags.end());
  tags.erase(std::unique(tags.begin(), tags.end()), tags.end());
  return tags;
}

// Registry ------------------------------------------------------------------------------------

Result<Paged<RegistryProject>> DistributionRegistry::ListProjects(std::string_view name_filter,
                                                                  RegistryPage page) {
  MARKET_RETURN_IF_ERROR(CheckPage(page));
  MARKET_ASSIGN_OR_RETURN(auto names, Catalog());
  std::map<std::string, std::int64_t> counts;  // ordered: pages are stable
  for (const auto& name : names) {
    const std::string project = ProjectOf(name);
    if (project.empty() || project.find(name_filter) == std::string::npos) continue;
    ++counts[project];
  }
  std::vector<RegistryProject> projects;
  for (const auto& [name, count] : counts) {
    RegistryProject p;
    p.project_id = SyntheticProjectId(name);
    p.name = name;
    p.repo_count = count;
    projects.push_back(std::move(p));
  }
  return Slice(std::move(projects), page);
}

Result<Paged<RegistryRepository>> DistributionRegistry::ListRepositories(std::int64_t project_id,
                                                                         std::string_view query,
                                                                         RegistryPage page) {
  MARKET_RETURN_IF_ERROR(CheckPage(page));
  MARKET_ASSIGN_OR_RETURN(auto names, Catalog());
  bool project_seen = false;
  std::vector<RegistryRepository> repositories;
  for (const auto& name : names) {
    const std::string project = ProjectOf(name);
    if (project.empty() || SyntheticProjectId(project) != project_id) continue;
    project_seen = true;
    if (name.find(query) != std::string::npos) repositories.push_back({name});
  }
  if (!project_seen) {
    return Fail(Errc::kNotFound,
                "registry: project id " + std::to_string(project_id) + " not found");
  }
  return Slice(std::move(repositories), page);
}

Result<Paged<RegistryTag>> DistributionRegistry::ListTags(std::string_view repository,
                                                          RegistryPage page) {
  MARKET_RETURN_IF_ERROR(CheckPage(page));
  const std::string name(repository);
  MARKET_ASSIGN_OR_RETURN(auto tags, AllTags(name));
  auto names = Slice(std::move(tags), page);
  Paged<RegistryTag> out;
  out.total_count = names.total_count;
  // The tag list has names only: each tag on the page costs a manifest and a config fetch.
  for (const auto& tag : names.items) {
    auto info = FetchManifest(*http_, name, tag, true);
    if (!info) {
      if (info.error().code == Errc::kNotFound) {  // deleted since the list was read
        --out.total_count;
        continue;
      }
      return std::unexpected(info.error());
    }
    RegistryTag t;
    t.name = tag;
    t.digest = info->manifest.digest;
    t.size = info->size;
    auto config = nlohmann::json::parse(info->manifest.config_json, nullptr, false);
    if (config.is_object() && config.contains("created") && config["created"].is_string()) {
      t.created = ParseIso8601(config["created"].get<std::string>());
    }
    out.items.push_back(std::move(t));
  }
  return out;
}

Result<RegistryManifest> DistributionRegistry::GetManifest(std::string_view repository,
                                                           std::string_view reference) {
  MARKET_ASSIGN_OR_RETURN(auto info, FetchManifest(*http_, repository, reference, true));
  return std::move(info.manifest);
}

Result<void> DistributionRegistry::DeleteTag(std::string_view repository, std::string_view tag,
                                             bool force) {
  MARKET_RETURN_IF_ERROR(CheckRepository(repository));
  MARKET_RETURN_IF_ERROR(CheckTag(tag));
  const std::string name(repository);
  MARKET_ASSIGN_OR_RETURN(auto digest, FetchDigest(*http_, name, tag));

  // The distribution API deletes manifests, not tags: every tag on that digest goes with it.
  MARKET_ASSIGN_OR_RETURN(auto tags, AllTags(name));
  std::vector<std::string> sharing;
  for (const auto& other : tags) {
    if (other == tag) continue;
    auto other_digest = FetchDigest(*http_, name, other);
    if (!other_digest) {
      if (other_digest.error().code == Errc::kNotFound) continue;
      return std::unexpected(other_digest.error());
    }
    if (*other_digest == digest) sharing.push_back(other);
  }
  if (!sharing.empty() && !force) {
    return Fail(Errc::kTagShared, "registry: tag " + std::string(tag) + " of " + name +
                                      " shares digest " + digest + " with tag(s) " + Join(sharing) +
                                      "; deleting it deletes them too (force to delete all)");
  }
  MARKET_ASSIGN_OR_RETURN(auto response,
                          http_->Send("DELETE", "/v2/" + name + "/manifests/" + digest));
  if (response.status == 202 || response.status == 200) {
    MARKET_LOG_INFO("registry: deleted {}@{} (tag {}{}{})", name, digest, tag,
                    sharing.empty() ? "" : " and ", Join(sharing));
    return {};
  }
  if (response.status == 405) {
    return Fail(
        Errc::kRegistryUnsupported, "registry does not allow deletes (405" + [&] {
          const auto text = RegistryErrorText(response.body);
          return text.empty() ? std::string() : " " + text;
        }() + "): enable storage.delete in the registry's configuration");
  }
  return std::unexpected(
      http_->StatusError(response, "deleting " + name + ":" + std::string(tag),
                         "tag " + std::string(tag) + " of repository " + name + " not found"));
}

Result<void> DistributionRegistry::DeleteManifest(std::string_view repository,
                                                  std::string_view digest) {
  MARKET_RETURN_IF_ERROR(CheckRepository(repository));
  MARKET_RETURN_IF_ERROR(CheckDigest(digest));
  const std::string name(repository);
  const std::string d(digest);
  MARKET_ASSIGN_OR_RETURN(auto response, http_->Send("DELETE", "/v2/" + name + "/manifests/" + d));
  if (response.status == 202 || response.status == 200) {
    MARKET_LOG_INFO("registry: deleted {}@{}", name, d);
    return {};
  }
  if (response.status == 405) {
    const auto text = RegistryErrorText(response.body);
    return Fail(Errc::kRegistryUnsupported,
                "registry does not allow deletes (405" + (text.empty() ? "" : " " + text) +
                    "): enable storage.delete in the registry's configuration");
  }
  return std::unexpected(http_->StatusError(response, "deleting " + name + "@" + d,
                                            "manifest " + d + " of repository " + name +
                                                " not found"));
}

Result<void> DistributionRegistry::EnsureProject(std::string_view /*project*/) {
  return {};  // a distribution registry creates repositories on push
}

Result<void> DistributionRegistry::Ping() {
  MARKET_ASSIGN_OR_RETURN(auto response, http_->Send("GET", "/v2/"));
  if (response.status == 200) return {};
  return std::unexpected(
      http_->StatusError(response, "checking the registry API (/v2/)", "no registry API at /v2/"));
}

}  // namespace market::harbor
