#pragma once
// A ProjectStore held in a map: for unit tests of the domain logic above the store. The SQL
// store has its own contract suite against real databases.

#include <map>
#include <mutex>
#include <set>

#include "market/project_store.hpp"

namespace market::testing {

class InMemoryProjectStore final : public ProjectStore {
 public:
  // ProjectStore
  Result<void> Insert(const Project& project) override;
  Result<Project> Get(std::string_view name) override;
  Result<Project> Save(const Project& project, SaveMode mode) override;
  Result<void> Remove(std::string_view name) override;
  Result<Project> Clone(std::string_view source, const Project& copy) override;
  Result<ProjectPage> List(const ProjectListQuery& query) override;
  Result<void> Ping() override;

  // Test controls.
  void SetActiveBuild(const std::string& name, bool active);
  std::size_t size() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, Project, std::less<>> projects_;
  std::set<std::string, std::less<>> active_builds_;
};

}  // namespace market::testing
