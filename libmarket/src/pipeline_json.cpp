#include "market/pipeline_json.hpp"

#include <fmt/format.h>

namespace market {

namespace {

constexpr std::string_view kPluginKey = "$$plugin";

// Scalars that form encodings and loose clients send as numbers or booleans are kept as text.
std::optional<std::string> ScalarText(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number() || value.is_boolean()) return value.dump();
  return std::nullopt;
}

}  // namespace

nlohmann::json PipelineToJson(const Pipeline& pipeline) {
  nlohmann::json out = nlohmann::json::array();
  for (const PluginInstance& entry : pipeline) {
    nlohmann::json item = nlohmann::json::object();
    item[std::string(kPluginKey)] = entry.plugin;
    for (const auto& [name, value] : entry.attributes) {
      std::visit([&](const auto& v) { item[name] = v; }, value);
    }
    out.push_back(std::move(item));
  }
  return out;
}

// Reads three levels (entries, attributes, array elements) and refuses anything deeper without
// descending into it, copying it or writing it (ScalarText dumps scalars only): safe on a value
// of any depth, though request bodies reach it at most kMaxJsonDepth (64) levels deep.
Result<Pipeline> PipelineFromJson(const nlohmann::json& json, std::string_view field) {
  if (json.is_null()) return Pipeline{};
  if (!json.is_array()) {
    return Fail(Errc::kInvalid, fmt::format("{} must be an array of plugin entries", field));
  }
  Pipeline pipeline;
  pipeline.reserve(json.size());
  for (std::size_t i = 0; i < json.size(); ++i) {
    const nlohmann::json& item = json[i];
    if (!item.is_object()) {
      return Fail(Errc::kInvalid, fmt::format("{}[{}] must be an object", field, i));
    }
    const auto name = item.find(kPluginKey);
    if (name == item.end() || !name->is_string() || name->get_ref<const std::string&>().empty()) {
      return Fail(Errc::kInvalid,
                  fmt::format("{}[{}].{} must be a non-empty string", field, i, kPluginKey));
    }
    PluginInstance entry;
    entry.plugin = name->get<std::string>();
    for (const auto& [key, value] : item.items()) {
      if (key == kPluginKey) continue;
      if (auto text = ScalarText(value)) {
        entry.attributes.emplace(key, std::move(*text));
        continue;
      }
      if (value.is_array()) {
        std::vector<std::string> values;
        values.reserve(value.size());
        for (const nlohmann::json& element : value) {
          auto text_element = ScalarText(element);
          if (!text_element) {
            return Fail(Errc::kInvalid, fmt::format("{}[{}].{}: array elements must be strings",
                                                    field, i, key));
          }
          values.push_back(std::move(*text_element));
        }
        entry.attributes.emplace(key, std::move(values));
        continue;
      }
      return Fail(Errc::kInvalid, fmt::format("{}[{}].{} must be a string or an array of strings",
                                              field, i, key));
    }
    pipeline.push_back(std::move(entry));
  }
  return pipeline;
}

}  // namespace market
