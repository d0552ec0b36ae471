#pragma once
// Factories of the built-in plugins (MakeBuiltinPluginRegistry adds them all).

#include <string_view>
#include <vector>

#include "market/plugin.hpp"
#include "market/plugin_registry.hpp"

namespace market::plugins {

// Names the pipeline rules depend on.
inline constexpr std::string_view kBaseImagePlugin = "base_image_choose_from_harbor";
inline constexpr std::string_view kStaticDockerfilePlugin = "static_dockerfile";
inline constexpr std::string_view kDownloadDockerfilePlugin = "download_dockerfile";
inline constexpr std::string_view kDownloadSourcePlugin = "download_executable_source";

// The project in the registry whose images BaseImageList offers.
inline constexpr std::string_view kBaseImageProject = "base";

PluginPtr MakeBaseImagePlugin();
PluginPtr MakeDownloadDockerfilePlugin(const SourceRules& rules);
PluginPtr MakeDownloadExecutableSourcePlugin(const SourceRules& rules);
// run, env_set, copy, expose, entrypoint, work_dir, maintainer, static_dockerfile, label, user,
// arg, cmd, healthcheck.
std::vector<PluginPtr> MakeInstructionPlugins();

}  // namespace market::plugins
