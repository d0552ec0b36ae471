#include "market/project_service.hpp"

#include <fmt/format.h>

#include "market/domain_json.hpp"
#include "market/plugin_registry.hpp"
#include "market/validation.hpp"
#include "publish_event.hpp"
#include "store_project_reads.hpp"

namespace market {

namespace {

// A save from the page or an API client sends secrets back as the redaction marker: the k-th
// entry of a plugin then keeps the secret of the stored pipeline's k-th entry of that plugin.
Pipeline RestoreRedactedSecrets(const PluginRegistry& plugins, Pipeline incoming,
                                const Pipeline& stored) {
  std::map<std::string, int> seen;
  for (PluginInstance& entry : incoming) {
    const int occurrence = seen[entry.plugin]++;
    const Plugin* plugin = plugins.Find(entry.plugin);
    if (plugin == nullptr) continue;
    const PluginInstance* previous = nullptr;
    int count = 0;
    for (const PluginInstance& old : stored) {
      if (old.plugin == entry.plugin && count++ == occurrence) {
        previous = &old;
        break;
      }
    }
    for (const AttributeSchema& attribute : plugin->Schema().attributes) {
      if (attribute.kind != AttributeKind::kSecret) continue;
      auto it = entry.attributes.find(attribute.name);
      const auto* text = it == entry.attributes.end() ? nullptr : std::get_if<std::string>(&it->second);
      if (text == nullptr || *text != kRedactedSecret) continue;
      const AttributeValue* old_value = nullptr;
      if (previous != nullptr) {
        auto old_it = previous->attributes.find(attribute.name);
        if (old_it != previous->attributes.end()) old_value = &old_it->second;
      }
      it->second = old_value != nullptr ? *old_value : AttributeValue{std::string()};
    }
  }
  return incoming;
}

// Runs each job at once, on the thread that posts it.
class CallerThread final : public BlockingExecutor {
 public:
  void Post(std::move_only_function<void()> job) override { job(); }
};

// The store's reads on the calling thread: what a service without event-loop reads answers.
std::unique_ptr<AsyncProjectReads> MakeCallerThreadReads(ProjectStore& store) {
  static CallerThread caller_thread;
  return std::make_unique<StoreProjectReads>(store, caller_thread);
}

}  // namespace

ProjectService::ProjectService(ProjectStore& store, const Clock& clock,
                               const PluginRegistry* plugins, ProjectServiceOptions options)
    : store_(store),
      clock_(clock),
      plugins_(plugins),
      options_(std::move(options)),
      audit_(options_.audit_log, clock),
      own_reads_(MakeCallerThreadReads(store)),
      reads_(own_reads_.get()) {}

nlohmann::json ProjectService::Snapshot(const std::string& name) const {
  Result<Project> project = store_.Get(name);
  if (!project) return nullptr;
  return ProjectToJson(*project, plugins_);
}

Result<Project> ProjectService::Create(std::string_view name, std::string_view operator_name,
                                       const ChangeOrigin& origin) {
  return Create(CreateRequest{std::string(name), std::string(operator_name), std::nullopt,
                              std::nullopt},
                origin);
}

Result<Project> ProjectService::Create(const CreateRequest& request, const ChangeOrigin& origin) {
  MARKET_ASSIGN_OR_RETURN(auto project_name, NormalizeProjectName("projectName", request.name));
  MARKET_ASSIGN_OR_RETURN(auto op, ValidateOperator("operator", request.operator_name));

  Project project;
  project.name = std::move(project_name);
  project.creator = op;
  project.last_modify_operator = op;
  project.create_time = project.last_modify_time = clock_.Now();
  project.cluster = options_.default_cluster;
  if (request.cluster && !request.cluster->empty()) {
    MARKET_ASSIGN_OR_RETURN(project.cluster, NormalizeClusterName("Cluster", *request.cluster));
  }
  MARKET_ASSIGN_OR_RETURN(
      project.define_type,
      ParseDockerfileTypeField("DefineDockerFileType", request.define_type.value_or(""),
                               DockerfileType::kTool));
  if (auto inserted = store_.Insert(project); !inserted) {
    if (inserted.error().code == Errc::kAlreadyExists) {
      return Fail(Errc::kAlreadyExists, fmt::format("project: {} already exist", project.name));
    }
    return std::unexpected(inserted.error());
  }
  // The after state is read back, as it is for every change: what the store keeps.
  if (audit_.Enabled()) {
    audit_.Record(op, origin, "project.new", "project:" + project.name, nullptr,
                  Snapshot(project.name));
  }
  PublishEvent(options_.events, [&] {
    return Event::ForProject(EventType::kProjectCreated, project.name, op, project.create_time);
  });
  return project;
}

Result<void> ProjectService::Delete(std::string_view name, std::string_view operator_name,
                                    const ChangeOrigin& origin) {
  MARKET_ASSIGN_OR_RETURN(auto project_name, NormalizeProjectName("projectName", name));
  MARKET_ASSIGN_OR_RETURN(auto op, ValidateOperator("operator", operator_name));
  nlohmann::json before = audit_.Enabled() ? Snapshot(project_name) : nullptr;
  auto removed = store_.Remove(project_name);
  if (!removed && removed.error().code == Errc::kDeleteTargetMissing) {
    return Fail(Errc::kDeleteTargetMissing,
                fmt::format("project to delete not exist: {}", project_name));
  }
  if (removed) {
    audit_.Record(op, origin, "project.delete", "project:" + project_name, before, nullptr);
    PublishEvent(options_.events, [&] {
      return Event::ForProject(EventType::kProjectDeleted, project_name, op, clock_.Now());
    });
  }
  return removed;
}

Result<Project> ProjectService::Clone(std::string_view source, std::string_view destination,
                                      std::string_view operator_name,
                                      const ChangeOrigin& origin) {
  MARKET_ASSIGN_OR_RETURN(auto src, NormalizeProjectName("srcProjectName", source));
  MARKET_ASSIGN_OR_RETURN(auto dst, NormalizeProjectName("dstProjectName", destination));
  MARKET_ASSIGN_OR_RETURN(auto op, ValidateOperator("operator", operator_name));

  Project copy;
  copy.name = dst;
  copy.creator = op;
  copy.last_modify_operator = op;
  copy.create_time = copy.last_modify_time = clock_.Now();
  auto cloned = store_.Clone(src, copy);
  if (!cloned) {
    switch (cloned.error().code) {
      case Errc::kCloneSourceMissing:
        return Fail(Errc::kCloneSourceMissing, fmt::format("src project not exist: {}", src));
      case Errc::kAlreadyExists:
        return Fail(Errc::kAlreadyExists, fmt::format("project: {} already exist", dst));
      default: break;
    }
  }
  if (cloned && audit_.Enabled()) {
    nlohmann::json after = Snapshot(dst);
    if (after.is_object()) after["clonedFrom"] = src;
    audit_.Record(op, origin, "project.clone", "project:" + dst, nullptr, after);
  }
  if (cloned) {
    PublishEvent(options_.events, [&] {
      return Event::ForProject(EventType::kProjectCreated, dst, op, copy.create_time);
    });
  }
  return cloned;
}

namespace {

// The store's answer to Get, with the seed's message for a missing project.
Result<Project> InfoAnswer(Result<Project> project, std::string_view name) {
  if (!project && project.error().code == Errc::kNotFound) {
    return Fail(Errc::kNotFound, fmt::format("project: {} not exist", name));
  }
  return project;
}

}  // namespace

Result<Project> ProjectService::Info(std::string_view name) {
  MARKET_ASSIGN_OR_RETURN(auto project_name, NormalizeProjectName("projectName", name));
  return InfoAnswer(store_.Get(project_name), project_name);
}

void ProjectService::Info(std::string_view name,
                          std::move_only_function<void(Result<Project>)> done) {
  auto project_name = NormalizeProjectName("projectName", name);
  if (!project_name) return done(std::unexpected(project_name.error()));
  std::string key = *project_name;
  reads_->Get(std::move(key), [name = std::move(*project_name),
                               done = std::move(done)](Result<Project> project) mutable {
    done(InfoAnswer(std::move(project), name));
  });
}

Result<ProjectListQuery> ProjectService::ListQuery(const ListRequest& request) {
  MARKET_ASSIGN_OR_RETURN(auto page, ParsePage("page", request.page));
  MARKET_ASSIGN_OR_RETURN(auto page_size, ParsePageSize("page_size", request.page_size));
  MARKET_ASSIGN_OR_RETURN(auto filter, ValidateNameFilter("projectName", request.name_filter));
  // Names are stored lower-cased, so the filter is too.
  for (char& c : filter) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }

  ProjectListQuery query;
  query.page = page;
  query.page_size = page_size;
  query.name_filter = std::move(filter);
  query.with_pipeline = request.with_pipeline;
  if (!request.after.empty()) {
    MARKET_ASSIGN_OR_RETURN(auto after, NormalizeProjectName("after", request.after));
    query.after = std::move(after);
  }
  return query;
}

void ProjectService::List(const ListRequest& request,
                          std::move_only_function<void(Result<ProjectListing>)> done) {
  auto query = ListQuery(request);
  if (!query) return done(std::unexpected(query.error()));
  int page_number = query->page;
  int page_size = query->page_size;
  reads_->List(std::move(*query), [page_number, page_size, done = std::move(done)](
                                      Result<ProjectPage> page) mutable {
    if (!page) return done(std::unexpected(page.error()));
    done(ProjectListing{std::move(*page), page_number, page_size});
  });
}

Result<Project> ProjectService::Save(const SaveRequest& request, const ChangeOrigin& origin) {
  MARKET_ASSIGN_OR_RETURN(auto project_name,
                          NormalizeProjectName(request.name_field, request.name));
  MARKET_ASSIGN_OR_RETURN(auto op, ValidateOperator("operator", request.operator_name));
  MARKET_ASSIGN_OR_RETURN(auto mode, ParseSaveMode("addOrUpdate", request.add_or_update));

  // Read before the store's transaction rather than inside it: a save racing this one may show
  // up in the audit's before or after, but each is a state the project really had. An add that
  // succeeds had nothing before it.
  std::optional<Project> existing;
  if (mode == SaveMode::kUpdate) {
    auto stored = store_.Get(project_name);
    if (stored) {
      existing = std::move(*stored);
    } else if (stored.error().code != Errc::kNotFound) {
      return std::unexpected(stored.error());
    }
  }

  Project project;
  project.name = project_name;
  project.creator = op;
  project.last_modify_operator = op;
  project.create_time = project.last_modify_time = clock_.Now();

  if (request.cluster && !request.cluster->empty()) {
    MARKET_ASSIGN_OR_RETURN(auto cluster, NormalizeClusterName("Cluster", *request.cluster));
    project.cluster = std::move(cluster);
  } else {
    project.cluster = existing ? existing->cluster : options_.default_cluster;
  }

  MARKET_ASSIGN_OR_RETURN(auto type, ParseDockerfileTypeField(
                                         "DefineDockerFileType", request.define_type.value_or(""),
                                         existing ? existing->define_type : DockerfileType::kTool));
  project.define_type = type;

  project.pipeline = request.pipeline;
  if (plugins_ != nullptr) {
    if (existing) {
      project.pipeline = RestoreRedactedSecrets(*plugins_, std::move(project.pipeline),
                                                existing->pipeline);
    }
    MARKET_ASSIGN_OR_RETURN(auto validated,
                            plugins_->Validate(project.define_type, project.pipeline));
    project.pipeline = std::move(validated);
  }

  auto saved = store_.Save(project, mode);
  if (!saved && saved.error().code == Errc::kAlreadyExists) {
    return Fail(Errc::kAlreadyExists, fmt::format("project: {} already exist", project.name));
  }
  if (saved && audit_.Enabled()) {
    audit_.Record(op, origin, "project.save", "project:" + project.name,
                  existing ? ProjectToJson(*existing, plugins_) : nlohmann::json(nullptr),
                  Snapshot(project.name));
  }
  // A save that inserts creates the project as Create does (the CLI creates projects so). Like
  // the audit's before, "inserts" is judged by the read above: a save racing another's insert
  // of the same name may be heard as a creation too.
  if (saved && !existing) {
    PublishEvent(options_.events, [&] {
      return Event::ForProject(EventType::kProjectCreated, project.name, op, project.create_time);
    });
  }
  return saved;
}

Result<RenderedDockerfile> ProjectService::Render(DockerfileType type,
                                                  const Pipeline& pipeline) const {
  if (plugins_ == nullptr) {
    return Fail(Errc::kInternal, "no plugin registry: pipelines cannot be rendered");
  }
  return plugins_->Render(type, pipeline);  // validates first
}

Result<RenderedDockerfile> ProjectService::Dockerfile(std::string_view name) {
  MARKET_ASSIGN_OR_RETURN(auto project, Info(name));
  return Render(project.define_type, project.pipeline);
}

Result<RenderedDockerfile> ProjectService::Preview(const PreviewRequest& request) const {
  MARKET_ASSIGN_OR_RETURN(
      auto type,
      ParseDockerfileTypeField("DefineDockerFileType", request.define_type, DockerfileType::kTool));
  return Render(type, request.pipeline);
}

}  // namespace market
