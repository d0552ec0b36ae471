#pragma once
// The project operations of the seed API: new, delete, clone, info, list, save.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "market/async_project_reads.hpp"
#include "market/error.hpp"
#include "market/project.hpp"
#include "market/project_store.hpp"
#include "market/time.hpp"
#include "market/validation.hpp"

namespace market {

class PluginRegistry;

struct ProjectServiceOptions {
  std::string default_cluster = "default_cluster";
};

struct SaveRequest {
  std::string name;
  std::optional<std::string> cluster;      // missing: the default cluster (or the stored one)
  std::optional<std::string> define_type;  // missing: tool (or the stored one)
  std::string add_or_update;               // "add" or "update"; missing = update
  Pipeline pipeline;
  std::string operator_name;
};

struct ListRequest {
  std::string page;       // text as received; empty = default
  std::string page_size;  // text as received; empty = default
  std::string name_filter;
  std::string after;  // keyset cursor (optional)
  bool with_pipeline = true;  // see ProjectListQuery::with_pipeline
};

struct ProjectListing {
  ProjectPage page;
  int page_number = 1;
  int page_size = kDefaultPageSize;
};

class ProjectService {
 public:
  // `plugins` may be null: the pipeline is then stored as given, unchecked.
  ProjectService(ProjectStore& store, const Clock& clock, const PluginRegistry* plugins,
                 ProjectServiceOptions options = {});

  Result<Project> Create(std::string_view name, std::string_view operator_name);
  Result<void> Delete(std::string_view name, std::string_view operator_name);
  Result<Project> Clone(std::string_view source, std::string_view destination,
                        std::string_view operator_name);
  // The project, read on the calling thread (for the write paths' audit snapshots).
  Result<Project> Info(std::string_view name);
  // Info's answer given to `done` once instead of returned, without blocking the caller: from
  // the reads' threads (see AsyncProjectReads), or at once for a malformed name.
  void Info(std::string_view name, std::move_only_function<void(Result<Project>)> done);
  // A page of projects, given to `done` as Info's answer is.
  void List(const ListRequest& request,
            std::move_only_function<void(Result<ProjectListing>)> done);
  Result<Project> Save(const SaveRequest& request);

  // The reads Info and List answer through (until then: the store's, on the calling thread);
  // set before the service is shared.
  void UseReads(AsyncProjectReads& reads) { reads_ = &reads; }

 private:
  // The store's query for `request`, its page number and page size checked.
  static Result<ProjectListQuery> ListQuery(const ListRequest& request);

  ProjectStore& store_;
  const Clock& clock_;
  const PluginRegistry* plugins_;
  ProjectServiceOptions options_;
  std::unique_ptr<AsyncProjectReads> own_reads_;  // the store's, on the calling thread
  AsyncProjectReads* reads_;
};

}  // namespace market
