#pragma once
// Registry over the plain OCI distribution API (/v2/): Debian's docker-registry, registry:2, zot.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "market/registry.hpp"
#include "registry_http.hpp"

namespace market::harbor {

// The distribution API has no projects: a project is the first path component of repository
// names ("base" of "base/busybox"); repositories without a '/' belong to no project and are
// not listed under any. Its id is a hash of its name (FNV-1a 64, cut to 53 bits so that
// JavaScript clients read it exactly; never 0): stable across restarts, pushes and deletes, and
// the same on every server instance.
std::int64_t SyntheticProjectId(std::string_view project_name);

class DistributionRegistry final : public Registry {
 public:
  DistributionRegistry(std::unique_ptr<RegistryHttp> http, bool tls_verify);

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
  // DELETE /v2/<name>/manifests/<digest> (the registry needs storage.delete enabled).
  Result<void> DeleteManifest(std::string_view repository, std::string_view digest) override;
  Result<void> EnsureProject(std::string_view project) override;
  Result<void> Ping() override;
  std::string PushHost() const override;
  bool TlsVerify() const override { return tls_verify_; }
  const RegistryCredentials& Credentials() const override { return http_->credentials(); }

 private:
  // Every repository name, through all catalog pages.
  Result<std::vector<std::string>> Catalog();
  // Every tag of one repository, sorted by name.
  Result<std::vector<std::string>> AllTags(const std::string& repository);

  std::unique_ptr<RegistryHttp> http_;
  bool tls_verify_;
};

}  // namespace market::harbor
