#pragma once
// Registry over Harbor's API v2.0 (<url>/api/v2.0), with raw manifests from its /v2/ API.
//
// Every call is one that Harbor accepts from all three kinds of account Image Market may be
// given: a password (local or LDAP users, the admin), a robot account, and an OIDC user's CLI
// secret, which Harbor honours only on the paths of its oidc_cli.go (GET /projects, GET
// .../repositories, GET .../artifacts, DELETE .../tags/..., POST /projects, /v2/, /service/token).
// Harbor treats credentials it rejects as an anonymous caller and answers listings with the
// public projects, so a listing alone never proves the credentials: GET /v2/ does (401 unless
// signed in), and is checked before the API calls (see SignedIn).

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "market/registry.hpp"
#include "registry_http.hpp"

namespace market::harbor {

// Repository names in Harbor paths exclude the project and are URL-encoded twice ("a/b" ->
// "a%252Fb"), as the API v2.0 asks.
std::string HarborRepositoryPath(std::string_view repository_without_project);

// The `q` parameter's value for one condition "<key>=<value>" (value "~text" for a substring),
// ready for a query string. Harbor decodes `q` twice (the URL, then url.QueryUnescape in
// lib/q/builder.go) and splits it on ',', so '%' and '+' are protected from the second decoding
// and a ',' cannot be expressed at all: kInvalid.
Result<std::string> HarborQuery(std::string_view key, std::string_view value);

// Harbor's times: RFC 3339 with 'Z' or with an offset ("2024-01-02T11:04:05+08:00"), the
// latter from image configs written by tools that keep local time.
std::optional<TimePoint> ParseHarborTime(std::string_view text);

class HarborRegistry final : public Registry {
 public:
  HarborRegistry(std::unique_ptr<RegistryHttp> http, bool tls_verify);

  // Registry
  Result<Paged<RegistryProject>> ListProjects(std::string_view name_filter,
                                              RegistryPage page) override;
  // The project's name from GET /projects?q=project_id=<id> (GET /projects/{id} is not on the
  // OIDC CLI list), then its repositories filtered by q=name=~<query>.
  Result<Paged<RegistryRepository>> ListRepositories(std::int64_t project_id,
                                                     std::string_view query,
                                                     RegistryPage page) override;
  // Tagged artifacts in pages cut by id, oldest first, so a push during the listing only adds
  // to the end; a tag seen twice (moved to a new artifact meanwhile) keeps its newest. Page 1 reads
  // Harbor afresh; later pages of the same repository within kTagSnapshotLifetime come from
  // that reading, so walking every page reads each artifact page once.
  Result<Paged<RegistryTag>> ListTags(std::string_view repository, RegistryPage page) override;
  Result<RegistryManifest> GetManifest(std::string_view repository,
                                       std::string_view reference) override;
  // Harbor removes one tag and keeps the artifact, so `force` changes nothing here.
  Result<void> DeleteTag(std::string_view repository, std::string_view tag, bool force) override;
  // DELETE /projects/{p}/repositories/{r}/artifacts/{digest}: the artifact and all its tags.
  Result<void> DeleteManifest(std::string_view repository, std::string_view digest) override;
  // GET /projects?q=name=<project>, then POST /projects when it is not listed (409: it exists,
  // perhaps hidden from this account). A 403 names the account Harbor wants (docs/ops.md).
  Result<void> EnsureProject(std::string_view project) override;
  // GET /api/v2.0/systeminfo (Harbor's API answers) and GET /v2/ (the credentials sign in).
  Result<void> Ping() override;
  std::string PushHost() const override;
  bool TlsVerify() const override { return tls_verify_; }
  const RegistryCredentials& Credentials() const override { return http_->credentials(); }

  // How long a successful sign-in check and a tag listing are reused.
  static constexpr std::chrono::seconds kSignInLifetime{60};
  static constexpr std::chrono::seconds kTagSnapshotLifetime{30};

 private:
  using Clock = std::chrono::steady_clock;
  struct TagSnapshot {
    std::vector<RegistryTag> tags;  // by name
    Clock::time_point made;
  };

  // GET /v2/ unless it succeeded within kSignInLifetime; nothing to check without a user name.
  Result<void> SignedIn(bool fresh = false);
  Result<std::vector<RegistryTag>> ReadAllTags(const std::string& project, const std::string& rest);
  // The project as this account sees it in GET /projects?q=name=<name>; nullopt when hidden.
  Result<std::optional<std::int64_t>> FindProject(const std::string& name);
  // A 403 from a project's API: Harbor answers it to a non-admin for a missing project too.
  Error ProjectForbidden(const HttpResponse& response, const std::string& project,
                         const std::string& what, const std::string& missing);
  // DELETE of `reference` ("<digest>" or "<tag>/tags/<tag>") under the artifacts of
  // `repository`: a tag or a whole artifact. `subject` names it in messages and the log.
  Result<void> DeleteArtifact(std::string_view repository, const std::string& reference,
                              const std::string& subject, const std::string& missing);

  std::unique_ptr<RegistryHttp> http_;
  bool tls_verify_;
  std::mutex mutex_;
  std::optional<Clock::time_point> signed_in_at_;
  std::map<std::string, TagSnapshot> tag_snapshots_;  // by repository
};

}  // namespace market::harbor
