#pragma once
// Makes the Registry an operator configured: Harbor (API v2.0) or a plain OCI distribution registry.

#include <chrono>
#include <string>

#include "market/error.hpp"
#include "market/registry.hpp"

namespace market::harbor {

enum class RegistryKind { kDistribution, kHarbor };

struct RegistryConfig {
  std::string url;  // "http://127.0.0.1:5000", "https://harbor.example.com"
  RegistryKind kind = RegistryKind::kDistribution;
  RegistryCredentials credentials;
  bool insecure = false;  // plain HTTP allowed / TLS not verified
  std::string ca_file;    // extra CA bundle for TLS verification
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds request_timeout{30000};
  int max_retries = 2;  // idempotent calls only
};

// kInvalid naming the bad setting (e.g. "registry url: scheme must be http or https").
Result<RegistryPtr> MakeRegistry(const RegistryConfig& config);

}  // namespace market::harbor
