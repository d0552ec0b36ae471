#include "sql/project_row.hpp"

#include <nlohmann/json.hpp>

#include "market/pipeline_json.hpp"
#include "sql/sql_stores.hpp"

namespace market::sql {

Error ProjectNotFound(std::string_view name) {
  return Error{Errc::kNotFound, "project not found: " + std::string(name)};
}

Result<Project> ToProject(const ProjectRow& row, bool with_pipeline) {
  Project project;
  project.name = row.name;
  project.creator = row.creator;
  project.create_time = FromMs(row.create_time);
  project.last_modify_time = FromMs(row.last_modify_time);
  project.last_modify_operator = row.last_modify_operator;
  project.cluster = row.cluster;
  auto type = ParseDockerfileType(row.define_type);
  if (!type) {
    return Fail(Errc::kInternal,
                "stored project " + row.name + " has an unknown define_type " + row.define_type);
  }
  project.define_type = *type;
  if (!with_pipeline) return project;
  nlohmann::json json = nlohmann::json::parse(row.pipeline, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return Fail(Errc::kInternal, "stored pipeline of project " + row.name + " is not JSON");
  }
  auto pipeline = PipelineFromJson(json);
  if (!pipeline) {
    return Fail(Errc::kInternal,
                "stored pipeline of project " + row.name + ": " + pipeline.error().message);
  }
  project.pipeline = std::move(*pipeline);
  return project;
}

}  // namespace market::sql
