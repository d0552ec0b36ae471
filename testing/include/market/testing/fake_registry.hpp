#pragma once
// An in-memory market::Registry for unit tests: projects, repositories and tags held in maps,
// Distribution-like deletes (by digest) unless untagging is switched on, and an injectable
// failure for any method.

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "market/registry.hpp"

namespace market::testing {

class FakeRegistry final : public Registry {
 public:
  explicit FakeRegistry(std::string push_host = "registry.test:5000");

  // Set-up. AddRepository and AddTag create the project (and repository) when missing.
  std::int64_t AddProject(std::string_view name, bool is_public = false);
  void AddRepository(std::string_view repository);  // full name "<project>/<repository>"
  void AddTag(std::string_view repository, std::string_view tag, std::string_view digest,
              std::int64_t size = 1024);

  // Every call of `method` ("ListTags", ...; empty = every method) fails with `error` until
  // ClearFailure().
  void SetFailure(Error error, std::string_view method = "");
  void ClearFailure();
  // Harbor can remove a single tag; a distribution registry only whole manifests.
  void SetUntagSupported(bool supported);
  void SetDeletesEnabled(bool enabled);
  void SetCredentials(RegistryCredentials credentials);

  // Calls made so far, by method name.
  int Calls(std::string_view method) const;
  // Tags of a repository, sorted (for assertions after deletes).
  std::vector<std::string> TagNames(std::string_view repository) const;

  // Registry
  Result<Paged<RegistryProject>> ListProjects(std::string_view name_filter,
                                              RegistryPage page) override;
  Result<Paged<RegistryRepository>> ListRepositories(std::int64_t project_id,
                                                     std::string_view query,
                                                     RegistryPage page) override;
  Result<Paged<RegistryTag>> ListTags(std::string_view repository, RegistryPage page) override;
  Result<RegistryManifest> GetManifest(std::string_view repository,
                                       std::string_view reference) override;
  Result<void> DeleteTag(std::string_view repository, std::string_view tag, bool force) override;
  Result<void> DeleteManifest(std::string_view repository, std::string_view digest) override;
  Result<void> EnsureProject(std::string_view project) override;
  Result<void> Ping() override;
  std::string PushHost() const override;
  bool TlsVerify() const override;
  const RegistryCredentials& Credentials() const override;

 private:
  struct Project {
    std::int64_t id = 0;
    bool is_public = false;
    std::map<std::string, std::map<std::string, RegistryTag>> repositories;  // name -> tag -> tag
  };

  // Counts the call and returns the injected failure for it, if any. Caller holds mutex_.
  std::optional<Error> Enter(std::string_view method);
  std::int64_t AddProjectLocked(std::string_view name, bool is_public);
  Project* ProjectOf(std::string_view repository);
  std::map<std::string, RegistryTag>* TagsOf(std::string_view repository);  // nullptr: none

  mutable std::mutex mutex_;
  std::string push_host_;
  RegistryCredentials credentials_;
  std::map<std::string, Project, std::less<>> projects_;
  std::int64_t next_project_id_ = 1;
  std::optional<Error> failure_;
  std::string failure_method_;
  bool untag_supported_ = false;
  bool deletes_enabled_ = true;
  std::map<std::string, int, std::less<>> calls_;
};

}  // namespace market::testing
