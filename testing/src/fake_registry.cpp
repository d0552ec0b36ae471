#include "market/testing/fake_registry.hpp"

#include <algorithm>

namespace market::testing {

namespace {

template <class T>
Paged<T> Slice(std::vector<T> all, RegistryPage page) {
  Paged<T> out;
  out.total_count = static_cast<std::int64_t>(all.size());
  std::size_t size = page.page_size > 0 ? static_cast<std::size_t>(page.page_size) : 0;
  std::size_t start = page.page > 0 ? static_cast<std::size_t>(page.page - 1) * size : 0;
  for (std::size_t i = start; i < all.size() && i < start + size; ++i) {
    out.items.push_back(std::move(all[i]));
  }
  return out;
}

std::unexpected<Error> NotFound(std::string message) {
  return Fail(Errc::kNotFound, std::move(message));
}

}  // namespace

FakeRegistry::FakeRegistry(std::string push_host) : push_host_(std::move(push_host)) {}

std::int64_t FakeRegistry::AddProject(std::string_view name, bool is_public) {
  std::lock_guard lock(mutex_);
  return AddProjectLocked(name, is_public);
}

std::int64_t FakeRegistry::AddProjectLocked(std::string_view name, bool is_public) {
  auto it = projects_.find(name);
  if (it != projects_.end()) return it->second.id;
  Project project;
  project.id = next_project_id_++;
  project.is_public = is_public;
  std::int64_t id = project.id;
  projects_.emplace(std::string(name), std::move(project));
  return id;
}

void FakeRegistry::AddRepository(std::string_view repository) {
  std::lock_guard lock(mutex_);
  std::string_view project = repository.substr(0, repository.find('/'));
  AddProjectLocked(project, false);
  projects_.find(project)->second.repositories[std::string(repository)];
}

void FakeRegistry::AddTag(std::string_view repository, std::string_view tag,
                          std::string_view digest, std::int64_t size) {
  AddRepository(repository);
  std::lock_guard lock(mutex_);
  RegistryTag t;
  t.name = tag;
  t.digest = digest;
  t.size = size;
  ProjectOf(repository)->repositories[std::string(repository)][std::string(tag)] = t;
}

void FakeRegistry::SetFailure(Error error, std::string_view method) {
  std::lock_guard lock(mutex_);
  failure_ = std::move(error);
  failure_method_ = method;
}

void FakeRegistry::ClearFailure() {
  std::lock_guard lock(mutex_);
  failure_.reset();
  failure_method_.clear();
}

void FakeRegistry::SetUntagSupported(bool supported) {
  std::lock_guard lock(mutex_);
  untag_supported_ = supported;
}

void FakeRegistry::SetDeletesEnabled(bool enabled) {
  std::lock_guard lock(mutex_);
  deletes_enabled_ = enabled;
}

void FakeRegistry::SetCredentials(RegistryCredentials credentials) {
  std::lock_guard lock(mutex_);
  credentials_ = std::move(credentials);
}

int FakeRegistry::Calls(std::string_view method) const {
  std::lock_guard lock(mutex_);
  auto it = calls_.find(method);
  return it == calls_.end() ? 0 : it->second;
}

std::vector<std::string> FakeRegistry::TagNames(std::string_view repository) const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  auto project = projects_.find(repository.substr(0, repository.find('/')));
  if (project == projects_.end()) return out;
  auto repo = project->second.repositories.find(std::string(repository));
  if (repo == project->second.repositories.end()) return out;
  for (const auto& [name, tag] : repo->second) out.push_back(name);
  return out;
}

std::optional<Error> FakeRegistry::Enter(std::string_view method) {
  ++calls_[std::string(method)];
  if (failure_ && (failure_method_.empty() || failure_method_ == method)) return failure_;
  return std::nullopt;
}

FakeRegistry::Project* FakeRegistry::ProjectOf(std::string_view repository) {
  auto it = projects_.find(repository.substr(0, repository.find('/')));
  return it == projects_.end() ? nullptr : &it->second;
}

std::map<std::string, RegistryTag>* FakeRegistry::TagsOf(std::string_view repository) {
  Project* project = ProjectOf(repository);
  if (project == nullptr) return nullptr;
  auto it = project->repositories.find(std::string(repository));
  return it == project->repositories.end() ? nullptr : &it->second;
}

// Registry

Result<Paged<RegistryProject>> FakeRegistry::ListProjects(std::string_view name_filter,
                                                          RegistryPage page) {
  std::lock_guard lock(mutex_);
  if (auto error = Enter("ListProjects")) return std::unexpected(*error);
  std::vector<RegistryProject> all;
  for (const auto& [name, project] : projects_) {
    if (name.find(name_filter) == std::string::npos) continue;
    RegistryProject p;
    p.project_id = project.id;
    p.name = name;
    p.repo_count = static_cast<std::int64_t>(project.repositories.size());
    p.is_public = project.is_public;
    all.push_back(std::move(p));
  }
  return Slice(std::move(all), page);
}

Result<Paged<RegistryRepository>> FakeRegistry::ListRepositories(std::int64_t project_id,
                                                                 std::string_view query,
                                                                 RegistryPage page) {
  std::lock_guard lock(mutex_);
  if (auto error = Enter("ListRepositories")) return std::unexpected(*error);
  for (const auto& [name, project] : projects_) {
    if (project.id != project_id) continue;
    std::vector<RegistryRepository> all;
    for (const auto& [repository, tags] : project.repositories) {
      if (repository.find(query) != std::string::npos) all.push_back({repository});
    }
    return Slice(std::move(all), page);
  }
  return NotFound("project id " + std::to_string(project_id) + " not found");
}

Result<Paged<RegistryTag>> FakeRegistry::ListTags(std::string_view repository, RegistryPage page) {
  std::lock_guard lock(mutex_);
  if (auto error = Enter("ListTags")) return std::unexpected(*error);
  auto* tags = TagsOf(repository);
  if (tags == nullptr) return NotFound("repository " + std::string(repository) + " not found");
  std::vector<RegistryTag> all;
  for (const auto& [name, tag] : *tags) all.push_back(tag);
  return Slice(std::move(all), page);
}

Result<RegistryManifest> FakeRegistry::GetManifest(std::string_view repository,
                                                   std::string_view reference) {
  std::lock_guard lock(mutex_);
  if (auto error = Enter("GetManifest")) return std::unexpected(*error);
  Project* project = ProjectOf(repository);
  if (project != nullptr) {
    auto repo = project->repositories.find(std::string(repository));
    if (repo != project->repositories.end()) {
      for (const auto& [name, tag] : repo->second) {
        if (name != reference && tag.digest != reference) continue;
        RegistryManifest m;
        m.media_type = "application/vnd.oci.image.manifest.v1+json";
        m.digest = tag.digest;
        m.manifest_json = R"({"schemaVersion":2,"mediaType":")" + m.media_type +
                          R"(","config":{"mediaType":"application/vnd.oci.image.config.v1+json",)"
                          R"("digest":"sha256:0","size":2},"layers":[]})";
        m.config_json = "{}";
        return m;
      }
    }
  }
  return NotFound("manifest " + std::string(repository) + ":" + std::string(reference) +
                  " not found");
}

Result<void> FakeRegistry::DeleteTag(std::string_view repository, std::string_view tag,
                                     bool force) {
  std::lock_guard lock(mutex_);
  if (auto error = Enter("DeleteTag")) return std::unexpected(*error);
  if (!deletes_enabled_) return Fail(Errc::kRegistryUnsupported, "deletes are disabled");
  auto* found = TagsOf(repository);
  if (found == nullptr || !found->contains(std::string(tag))) {
    return NotFound("tag " + std::string(repository) + ":" + std::string(tag) + " not found");
  }
  auto& tags = *found;
  if (untag_supported_) {
    tags.erase(std::string(tag));
    return {};
  }
  std::string digest = tags.at(std::string(tag)).digest;
  std::size_t sharing = std::count_if(tags.begin(), tags.end(),
                                      [&](const auto& kv) { return kv.second.digest == digest; });
  if (sharing > 1 && !force) {
    return Fail(Errc::kTagShared, "other tags share digest " + digest);
  }
  std::erase_if(tags, [&](const auto& kv) { return kv.second.digest == digest; });
  return {};
}

Result<void> FakeRegistry::DeleteManifest(std::string_view repository, std::string_view digest) {
  std::lock_guard lock(mutex_);
  if (auto error = Enter("DeleteManifest")) return std::unexpected(*error);
  if (!deletes_enabled_) return Fail(Errc::kRegistryUnsupported, "deletes are disabled");
  auto* tags = TagsOf(repository);
  if (tags == nullptr ||
      std::erase_if(*tags, [&](const auto& kv) { return kv.second.digest == digest; }) == 0) {
    return NotFound("manifest " + std::string(repository) + "@" + std::string(digest) +
                    " not found");
  }
  return {};
}

Result<void> FakeRegistry::EnsureProject(std::string_view project) {
  std::lock_guard lock(mutex_);
  if (auto error = Enter("EnsureProject")) return std::unexpected(*error);
  AddProjectLocked(project, false);
  return {};
}

Result<void> FakeRegistry::Ping() {
  std::lock_guard lock(mutex_);
  if (auto error = Enter("Ping")) return std::unexpected(*error);
  return {};
}

std::string FakeRegistry::PushHost() const { return push_host_; }

bool FakeRegistry::TlsVerify() const { return false; }

const RegistryCredentials& FakeRegistry::Credentials() const { return credentials_; }

}  // namespace market::testing
