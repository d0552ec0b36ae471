// base_image_choose_from_harbor: the FROM line, and BaseImageList over the registry's `base`
// project.
#include <algorithm>
#include <cstdint>

#include "log.hpp"
#include "market/registry.hpp"
#include "plugins/builtin_plugins.hpp"
#include "plugins/plugin_support.hpp"
#include "plugins/value_checks.hpp"

namespace market::plugins {

namespace {

constexpr int kPageSize = 100;
// A bound on the pages read per listing, so a registry that misreports totals cannot keep the
// call going forever.
constexpr int kMaxPages = 100;

std::unexpected<Error> RegistryFailure(const Error& error) {
  return Fail(Errc::kExtensionCallFailed, "registry: " + error.message);
}

// Calls fetch(page) until every item is seen; stops early when visit returns true.
template <class T, class Fetch, class Visit>
Result<void> ForEachItem(Fetch fetch, Visit visit) {
  std::int64_t seen = 0;
  for (int page = 1; page <= kMaxPages; ++page) {
    Result<Paged<T>> result = fetch(RegistryPage{page, kPageSize});
    if (!result) return std::unexpected(result.error());
    for (const T& item : result->items) {
      if (visit(item)) return {};
    }
    seen += static_cast<std::int64_t>(result->items.size());
    // A short page ends the listing; so does the total, when the registry knows it.
    bool short_page = result->items.size() < static_cast<std::size_t>(kPageSize);
    if (short_page || (result->total_count > 0 && seen >= result->total_count)) return {};
  }
  return {};
}

class BaseImagePlugin final : public BuiltinPlugin {
 public:
  BaseImagePlugin() : BuiltinPlugin(MakeSchema()) {}

  // Plugin
  Result<void> Validate(const PluginInstance& entry) const override {
    return CheckSingle(entry, "handleInput", ImageReferenceProblem);
  }

  Result<void> Render(const PluginInstance& entry, RenderContext& out) const override {
    out.instructions.push_back("FROM " + SingleValue(entry, "handleInput"));
    return {};
  }

  Result<nlohmann::json> CallExtension(std::string_view method,
                                       const std::map<std::string, std::string>& params,
                                       const ExtensionContext& context) const override {
    if (method != "BaseImageList") return Plugin::CallExtension(method, params, context);
    std::string query;
    if (auto it = params.find("query"); it != params.end()) query = it->second;
    if (auto problem = TextProblem(query, false); problem || query.size() > 128) {
      return Fail(Errc::kExtensionBadParams,
                  "query: " + (problem ? *problem : std::string("is longer than 128 characters")));
    }
    if (context.registry == nullptr) {
      return Fail(Errc::kExtensionCallFailed, "no registry configured");
    }
    return ListBaseImages(*context.registry, query);
  }

 private:
  static Result<nlohmann::json> ListBaseImages(Registry& registry, const std::string& query) {
    std::optional<std::int64_t> project_id;
    Result<void> found = ForEachItem<RegistryProject>(
        [&](RegistryPage page) { return registry.ListProjects(kBaseImageProject, page); },
        [&](const RegistryProject& p) {
          if (p.name != kBaseImageProject) return false;
          project_id = p.project_id;
          return true;
        });
    if (!found) return RegistryFailure(found.error());
    // No base project yet is an empty choice, not a failure.
    if (!project_id) return nlohmann::json::array();

    std::vector<std::string> repositories;
    Result<void> listed = ForEachItem<RegistryRepository>(
        [&](RegistryPage page) { return registry.ListRepositories(*project_id, query, page); },
        [&](const RegistryRepository& r) {
          repositories.push_back(r.name);
          return false;
        });
    if (!listed) return RegistryFailure(listed.error());

    std::string host = registry.PushHost();
    std::vector<std::string> images;
    for (const std::string& repository : repositories) {
      Result<void> tags = ForEachItem<RegistryTag>(
          [&](RegistryPage page) { return registry.ListTags(repository, page); },
          [&](const RegistryTag& t) {
            images.push_back((host.empty() ? "" : host + "/") + repository + ":" + t.name);
            return false;
          });
      if (!tags) return RegistryFailure(tags.error());
    }
    std::sort(images.begin(), images.end());
    MARKET_LOG_DEBUG("BaseImageList: {} images in {} repositories", images.size(),
                     repositories.size());
    return nlohmann::json(images);
  }

  static PluginSchema MakeSchema() {
    PluginSchema s;
    s.name = kBaseImagePlugin;
    s.title_en = "Base image";
    s.title_zh = "基础镜像";
    s.attributes.push_back(MakeAttribute(
        "handleInput", AttributeKind::kString, true,
        "Image to build on (FROM), as registry/project/name:tag or name@sha256:digest. The "
        "extension method BaseImageList (optional parameter query) returns the images of the "
        "registry's `base` project as a sorted JSON array of \"host/base/name:tag\" strings.",
        "构建所基于的镜像（FROM），格式为 仓库地址/项目/名称:标签 或 名称@sha256:摘要。扩展方法 "
        "BaseImageList（可选参数 query）以排序后的 JSON 字符串数组返回镜像仓库 base "
        "项目中的镜像，形如 \"host/base/name:tag\"。"));
    return s;
  }
};

}  // namespace

PluginPtr MakeBaseImagePlugin() { return std::make_unique<BaseImagePlugin>(); }

}  // namespace market::plugins
