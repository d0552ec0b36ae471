// download_dockerfile and download_executable_source: sources checked out from git or svn.
#include "plugins/builtin_plugins.hpp"
#include "plugins/dockerfile_text.hpp"
#include "plugins/plugin_support.hpp"
#include "plugins/value_checks.hpp"
#include "source/context_paths.hpp"
#include "source/source_url.hpp"

namespace market::plugins {

namespace {

constexpr std::string_view kDefaultDockerfilePath = "Dockerfile";

// The attribute names of one source: the two plugins spell type and url differently (as the
// original did).
struct SourceAttributes {
  std::string type;
  std::string url;
  std::string checkout_as = "checkoutAs";
  std::string username = "username";
  std::string password = "password";
  std::string ref = "ref";
};

void AddSourceAttributes(const SourceAttributes& names, std::vector<AttributeSchema>& out) {
  AttributeSchema type =
      MakeAttribute(names.type, AttributeKind::kChoice, true,
                    "Version control system of the repository.", "代码仓库的版本控制系统。");
  type.choices = {"git", "svn"};
  out.push_back(std::move(type));
  out.push_back(MakeAttribute(
      names.url, AttributeKind::kString, true,
      "Repository URL: http(s)://, ssh://, git:// or user@host:path for git; http(s)://, svn:// "
      "or svn+ssh:// for svn. Put no password in it: use the password attribute.",
      "仓库地址：git 支持 http(s)://、ssh://、git:// 或 user@host:path；svn 支持 "
      "http(s)://、svn://、svn+ssh://。地址中不要包含密码，请使用 password 属性。"));
  out.push_back(MakeAttribute(names.checkout_as, AttributeKind::kString, true,
                              "Folder inside the build context to check the repository out "
                              "into (relative, no '.' or '..' parts); no two sources may share "
                              "a folder or nest.",
                              "检出到构建上下文中的目录（相对路径，不能包含 '.' 或 '..'）；"
                              "两个源不能使用相同或相互嵌套的目录。"));
  out.push_back(
      MakeAttribute(names.ref, AttributeKind::kString, false,
                    "Branch, tag or commit (git) or revision (svn); empty for the "
                    "default branch or latest revision.",
                    "分支、标签或提交（git），或修订号（svn）；留空表示默认分支或最新修订。"));
  out.push_back(MakeAttribute(names.username, AttributeKind::kString, false,
                              "User name for the repository, if it needs one.",
                              "访问仓库的用户名（如需要）。"));
  out.push_back(MakeAttribute(names.password, AttributeKind::kSecret, false,
                              "Password or token for the repository. Never shown again after "
                              "saving.",
                              "访问仓库的密码或令牌。保存后不会再显示。"));
}

// A checkout path as the build uses it ("a//b/" -> "a/b"); validated values normalize.
std::string NormalPath(const std::string& path) {
  auto normal = source::NormalizeContextPath(path);
  return normal ? *normal : path;
}

Result<void> ValidateSource(const PluginSchema& schema, const SourceAttributes& names,
                            const SourceRules& rules, const PluginInstance& entry) {
  const std::string& type = SingleValue(entry, names.type);
  const std::string& url = SingleValue(entry, names.url);
  if (auto p = SourceUrlProblem(type, url)) return Invalid(schema.name, names.url, *p);
  auto endpoint = source::ParseSourceEndpoint(url);
  if (!endpoint) return Invalid(schema.name, names.url, "has no host and port that can be read");
  if (endpoint->ssh && !rules.allow_ssh) {
    return Invalid(schema.name, names.url,
                   "is an ssh source, and ssh sources are disabled (ssh-sources)");
  }
  if (auto p = CheckoutPathProblem(SingleValue(entry, names.checkout_as))) {
    return Invalid(schema.name, names.checkout_as, *p);
  }
  if (const std::string& ref = SingleValue(entry, names.ref); !ref.empty()) {
    if (auto p = SourceRefProblem(ref)) return Invalid(schema.name, names.ref, *p);
  }
  if (auto p = SourceUserProblem(SingleValue(entry, names.username))) {
    return Invalid(schema.name, names.username, *p);
  }
  return {};
}

SourceSpec MakeSource(const SourceAttributes& names, const PluginInstance& entry) {
  SourceSpec spec;
  spec.type = SingleValue(entry, names.type);
  spec.url = SingleValue(entry, names.url);
  spec.ref = SingleValue(entry, names.ref);
  spec.checkout_as = NormalPath(SingleValue(entry, names.checkout_as));
  spec.username = SingleValue(entry, names.username);
  spec.password = SingleValue(entry, names.password);
  return spec;
}

class DownloadDockerfilePlugin final : public BuiltinPlugin {
 public:
  explicit DownloadDockerfilePlugin(const SourceRules& rules)
      : BuiltinPlugin(MakeSchema()), rules_(rules) {}

  // Plugin
  Result<void> Validate(const PluginInstance& entry) const override {
    if (auto ok = ValidateSource(Schema(), Names(), rules_, entry); !ok) return ok;
    return CheckSingle(entry, "dockerfilePath", CheckoutPathProblem);
  }

  Result<void> Render(const PluginInstance& entry, RenderContext& out) const override {
    out.dockerfile_source = std::make_unique<SourceSpec>(MakeSource(Names(), entry));
    const std::string& path = SingleValue(entry, "dockerfilePath");
    out.dockerfile_path = path.empty() ? std::string(kDefaultDockerfilePath) : NormalPath(path);
    return {};
  }

 private:
  SourceRules rules_;

  static SourceAttributes Names() { return {.type = "sourceType", .url = "sourceUrl"}; }

  static PluginSchema MakeSchema() {
    PluginSchema s;
    s.name = kDownloadDockerfilePlugin;
    s.title_en = "Dockerfile from a repository";
    s.title_zh = "从代码仓库下载 Dockerfile";
    AddSourceAttributes(Names(), s.attributes);
    s.attributes.push_back(MakeAttribute(
        "dockerfilePath", AttributeKind::kString, false,
        "Path of the Dockerfile inside the checkout; Dockerfile when empty. The checkout is the "
        "build context.",
        "Dockerfile 在检出目录中的路径，留空为 Dockerfile。检出目录即构建上下文。"));
    return s;
  }
};

class DownloadExecutableSourcePlugin final : public BuiltinPlugin {
 public:
  explicit DownloadExecutableSourcePlugin(const SourceRules& rules)
      : BuiltinPlugin(MakeSchema()), rules_(rules) {}

  // Plugin
  Result<void> Validate(const PluginInstance& entry) const override {
    if (auto ok = ValidateSource(Schema(), Names(), rules_, entry); !ok) return ok;
    return CheckSingle(entry, "containerPath", ImagePathProblem);
  }

  Result<void> Render(const PluginInstance& entry, RenderContext& out) const override {
    SourceSpec spec = MakeSource(Names(), entry);
    out.instructions.push_back(
        "COPY " + dockerfile::ExecForm({spec.checkout_as, SingleValue(entry, "containerPath")}));
    out.sources.push_back(std::move(spec));
    return {};
  }

 private:
  SourceRules rules_;

  static SourceAttributes Names() { return {.type = "source_type", .url = "source_url"}; }

  static PluginSchema MakeSchema() {
    PluginSchema s;
    s.name = kDownloadSourcePlugin;
    s.title_en = "Source code from a repository";
    s.title_zh = "从代码仓库获取源码";
    AddSourceAttributes(Names(), s.attributes);
    s.attributes.push_back(
        MakeAttribute("containerPath", AttributeKind::kString, true,
                      "Where the checkout is copied in the image (COPY destination).",
                      "检出的代码复制到镜像中的位置（COPY 的目标路径）。"));
    return s;
  }
};

}  // namespace

PluginPtr MakeDownloadDockerfilePlugin(const SourceRules& rules) {
  return std::make_unique<DownloadDockerfilePlugin>(rules);
}

PluginPtr MakeDownloadExecutableSourcePlugin(const SourceRules& rules) {
  return std::make_unique<DownloadExecutableSourcePlugin>(rules);
}

}  // namespace market::plugins
