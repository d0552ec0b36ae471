#pragma once
// Test fixtures for the registry clients: a real docker-registry started on a free loopback
// port, and an image pusher that speaks the distribution API directly (no buildah needed).

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "market/harbor_client/http_client.hpp"
#include "support/ports.hpp"
#include "support/test_env.hpp"

namespace market::testing {

class RegistryProcess {
 public:
  struct Options {
    bool deletes = true;
    std::optional<std::string> user;  // with `password`: htpasswd basic auth
    std::string password;
    bool tls = false;  // self-signed certificate for 127.0.0.1 (see ca_file())
  };
  explicit RegistryProcess(Options options);
  ~RegistryProcess();
  RegistryProcess(const RegistryProcess&) = delete;
  RegistryProcess& operator=(const RegistryProcess&) = delete;

  std::string Url() const;       // http(s)://127.0.0.1:PORT
  std::string HostPort() const;  // 127.0.0.1:PORT
  std::string ca_file() const { return (dir_.path() / "cert.pem").string(); }

 private:
  Options options_;
  TempDir dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

struct PushedImage {
  std::string digest;  // of the manifest
  std::string manifest;
  std::string config;
  std::int64_t size = 0;  // manifest + config + layer, as Harbor counts an image
};

// Pushes a one-layer OCI image to `repository` under each of `tags` through /v2/. `seed` makes
// the content (and so the digest) distinct; `created` goes into the config.
PushedImage PushTestImage(const std::string& registry_url, const std::string& repository,
                          const std::vector<std::string>& tags, const std::string& seed,
                          const std::string& created = "2024-05-06T07:08:09.5Z",
                          const std::string& user = "", const std::string& password = "",
                          const std::string& ca_file = "");
// Pushes an OCI index that lists `image` under `tag`; returns the index digest.
std::string PushTestIndex(const std::string& registry_url, const std::string& repository,
                          const std::string& tag, const PushedImage& image);

}  // namespace market::testing
