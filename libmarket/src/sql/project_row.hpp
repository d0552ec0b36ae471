#pragma once
// A projects row as the database returns it, and its decoding into a Project: shared by the
// SOCI store and the non-blocking PostgreSQL reads, so both answer alike.

#include <string>

#include "market/error.hpp"
#include "market/project.hpp"

namespace market::sql {

// The columns of a project, in the order every statement selects them.
inline constexpr const char* kProjectColumns =
    "name, creator, create_time, last_modify_time, last_modify_operator, cluster, define_type, "
    "pipeline";

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

// kInternal when the stored row is not a project this version can read (unknown type,
// a pipeline that is not JSON or not a pipeline). Without `with_pipeline` the pipeline text
// is not decoded and the project's pipeline stays empty.
Result<Project> ToProject(const ProjectRow& row, bool with_pipeline = true);

}  // namespace market::sql
