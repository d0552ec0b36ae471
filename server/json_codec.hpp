#pragma once
// Domain values as the API's JSON.

#include <string_view>

#include <nlohmann/json.hpp>

#include "market/domain_json.hpp"
#include "market/registry.hpp"
#include "market/time.hpp"

namespace market::server {

// Projects and builds are encoded in libmarket: the audit log records the same shapes.
using market::BuildToJson;
using market::ProjectToJson;
// The seed's Harbor-like project object.
nlohmann::json RegistryProjectToJson(const RegistryProject& project);
nlohmann::json RegistryTagToJson(const RegistryTag& tag);

}  // namespace market::server
