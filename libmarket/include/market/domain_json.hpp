#pragma once
// Projects and builds as JSON: the API's shapes, which the audit log records too.

#include <nlohmann/json.hpp>
#include <string_view>

#include "market/build.hpp"
#include "market/plugin_registry.hpp"
#include "market/project.hpp"
#include "market/time.hpp"

namespace market {

// Calls `visit(key, value)` for each text field of a project as the API writes it, keys in
// byte order (the order nlohmann's object writes them). The one list of those fields: both
// ProjectToJson and the server's list writer (server/project_list_text.cpp) follow it.
template <class Visit>
void ForEachProjectField(const Project& project, Visit&& visit) {
  visit(std::string_view("Cluster"), std::string_view(project.cluster));
  visit(std::string_view("DefineDockerFileType"), std::string_view(ToString(project.define_type)));
  visit(std::string_view("createTime"), std::string_view(FormatIso8601(project.create_time)));
  visit(std::string_view("creator"), std::string_view(project.creator));
  visit(std::string_view("lastModifyOperator"), std::string_view(project.last_modify_operator));
  visit(std::string_view("lastModifyTime"),
        std::string_view(FormatIso8601(project.last_modify_time)));
  visit(std::string_view("name"), std::string_view(project.name));
}

// The fields of ForEachProjectField; with `plugins` non-null also "plugins": the pipeline with
// secrets redacted.
nlohmann::json ProjectToJson(const Project& project, const PluginRegistry* plugins);
// Every field of a build, state as its name; "trigger" is null for a build a person asked for.
nlohmann::json BuildToJson(const Build& build);
// {"kind", "triggerId", "ref", "sha", "repository", "delivery", "baseImage", "oldDigest",
// "newDigest", "causeBuildId"}: the fields it has; "manual" when the kind is empty. Build JSON
// and webhook payloads both say it so.
nlohmann::json BuildTriggerToJson(const BuildTrigger& trigger);
// [{"image", "digest"}], in the Dockerfile's order.
nlohmann::json BaseImagesToJson(const std::vector<BaseImage>& bases);

}  // namespace market
