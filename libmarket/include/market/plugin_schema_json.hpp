#pragma once
// Plugin schemas as JSON, for the web page and API clients:
// [{"name": "run", "title_en": "...", "title_zh": "...",
//   "attributes": [{"name": "value", "kind": "list", "required": true, "multiline": false,
//                   "choices": [], "pair": "", "help_en": "...", "help_zh": "..."}]}]
// kind is one of "string", "list", "key_value_list", "secret", "choice".

#include <nlohmann/json.hpp>

#include "market/plugin_registry.hpp"

namespace market {

nlohmann::json SchemasToJson(const PluginRegistry& registry);

}  // namespace market
