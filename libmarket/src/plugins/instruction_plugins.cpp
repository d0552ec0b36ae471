// The plugins that each turn their attributes into Dockerfile instructions.
#include <fmt/format.h>

#include <algorithm>

#include "plugins/builtin_plugins.hpp"
#include "plugins/dockerfile_text.hpp"
#include "plugins/plugin_support.hpp"
#include "plugins/value_checks.hpp"

namespace market::plugins {

namespace {

PluginSchema MakeSchema(std::string name, std::string title_en, std::string title_zh,
                        std::vector<AttributeSchema> attributes) {
  PluginSchema s;
  s.name = std::move(name);
  s.title_en = std::move(title_en);
  s.title_zh = std::move(title_zh);
  s.attributes = std::move(attributes);
  return s;
}

AttributeSchema Keys(std::string name, std::string pair, bool required, std::string help_en,
                     std::string help_zh) {
  AttributeSchema a = MakeAttribute(std::move(name), AttributeKind::kKeyValueList, required,
                                    std::move(help_en), std::move(help_zh));
  a.pair = std::move(pair);
  return a;
}

// A shell-form RUN line is the user's command, but it must stay one instruction.
std::optional<std::string> RunCommandProblem(const std::string& command) {
  std::size_t start = command.find_first_not_of(" \t");
  if (start == std::string::npos) return "is empty";
  if (command.compare(start, 2, "--") == 0) {
    return "must not start with '--' (it would be read as a RUN option such as --mount)";
  }
  if (dockerfile::EndsWithLineContinuation(command)) {
    return "must not end with a backslash (it would continue the instruction onto the next "
           "line)";
  }
  if (dockerfile::HasHeredocMarker(command)) {
    return "must not contain a here-document (<<WORD): it would swallow the instructions that "
           "follow";
  }
  return std::nullopt;
}

std::optional<std::string> ExecCommandProblem(const std::string& command) {
  Result<std::vector<std::string>> words = dockerfile::SplitShellWords(command);
  if (!words) return words.error().message;
  return std::nullopt;
}

// A command written like a shell line, rendered in exec form.
std::string ExecFormOf(const std::string& command) {
  return dockerfile::ExecForm(
      dockerfile::SplitShellWords(command).value_or(std::vector<std::string>{}));
}

class RunPlugin final : public BuiltinPlugin {
 public:
  RunPlugin()
      : BuiltinPlugin(MakeSchema(
            "run", "Run commands", "执行命令",
            {MakeAttribute(
                "value", AttributeKind::kList, true,
                "Shell commands, one RUN instruction each, in order. One line each; "
                "no trailing backslash, no here-documents, no leading --options.",
                "Shell 命令，每条生成一个 RUN 指令，按顺序执行。每条只能一行；不能以反斜杠结尾，"
                "不能使用 here-document，不能以 -- 选项开头。")})) {}

  // Plugin
  Result<void> Validate(const PluginInstance& entry) const override {
    return CheckEach(entry, "value", RunCommandProblem);
  }
  Result<void> Render(const PluginInstance& entry, RenderContext& out) const override {
    for (const std::string& command : ListValue(entry, "value")) {
      out.instructions.push_back("RUN " + command);
    }
    return {};
  }
};

class EnvSetPlugin final : public BuiltinPlugin {
 public:
  EnvSetPlugin()
      : BuiltinPlugin(MakeSchema(
            "env_set", "Environment variables", "环境变量",
            {Keys("key", "value", true,
                  "Variable names ([A-Za-z_][A-Za-z0-9_]*), paired in order with value.",
                  "变量名（[A-Za-z_][A-Za-z0-9_]*），按顺序与 value 一一对应。"),
             MakeAttribute("value", AttributeKind::kList, true,
                           "Values, taken literally: quotes, backslashes and $ are kept as "
                           "written (no variable expansion).",
                           "变量值，按字面保存：引号、反斜杠和 $ 都原样保留（不做变量展开）。")})) {
  }

  // Plugin
  Result<void> Validate(const PluginInstance& entry) const override {
    return CheckEach(entry, "key", VariableNameProblem);
  }
  Result<void> Render(const PluginInstance& entry, RenderContext& out) const override {
    const auto& keys = ListValue(entry, "key");
    const auto& values = ListValue(entry, "value");
    for (std::size_t i = 0; i < keys.size(); ++i) {
      out.instructions.push_back("ENV " + keys[i] + "=" + dockerfile::QuoteLiteral(values[i]));
    }
    return {};
  }
};

class CopyPlugin final : public BuiltinPlugin {
 public:
  CopyPlugin()
      : BuiltinPlugin(MakeSchema(
            "copy", "Copy files", "复制文件",
            {Keys("key", "value", true,
                  "Source paths inside the build context (relative, no '..'), paired in order "
                  "with value. Wildcards such as *.jar are allowed.",
                  "构建上下文中的源路径（相对路径，不能包含 '..'），按顺序与 value 一一对应。"
                  "可使用 *.jar 这样的通配符。"),
             MakeAttribute("value", AttributeKind::kList, true,
                           "Destinations in the image; relative ones are under the working "
                           "directory.",
                           "镜像中的目标路径；相对路径位于工作目录下。")})) {}

  // Plugin
  Result<void> Validate(const PluginInstance& entry) const override {
    if (auto ok = CheckEach(entry, "key", ContextPathProblem); !ok) return ok;
    return CheckEach(entry, "value", ImagePathProblem);
  }
  Result<void> Render(const PluginInstance& entry, RenderContext& out) const override {
    const auto& sources = ListValue(entry, "key");
    const auto& destinations = ListValue(entry, "value");
    for (std::size_t i = 0; i < sources.size(); ++i) {
      out.instructions.push_back("COPY " + dockerfile::ExecForm({sources[i], destinations[i]}));
    }
    return {};
  }
};

class ExposePlugin final : public BuiltinPlugin {
 public:
  ExposePlugin()
      : BuiltinPlugin(
            MakeSchema("expose", "Exposed ports", "暴露端口",
                       {MakeAttribute("port", AttributeKind::kList, true,
                                      "Ports 1-65535, each optionally followed by /tcp or /udp.",
                                      "端口号 1-65535，可在后面加 /tcp 或 /udp。")})) {}

  // Plugin
  Result<void> Validate(const PluginInstance& entry) const override {
    return CheckEach(entry, "port", PortProblem);
  }
  Result<void> Render(const PluginInstance& entry, RenderContext& out) const override {
    out.instructions.push_back(fmt::format("EXPOSE {}", fmt::join(ListValue(entry, "port"), " ")));
    return {};
  }
};

// ENTRYPOINT and CMD: one attribute split like a shell, rendered in exec form.
class ExecPlugin final : public BuiltinPlugin {
 public:
  ExecPlugin(std::string name, std::string attribute, std::string instruction, std::string title_en,
             std::string title_zh, std::string help_en, std::string help_zh)
      : BuiltinPlugin(MakeSchema(std::move(name), std::move(title_en), std::move(title_zh),
                                 {MakeAttribute(attribute, AttributeKind::kString, true,
                                                std::move(help_en), std::move(help_zh))})),
        attribute_(std::move(attribute)),
        instruction_(std::move(instruction)) {}

  // Plugin
  Result<void> Validate(const PluginInstance& entry) const override {
    return CheckSingle(entry, attribute_, ExecCommandProblem);
  }
  Result<void> Render(const PluginInstance& entry, RenderContext& out) const override {
    out.instructions.push_back(instruction_ + " " + ExecFormOf(SingleValue(entry, attribute_)));
    return {};
  }

 private:
  std::string attribute_;
  std::string instruction_;
};

class WorkDirPlugin final : public BuiltinPlugin {
 public:
  WorkDirPlugin()
      : BuiltinPlugin(MakeSchema(
            "work_dir", "Working directory", "工作目录",
            {MakeAttribute("input_workDir", AttributeKind::kString, true,
                           "Absolute path of the working directory.", "工作目录的绝对路径。")})) {}

  // Plugin
  Result<void> Validate(const PluginInstance& entry) const override {
    return CheckSingle(entry, "input_workDir", AbsoluteImagePathProblem);
  }
  Result<void> Render(const PluginInstance& entry, RenderContext& out) const override {
    out.instructions.push_back("WORKDIR " +
                               dockerfile::QuoteIfNeeded(SingleValue(entry, "input_workDir")));
    return {};
  }
};

class MaintainerPlugin final : public BuiltinPlugin {
 public:
  MaintainerPlugin()
      : BuiltinPlugin(
            MakeSchema("maintainer", "Maintainer", "维护者",
                       {MakeAttribute("input_maintainer", AttributeKind::kString, true,
                                      "Who maintains the image; stored as the label maintainer.",
                                      "镜像维护者；保存为 maintainer 标签。")})) {}

  // Plugin
  Result<void> Validate(const PluginInstance&) const override { return {}; }
  Result<void> Render(const PluginInstance& entry, RenderContext& out) const override {
    out.instructions.push_back("LABEL maintainer=" +
                               dockerfile::QuoteLiteral(SingleValue(entry, "input_maintainer")));
    return {};
  }
};

class StaticDockerfilePlugin final : public BuiltinPlugin {
 public:
  StaticDockerfilePlugin() : BuiltinPlugin(Make()) {}

  // Plugin
  Result<void> Validate(const PluginInstance& entry) const override {
    const std::string& text = SingleValue(entry, "dockerfile");
    if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
      return Invalid(Schema().name, "dockerfile", "is empty");
    }
    if (dockerfile::EndsWithLineContinuation(Trimmed(text))) {
      return Invalid(Schema().name, "dockerfile",
                     "ends with a line continuation (a trailing backslash)");
    }
    return {};
  }
  Result<void> Render(const PluginInstance& entry, RenderContext& out) const override {
    out.instructions.push_back(Trimmed(SingleValue(entry, "dockerfile")));
    return {};
  }

 private:
  // Trailing line breaks go: the renderer ends every instruction with exactly one.
  static std::string Trimmed(const std::string& text) {
    std::size_t end = text.find_last_not_of("\r\n");
    return end == std::string::npos ? std::string() : text.substr(0, end + 1);
  }

  static PluginSchema Make() {
    AttributeSchema text = MakeAttribute("dockerfile", AttributeKind::kString, true,
                                         "Your own Dockerfile, used as written (the edit type).",
                                         "您自己编写的 Dockerfile，按原样使用（edit 类型）。");
    text.multiline = true;
    return MakeSchema(std::string(kStaticDockerfilePlugin), "Hand-written Dockerfile",
                      "手写 Dockerfile", {std::move(text)});
  }
};

class LabelPlugin final : public BuiltinPlugin {
 public:
  LabelPlugin()
      : BuiltinPlugin(MakeSchema(
            "label", "Labels", "标签",
            {Keys("key", "value", true,
                  "Label keys (letters, digits and . _ / -, e.g. org.opencontainers.image.title), "
                  "paired in order with value.",
                  "标签键（字母、数字及 . _ / -，例如 org.opencontainers.image.title），"
                  "按顺序与 value 一一对应。"),
             MakeAttribute("value", AttributeKind::kList, true, "Label values, taken literally.",
                           "标签值，按字面保存。")})) {}

  // Plugin
  Result<void> Validate(const PluginInstance& entry) const override {
    return CheckEach(entry, "key", LabelKeyProblem);
  }
  Result<void> Render(const PluginInstance& entry, RenderContext& out) const override {
    const auto& keys = ListValue(entry, "key");
    const auto& values = ListValue(entry, "value");
    for (std::size_t i = 0; i < keys.size(); ++i) {
      out.instructions.push_back("LABEL " + keys[i] + "=" + dockerfile::QuoteLiteral(values[i]));
    }
    return {};
  }
};

class UserPlugin final : public BuiltinPlugin {
 public:
  UserPlugin()
      : BuiltinPlugin(MakeSchema(
            "user", "User", "运行用户",
            {MakeAttribute("input_user", AttributeKind::kString, true,
                           "User (and optional group) the following instructions and the "
                           "container run as: name or uid, e.g. app or 1000:1000.",
                           "之后的指令和容器运行时使用的用户（及可选的组）：名称或数字 ID，"
                           "例如 app 或 1000:1000。")})) {}

  // Plugin
  Result<void> Validate(const PluginInstance& entry) const override {
    return CheckSingle(entry, "input_user", UserSpecProblem);
  }
  Result<void> Render(const PluginInstance& entry, RenderContext& out) const override {
    out.instructions.push_back("USER " + SingleValue(entry, "input_user"));
    return {};
  }
};

class ArgPlugin final : public BuiltinPlugin {
 public:
  ArgPlugin()
      : BuiltinPlugin(MakeSchema(
            "arg", "Build arguments", "构建参数",
            {Keys("key", "value", true,
                  "Build argument names ([A-Za-z_][A-Za-z0-9_]*), paired in order with value.",
                  "构建参数名（[A-Za-z_][A-Za-z0-9_]*），按顺序与 value 一一对应。"),
             MakeAttribute(
                 "value", AttributeKind::kList, false,
                 "Default values, taken literally; an empty value (or no value list) "
                 "declares the argument without a default.",
                 "默认值，按字面保存；值为空（或不提供 value）表示声明参数但没有默认值。")})) {}

  // Plugin
  Result<void> Validate(const PluginInstance& entry) const override {
    return CheckEach(entry, "key", VariableNameProblem);
  }
  Result<void> Render(const PluginInstance& entry, RenderContext& out) const override {
    const auto& keys = ListValue(entry, "key");
    const auto& values = ListValue(entry, "value");
    for (std::size_t i = 0; i < keys.size(); ++i) {
      bool has_default = i < values.size() && !values[i].empty();
      out.instructions.push_back("ARG " + keys[i] +
                                 (has_default ? "=" + dockerfile::QuoteLiteral(values[i]) : ""));
    }
    return {};
  }
};

class HealthcheckPlugin final : public BuiltinPlugin {
 public:
  HealthcheckPlugin()
      : BuiltinPlugin(MakeSchema(
            "healthcheck", "Health check", "健康检查",
            {MakeAttribute("cmd", AttributeKind::kString, true,
                           "Command that checks the container, written like a shell line "
                           "(quotes respected) and run in exec form, e.g. curl -f "
                           "http://localhost/. Note: only images in docker format keep it.",
                           "检查容器状态的命令，按 shell 方式书写（支持引号），以 exec "
                           "形式执行，例如 curl -f http://localhost/。注意：只有 docker "
                           "格式的镜像会保留健康检查。"),
             MakeAttribute("interval", AttributeKind::kString, false,
                           "Time between checks, e.g. 30s or 1m30s.",
                           "检查间隔，例如 30s 或 1m30s。"),
             MakeAttribute("timeout", AttributeKind::kString, false,
                           "Time a check may take, e.g. 5s.", "单次检查的超时时间，例如 5s。"),
             MakeAttribute("start_period", AttributeKind::kString, false,
                           "Start-up time during which failures do not count, e.g. 10s.",
                           "启动阶段的时长，此期间的失败不计入，例如 10s。"),
             MakeAttribute("retries", AttributeKind::kString, false,
                           "Failures in a row before the container is unhealthy (1-100).",
                           "连续失败多少次后判定容器不健康（1-100）。")})) {}

  // Plugin
  Result<void> Validate(const PluginInstance& entry) const override {
    if (auto ok = CheckSingle(entry, "cmd", ExecCommandProblem); !ok) return ok;
    for (const char* name : {"interval", "timeout", "start_period"}) {
      if (auto ok = CheckSingle(entry, name, DurationProblem); !ok) return ok;
    }
    return CheckSingle(entry, "retries", RetriesProblem);
  }
  Result<void> Render(const PluginInstance& entry, RenderContext& out) const override {
    std::string line = "HEALTHCHECK";
    for (const char* name : {"interval", "timeout", "start_period", "retries"}) {
      const std::string& value = SingleValue(entry, name);
      if (value.empty()) continue;
      std::string flag = name;
      std::replace(flag.begin(), flag.end(), '_', '-');
      line += " --" + flag + "=" + value;
    }
    line += " CMD " + ExecFormOf(SingleValue(entry, "cmd"));
    out.instructions.push_back(std::move(line));
    return {};
  }
};

}  // namespace

std::vector<PluginPtr> MakeInstructionPlugins() {
  std::vector<PluginPtr> out;
  out.push_back(std::make_unique<RunPlugin>());
  out.push_back(std::make_unique<EnvSetPlugin>());
  out.push_back(std::make_unique<CopyPlugin>());
  out.push_back(std::make_unique<ExposePlugin>());
  out.push_back(std::make_unique<ExecPlugin>(
      "entrypoint", "input_entrypoint", "ENTRYPOINT", "Entrypoint", "入口命令",
      "Command the container starts with, written like a shell line (quotes respected, no "
      "variable expansion) and rendered in exec form.",
      "容器启动时执行的命令，按 shell 方式书写（支持引号，不做变量展开），以 exec 形式生成。"));
  out.push_back(std::make_unique<WorkDirPlugin>());
  out.push_back(std::make_unique<MaintainerPlugin>());
  out.push_back(std::make_unique<StaticDockerfilePlugin>());
  out.push_back(std::make_unique<LabelPlugin>());
  out.push_back(std::make_unique<UserPlugin>());
  out.push_back(std::make_unique<ArgPlugin>());
  out.push_back(std::make_unique<ExecPlugin>(
      "cmd", "input_cmd", "CMD", "Default command", "默认命令",
      "Default command (or arguments to the entrypoint), written like a shell line (quotes "
      "respected) and rendered in exec form.",
      "默认命令（或传给入口命令的参数），按 shell 方式书写（支持引号），以 exec 形式生成。"));
  out.push_back(std::make_unique<HealthcheckPlugin>());
  return out;
}

}  // namespace market::plugins
