#include "market/harbor_client/registry_factory.hpp"

#include "distribution_registry.hpp"
#include "harbor_registry.hpp"
#include "market/harbor_client/http_client.hpp"
#include "registry_http.hpp"

namespace market::harbor {

Result<RegistryPtr> MakeRegistry(const RegistryConfig& config) {
  auto url = ParseUrl(config.url);
  if (!url) return Fail(Errc::kInvalid, "registry " + url.error().message);
  if (url->target != "/") {
    return Fail(Errc::kInvalid,
                "registry url: give scheme://host[:port] only, without a path or query");
  }
  if (url->scheme == "http" && !config.insecure) {
    return Fail(Errc::kInvalid,
                "registry url: plain http needs the insecure switch (registry-insecure)");
  }
  if (config.connect_timeout.count() <= 0) {
    return Fail(Errc::kInvalid, "registry connect_timeout: must be positive");
  }
  if (config.request_timeout.count() <= 0) {
    return Fail(Errc::kInvalid, "registry request_timeout: must be positive");
  }
  if (config.max_retries < 0 || config.max_retries > 10) {
    return Fail(Errc::kInvalid, "registry max_retries: must be from 0 to 10");
  }
  if (config.credentials.username.empty() && !config.credentials.password.empty()) {
    return Fail(Errc::kInvalid, "registry user: a password was given without a user name");
  }
  if (config.credentials.username.find(':') != std::string::npos) {
    return Fail(Errc::kInvalid, "registry user: must not contain ':'");
  }

  HttpClientOptions options;
  options.tls_verify = !config.insecure;
  options.ca_file = config.ca_file;
  options.connect_timeout = config.connect_timeout;
  options.request_timeout = config.request_timeout;
  options.max_retries = config.max_retries;
  auto client = HttpClient::Create(options);
  if (!client) return Fail(Errc::kInvalid, "registry " + client.error().message);

  Url base = *url;
  auto http =
      std::make_unique<RegistryHttp>(std::move(*client), std::move(base), config.credentials);
  const bool tls_verify = !config.insecure;
  switch (config.kind) {
    case RegistryKind::kHarbor:
      return std::make_unique<HarborRegistry>(std::move(http), tls_verify);
    case RegistryKind::kDistribution:
      return std::make_unique<DistributionRegistry>(std::move(http), tls_verify);
  }
  return Fail(Errc::kInvalid, "registry kind: must be harbor or distribution");
}

}  // namespace market::harbor
