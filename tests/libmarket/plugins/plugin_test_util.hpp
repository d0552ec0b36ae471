#pragma once
// Short ways to write pipelines in the plugin tests.

#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "market/plugin_registry.hpp"
#include "market/project.hpp"

namespace market::testing {

using List = std::vector<std::string>;

inline PluginInstance Entry(
    std::string plugin,
    std::initializer_list<std::pair<const std::string, AttributeValue>> attributes = {}) {
  return PluginInstance{std::move(plugin), attributes};
}

inline PluginInstance BaseImage(std::string image = "127.0.0.1:5000/base/busybox:1") {
  return Entry("base_image_choose_from_harbor", {{"handleInput", std::move(image)}});
}

// The error of validating `entry` after a base image in a tool pipeline (or success).
inline Result<Pipeline> ValidateTool(const PluginRegistry& registry, PluginInstance entry) {
  return registry.Validate(DockerfileType::kTool, {BaseImage(), std::move(entry)});
}

}  // namespace market::testing
