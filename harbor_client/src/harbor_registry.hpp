#pragma once
// Registry over Harbor's API v2.0 (<url>/api/v2.0), with raw manifests from its /v2/ API.

#include <memory>
#include <string>

#include "market/registry.hpp"
#include "registry_http.hpp"

namespace market::harbor {

// Repository names in Harbor paths exclude the project and are URL-encoded twice ("a/b" ->
// "a%252Fb"), as the API v2.0 asks.
std::string HarborRepositoryPath(std::string_view repository_without_project);

class HarborRegistry final : public Registry {
 public:
  HarborRegistry(std::unique_ptr<RegistryHttp> http, bool tls_verify);

  // Registry
  Result<Paged<RegistryProject>> ListProjects(std::string_view name_filter,
                                              RegistryPage page) override;
  Result<Paged<RegistryRepository>> ListRepositories(std::int64_t project_id,
                                                     std::string_view query,
                                                     RegistryPage page) override;
  Result<Paged<RegistryTag>> ListTags(std::string_view repository, RegistryPage page) override;
  Result<RegistryManifest> GetManifest(std::string_view repository,
                                       std::string_view reference) override;
  // Harbor removes one tag and keeps the artifact, so `force` changes nothing here.
  Result<void> DeleteTag(std::string_view repository, std::string_view tag, bool force) override;
  // HEAD /projects?project_name=, then POST /projects when missing (409: created meanwhile).
  Result<void> EnsureProject(std::string_view project) override;
  // An authenticated project listing: checks reachability and the credentials at once.
  Result<void> Ping() override;
  std::string PushHost() const override;
  bool TlsVerify() const override { return tls_verify_; }
  const RegistryCredentials& Credentials() const override { return http_->credentials(); }

 private:
  std::unique_ptr<RegistryHttp> http_;
  bool tls_verify_;
};

}  // namespace market::harbor
