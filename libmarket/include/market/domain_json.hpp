#pragma once
// Projects and builds as JSON: the API's shapes, which the audit log records too.

#include <nlohmann/json.hpp>

#include "market/build.hpp"
#include "market/plugin_registry.hpp"
#include "market/project.hpp"

namespace market {

// creator, name, createTime, lastModifyTime, lastModifyOperator, Cluster, DefineDockerFileType;
// with `plugins` non-null also "plugins": the pipeline with secrets redacted.
nlohmann::json ProjectToJson(const Project& project, const PluginRegistry* plugins);
// Every field of a build, state as its name.
nlohmann::json BuildToJson(const Build& build);

}  // namespace market
