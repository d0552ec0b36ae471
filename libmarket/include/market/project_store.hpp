#pragma once
// Persistence of projects. Implementations: SqlProjectStore (SQLite, PostgreSQL).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "market/error.hpp"
#include "market/project.hpp"

namespace market {

struct ProjectListQuery {
  int page = 1;        // from 1
  int page_size = 10;  // 1..100
  std::string name_filter;           // literal substring; empty = all
  std::optional<std::string> after;  // keyset cursor: names strictly greater than this
  // false: the projects come with empty pipelines (a listing that shows no plugins skips
  // decoding them: most of a page's cost).
  bool with_pipeline = true;
};

struct ProjectPage {
  std::vector<Project> projects;  // ordered by name ascending
  std::int64_t total_count = 0;   // matching projects, all pages
};

enum class SaveMode { kAdd, kUpdate };

class ProjectStore {
 public:
  virtual ~ProjectStore() = default;

  // kAlreadyExists when the name is taken.
  virtual Result<void> Insert(const Project& project) = 0;
  // kNotFound.
  virtual Result<Project> Get(std::string_view name) = 0;
  // kAdd: insert, kAlreadyExists when taken. kUpdate: replace cluster, type, pipeline,
  // last_modify_* of an existing project (creator and create_time are kept), or insert it
  // when missing. Atomic against concurrent saves of the same name. Returns the stored row.
  virtual Result<Project> Save(const Project& project, SaveMode mode) = 0;
  // kDeleteTargetMissing when missing; kBuildActive while a build of it is queued or running.
  virtual Result<void> Remove(std::string_view name) = 0;
  // One transaction: copies cluster, type and pipeline of `source` into a new project
  // `copy.name` with copy's creator/operator/times. kCloneSourceMissing, kAlreadyExists.
  virtual Result<Project> Clone(std::string_view source, const Project& copy) = 0;
  virtual Result<ProjectPage> List(const ProjectListQuery& query) = 0;
  // Cheap liveness probe of the backing database (for /readyz).
  virtual Result<void> Ping() = 0;
};

using ProjectStorePtr = std::unique_ptr<ProjectStore>;

}  // namespace market
