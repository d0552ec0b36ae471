#include "plugins/plugin_support.hpp"

#include <fmt/format.h>

namespace market::plugins {

AttributeSchema MakeAttribute(std::string name, AttributeKind kind, bool required,
                              std::string help_en, std::string help_zh) {
  AttributeSchema a;
  a.name = std::move(name);
  a.kind = kind;
  a.required = required;
  a.help_en = std::move(help_en);
  a.help_zh = std::move(help_zh);
  return a;
}

const std::string& SingleValue(const PluginInstance& entry, const std::string& name) {
  static const std::string kEmpty;
  auto it = entry.attributes.find(name);
  if (it == entry.attributes.end()) return kEmpty;
  const auto* value = std::get_if<std::string>(&it->second);
  return value != nullptr ? *value : kEmpty;
}

const std::vector<std::string>& ListValue(const PluginInstance& entry, const std::string& name) {
  static const std::vector<std::string> kEmpty;
  auto it = entry.attributes.find(name);
  if (it == entry.attributes.end()) return kEmpty;
  const auto* value = std::get_if<std::vector<std::string>>(&it->second);
  return value != nullptr ? *value : kEmpty;
}

std::unexpected<Error> Invalid(std::string_view plugin, std::string_view attribute,
                               std::string_view problem) {
  return Fail(Errc::kInvalid, fmt::format("{}.{}: {}", plugin, attribute, problem));
}

std::unexpected<Error> Invalid(std::string_view plugin, std::string_view attribute,
                               std::size_t index, std::string_view problem) {
  return Fail(Errc::kInvalid, fmt::format("{}.{}[{}]: {}", plugin, attribute, index, problem));
}

}  // namespace market::plugins
