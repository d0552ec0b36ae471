#pragma once
// The project operations of the seed API: new, delete, clone, info, list, save, and the
// Dockerfile preview. Every rule about their input is checked here; changes are audited here.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "market/async_project_reads.hpp"
#include "market/audit_trail.hpp"
#include "market/error.hpp"
#include "market/events.hpp"
#include "market/identity.hpp"
#include "market/plugin_registry.hpp"
#include "market/project.hpp"
#include "market/project_store.hpp"
#include "market/time.hpp"
#include "market/validation.hpp"

namespace market {

class PluginRegistry;

struct ProjectServiceOptions {
  std::string default_cluster = "default_cluster";
  AuditLog* audit_log = nullptr;  // where changes are recorded; null: they are not
  // Hears project.created (Create, Clone's copy, a Save that inserts) and project.deleted, on
  // the calling thread once the store committed the change; null: nothing published.
  EventSink* events = nullptr;
};

// A new project: an empty pipeline of its type, to be composed later (it cannot build until
// then). Texts as received; cluster and define_type may be missing.
struct CreateRequest {
  std::string name;
  std::string operator_name;
  std::optional<std::string> cluster;      // missing: the default cluster
  std::optional<std::string> define_type;  // missing: tool
};

struct SaveRequest {
  std::string name;
  std::optional<std::string> cluster;      // missing: the default cluster (or the stored one)
  std::optional<std::string> define_type;  // missing: tool (or the stored one)
  std::string add_or_update;               // "add" or "update"; missing = update
  Pipeline pipeline;
  std::string operator_name;
  std::string name_field = "project";  // the parameter the name came in, for messages
};

// A pipeline to render without saving it.
struct PreviewRequest {
  std::string define_type;  // tool, edit or download; empty: tool
  Pipeline pipeline;
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

  // The changes are audited as project.new, project.delete, project.clone and project.save,
  // with `origin`'s actor and request (see AuditTrail).
  Result<Project> Create(std::string_view name, std::string_view operator_name,
                         const ChangeOrigin& origin = {});
  // kInvalid naming projectName, operator, Cluster or DefineDockerFileType; kAlreadyExists.
  Result<Project> Create(const CreateRequest& request, const ChangeOrigin& origin = {});
  Result<void> Delete(std::string_view name, std::string_view operator_name,
                      const ChangeOrigin& origin = {});
  Result<Project> Clone(std::string_view source, std::string_view destination,
                        std::string_view operator_name, const ChangeOrigin& origin = {});
  // The project, read on the calling thread (for the write paths' audit snapshots).
  Result<Project> Info(std::string_view name);
  // Info's answer given to `done` once instead of returned, without blocking the caller: from
  // the reads' threads (see AsyncProjectReads), or at once for a malformed name.
  void Info(std::string_view name, std::move_only_function<void(Result<Project>)> done);
  // A page of projects, given to `done` as Info's answer is.
  void List(const ListRequest& request,
            std::move_only_function<void(Result<ProjectListing>)> done);
  Result<Project> Save(const SaveRequest& request, const ChangeOrigin& origin = {});

  // The stored project's Dockerfile: kNotFound, or kInvalid (naming the problem) when its
  // pipeline does not render.
  Result<RenderedDockerfile> Dockerfile(std::string_view name);
  // `request`'s pipeline rendered, nothing stored: kInvalid, kUnknownPlugin.
  Result<RenderedDockerfile> Preview(const PreviewRequest& request) const;

  // The reads Info and List answer through (until then: the store's, on the calling thread);
  // set before the service is shared.
  void UseReads(AsyncProjectReads& reads) { reads_ = &reads; }

 private:
  // The store's query for `request`, its page number and page size checked.
  static Result<ProjectListQuery> ListQuery(const ListRequest& request);

  // The project as the audit records it (secrets redacted); null when it does not exist.
  nlohmann::json Snapshot(const std::string& name) const;
  Result<RenderedDockerfile> Render(DockerfileType type, const Pipeline& pipeline) const;

  ProjectStore& store_;
  const Clock& clock_;
  const PluginRegistry* plugins_;
  ProjectServiceOptions options_;
  AuditTrail audit_;
  std::unique_ptr<AsyncProjectReads> own_reads_;  // the store's, on the calling thread
  AsyncProjectReads* reads_;
};

}  // namespace market
