#pragma once
// Domain values as the API's JSON.

#include <nlohmann/json.hpp>

#include "market/build.hpp"
#include "market/plugin_registry.hpp"
#include "market/project.hpp"
#include "market/registry.hpp"

namespace market::server {

// creator, name, createTime, lastModifyTime, lastModifyOperator, Cluster, DefineDockerFileType;
// with `plugins` non-null also "plugins": the pipeline with secrets redacted.
nlohmann::json ProjectToJson(const Project& project, const PluginRegistry* plugins);
// Every field of a build, state as its name.
nlohmann::json BuildToJson(const Build& build);
// The seed's Harbor-like project object.
nlohmann::json RegistryProjectToJson(const RegistryProject& project);
nlohmann::json RegistryTagToJson(const RegistryTag& tag);

}  // namespace market::server
