#pragma once
// A projects row as the database returns it, and its decoding into a Project: shared by the
// SOCI store and the non-blocking PostgreSQL reads, so both answer alike.

#include <string>
#include <string_view>

#include "market/error.hpp"
#include "market/project.hpp"

namespace market::sql {

struct ProjectRow {
  std::string name;
  std::string creator;
  long long create_time = 0;       // ms since the epoch
  long long last_modify_time = 0;  // ms since the epoch
  std::string last_modify_operator;
  std::string cluster;
  std::string define_type;
  std::string pipeline;  // JSON text
};

// The columns of a project, in the order every statement selects them: a macro, so that the
// statements (project_queries.hpp) stay single literals. ForEachColumn below follows it.
#define MARKET_PROJECT_COLUMNS                                                              \
  "name, creator, create_time, last_modify_time, last_modify_operator, cluster, define_type, " \
  "pipeline"
inline constexpr const char* kProjectColumns = MARKET_PROJECT_COLUMNS;
inline constexpr int kProjectColumnCount = 8;

// Calls `visit` with each field of `row` in the order of MARKET_PROJECT_COLUMNS: the one place
// that pairs a column with a field, for SOCI's into() and for the pipeline's decoding.
template <class Visit>
void ForEachColumn(ProjectRow& row, Visit&& visit) {
  visit(row.name);
  visit(row.creator);
  visit(row.create_time);
  visit(row.last_modify_time);
  visit(row.last_modify_operator);
  visit(row.cluster);
  visit(row.define_type);
  visit(row.pipeline);
}

// The answer for a project `name` that is not there (kNotFound).
Error ProjectNotFound(std::string_view name);

// kInternal when the stored row is not a project this version can read (unknown type,
// a pipeline that is not JSON or not a pipeline). Without `with_pipeline` the pipeline text
// is not decoded and the project's pipeline stays empty.
Result<Project> ToProject(const ProjectRow& row, bool with_pipeline = true);

}  // namespace market::sql
