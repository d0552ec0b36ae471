#pragma once
// A container registry: Harbor (API v2.0) or a plain OCI distribution registry.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "market/error.hpp"
#include "market/time.hpp"

namespace market {

struct RegistryPage {
  int page = 1;
  int page_size = 10;
};

template <class T>
struct Paged {
  std::vector<T> items;
  std::int64_t total_count = 0;
};

struct RegistryProject {
  std::int64_t project_id = 0;
  std::string name;
  std::optional<TimePoint> creation_time;
  std::optional<TimePoint> update_time;
  std::int64_t repo_count = 0;
  bool is_public = false;
  std::int64_t owner_id = 0;
};

struct RegistryRepository {
  std::string name;  // full name: "<project>/<repository>"
};

struct RegistryTag {
  std::string name;
  std::string digest;
  std::int64_t size = 0;
  std::optional<TimePoint> created;  // the image's creation time (its config's "created")
  // When the registry recorded the tag's push: Harbor's push_time. A plain distribution
  // registry keeps no push time: none.
  std::optional<TimePoint> pushed;
};

struct RegistryManifest {
  std::string media_type;
  std::string digest;
  std::string manifest_json;  // the raw manifest as served
  std::string config_json;    // the image config blob as served (empty for an index)
};

// Credentials for pushes and API calls; the password is a secret.
struct RegistryCredentials {
  std::string username;
  std::string password;
};

class Registry {
 public:
  virtual ~Registry() = default;

  virtual Result<Paged<RegistryProject>> ListProjects(std::string_view name_filter,
                                                      RegistryPage page) = 0;
  // kNotFound for an unknown project id.
  virtual Result<Paged<RegistryRepository>> ListRepositories(std::int64_t project_id,
                                                             std::string_view query,
                                                             RegistryPage page) = 0;
  // `repository` is the full name "<project>/<repository>".
  virtual Result<Paged<RegistryTag>> ListTags(std::string_view repository,
                                              RegistryPage page) = 0;
  virtual Result<RegistryManifest> GetManifest(std::string_view repository,
                                               std::string_view reference) = 0;
  // Removes one tag. kTagShared when only the whole digest can go and other tags share it
  // (unless `force`); kRegistryUnsupported when the registry refuses deletes.
  virtual Result<void> DeleteTag(std::string_view repository, std::string_view tag,
                                 bool force) = 0;
  // Removes the manifest `digest` ("sha256:...") and with it every tag on it. kNotFound when
  // the repository has no such manifest; kRegistryUnsupported when the registry refuses deletes.
  virtual Result<void> DeleteManifest(std::string_view repository, std::string_view digest) = 0;
  // Makes sure a push to `project` can succeed (Harbor: creates the project when missing).
  virtual Result<void> EnsureProject(std::string_view project) = 0;
  virtual Result<void> Ping() = 0;

  // "host[:port]" that image references use.
  virtual std::string PushHost() const = 0;
  virtual bool TlsVerify() const = 0;
  virtual const RegistryCredentials& Credentials() const = 0;
};

using RegistryPtr = std::unique_ptr<Registry>;

}  // namespace market
