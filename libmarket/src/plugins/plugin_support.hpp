#pragma once
// Shared by the built-in plugins: schema building, attribute access on a normalized entry, and
// kInvalid messages of the form "plugin.attribute[index]: problem".

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "market/error.hpp"
#include "market/plugin.hpp"
#include "market/project.hpp"

namespace market::plugins {

AttributeSchema MakeAttribute(std::string name, AttributeKind kind, bool required,
                              std::string help_en, std::string help_zh);

// The attribute of a normalized entry; empty when absent.
const std::string& SingleValue(const PluginInstance& entry, const std::string& name);
const std::vector<std::string>& ListValue(const PluginInstance& entry, const std::string& name);

std::unexpected<Error> Invalid(std::string_view plugin, std::string_view attribute,
                               std::string_view problem);
std::unexpected<Error> Invalid(std::string_view plugin, std::string_view attribute,
                               std::size_t index, std::string_view problem);

// A plugin whose schema is a value given at construction.
class BuiltinPlugin : public Plugin {
 public:
  explicit BuiltinPlugin(PluginSchema schema) : schema_(std::move(schema)) {}
  const PluginSchema& Schema() const override { return schema_; }

 protected:
  // Applies `check` (returning a problem or nothing) to a single attribute / to every element.
  template <class Check>
  Result<void> CheckSingle(const PluginInstance& entry, const std::string& name,
                           Check check) const {
    const std::string& value = SingleValue(entry, name);
    if (value.empty()) return {};  // required-ness is the schema's job
    if (std::optional<std::string> problem = check(value)) {
      return Invalid(schema_.name, name, *problem);
    }
    return {};
  }
  template <class Check>
  Result<void> CheckEach(const PluginInstance& entry, const std::string& name, Check check) const {
    const std::vector<std::string>& values = ListValue(entry, name);
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (std::optional<std::string> problem = check(values[i])) {
        return Invalid(schema_.name, name, i, *problem);
      }
    }
    return {};
  }

 private:
  PluginSchema schema_;
};

}  // namespace market::plugins
