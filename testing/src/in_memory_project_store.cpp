#include "market/testing/in_memory_project_store.hpp"

namespace market::testing {

Result<void> InMemoryProjectStore::Insert(const Project& project) {
  std::lock_guard lock(mutex_);
  if (!projects_.emplace(project.name, project).second) {
    return Fail(Errc::kAlreadyExists, "exists");
  }
  return {};
}

Result<Project> InMemoryProjectStore::Get(std::string_view name) {
  std::lock_guard lock(mutex_);
  auto it = projects_.find(name);
  if (it == projects_.end()) return Fail(Errc::kNotFound, "missing");
  return it->second;
}

Result<Project> InMemoryProjectStore::Save(const Project& project, SaveMode mode) {
  std::lock_guard lock(mutex_);
  auto it = projects_.find(project.name);
  if (it == projects_.end()) {
    projects_.emplace(project.name, project);
    return project;
  }
  if (mode == SaveMode::kAdd) return Fail(Errc::kAlreadyExists, "exists");
  Project& stored = it->second;
  stored.cluster = project.cluster;
  stored.define_type = project.define_type;
  stored.pipeline = project.pipeline;
  stored.last_modify_operator = project.last_modify_operator;
  stored.last_modify_time = project.last_modify_time;
  return stored;
}

Result<void> InMemoryProjectStore::Remove(std::string_view name) {
  std::lock_guard lock(mutex_);
  auto it = projects_.find(name);
  if (it == projects_.end()) return Fail(Errc::kDeleteTargetMissing, "missing");
  if (active_builds_.contains(name)) return Fail(Errc::kBuildActive, "active build");
  projects_.erase(it);
  return {};
}

Result<Project> InMemoryProjectStore::Clone(std::string_view source, const Project& copy) {
  std::lock_guard lock(mutex_);
  auto it = projects_.find(source);
  if (it == projects_.end()) return Fail(Errc::kCloneSourceMissing, "missing");
  if (projects_.contains(copy.name)) return Fail(Errc::kAlreadyExists, "exists");
  Project project = copy;
  project.cluster = it->second.cluster;
  project.define_type = it->second.define_type;
  project.pipeline = it->second.pipeline;
  projects_.emplace(project.name, project);
  return project;
}

Result<ProjectPage> InMemoryProjectStore::List(const ProjectListQuery& query) {
  std::lock_guard lock(mutex_);
  ProjectPage page;
  std::vector<const Project*> matching;
  for (const auto& [name, project] : projects_) {
    if (name.find(query.name_filter) == std::string::npos) continue;
    if (query.after && name <= *query.after) continue;
    matching.push_back(&project);
  }
  page.total_count = static_cast<std::int64_t>(matching.size());
  const std::size_t offset =
      query.after ? 0 : static_cast<std::size_t>(query.page - 1) * query.page_size;
  for (std::size_t i = offset; i < matching.size() && i < offset + query.page_size; ++i) {
    page.projects.push_back(*matching[i]);
    if (!query.with_pipeline) page.projects.back().pipeline.clear();
  }
  return page;
}

Result<void> InMemoryProjectStore::Ping() { return {}; }

void InMemoryProjectStore::SetActiveBuild(const std::string& name, bool active) {
  std::lock_guard lock(mutex_);
  if (active) {
    active_builds_.insert(name);
  } else {
    active_builds_.erase(name);
  }
}

std::size_t InMemoryProjectStore::size() const {
  std::lock_guard lock(mutex_);
  return projects_.size();
}

}  // namespace market::testing
