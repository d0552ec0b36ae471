#pragma once
// Domain values as the API's JSON.

#include <cstdint>
#include <optional>
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
// A tag in the seed's shape, and beyond it `immutableRule`: the id of the immutability rule that
// protects the tag, null when none does.
nlohmann::json RegistryTagToJson(const RegistryTag& tag,
                                 std::optional<std::int64_t> immutable_rule = std::nullopt);

}  // namespace market::server
