#include "market/plugin_schema_json.hpp"

namespace market {

namespace {
const char* KindName(AttributeKind kind) {
  switch (kind) {
    case AttributeKind::kString:
      return "string";
    case AttributeKind::kList:
      return "list";
    case AttributeKind::kKeyValueList:
      return "key_value_list";
    case AttributeKind::kSecret:
      return "secret";
    case AttributeKind::kChoice:
      return "choice";
  }
  return "string";
}
}  // namespace

nlohmann::json SchemasToJson(const PluginRegistry& registry) {
  nlohmann::json out = nlohmann::json::array();
  for (const PluginSchema* schema : registry.Schemas()) {
    nlohmann::json attributes = nlohmann::json::array();
    for (const AttributeSchema& a : schema->attributes) {
      attributes.push_back({{"name", a.name},
                            {"kind", KindName(a.kind)},
                            {"required", a.required},
                            {"multiline", a.multiline},
                            {"choices", a.choices},
                            {"pair", a.pair},
                            {"help_en", a.help_en},
                            {"help_zh", a.help_zh}});
    }
    out.push_back({{"name", schema->name},
                   {"title_en", schema->title_en},
                   {"title_zh", schema->title_zh},
                   {"attributes", std::move(attributes)}});
  }
  return out;
}

}  // namespace market
