// CheckPluginRendering: validation of arbitrary pipelines by the built-in plugins, and the
// safety of the Dockerfile rendered from every pipeline that validates.
#include <algorithm>
#include <array>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fuzz_checks.hpp"
#include "fuzz_support.hpp"
#include "market/pipeline_json.hpp"
#include "market/plugin_registry.hpp"
#include "request_params.hpp"

namespace market::fuzz {

namespace {

constexpr std::string_view kBaseImagePlugin = "base_image_choose_from_harbor";
constexpr std::string_view kStaticDockerfilePlugin = "static_dockerfile";

// Every instruction the built-in plugins render. Anything else at the start of a line means a
// value escaped its instruction.
constexpr std::array<std::string_view, 12> kKeywords = {
    "FROM", "RUN", "ENV", "COPY", "EXPOSE", "ENTRYPOINT", "WORKDIR", "LABEL", "USER", "ARG",
    "CMD",  "HEALTHCHECK"};

const PluginRegistry& Plugins() {
  static const std::unique_ptr<PluginRegistry> registry = MakeBuiltinPluginRegistry();
  return *registry;
}

std::string Shown(std::string_view text) {
  std::string out;
  for (unsigned char c : text.substr(0, 200)) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

// One rendered instruction: a single line that a Dockerfile parser reads as that instruction.
Problem CheckInstruction(std::string_view line, std::string_view plugin) {
  const std::string where = "plugin " + std::string(plugin) + " rendered \"" + Shown(line) + "\": ";
  if (line.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos) {
    return where + "a line break or NUL inside the instruction";
  }
  const bool keyword = std::any_of(kKeywords.begin(), kKeywords.end(), [&](std::string_view k) {
    return line.size() > k.size() && line.starts_with(k) && line[k.size()] == ' ';
  });
  if (!keyword) return where + "the line does not start with a known instruction";
  std::string_view trimmed = line.substr(0, line.find_last_not_of(" \t") + 1);
  if (trimmed.ends_with('\\')) return where + "a trailing backslash joins the next line to it";
  return std::nullopt;
}

// A checkout's fields reach git and svn command lines (as separate arguments): no control
// characters, nothing an option parser would take for an option.
Problem CheckSource(const SourceSpec& source) {
  if (source.type != "git" && source.type != "svn") return "source type " + Shown(source.type);
  for (const std::string* field : {&source.url, &source.ref, &source.checkout_as, &source.username}) {
    if (std::any_of(field->begin(), field->end(),
                    [](unsigned char c) { return c < 0x20 || c == 0x7f; })) {
      return "source field with a control character: " + Shown(*field);
    }
  }
  for (const std::string* field : {&source.url, &source.ref, &source.username}) {
    if (field->starts_with('-')) return "source field that reads as an option: " + Shown(*field);
  }
  // The folder is joined to the workspace path, never passed bare, so a leading '-' is harmless.
  if (source.checkout_as.empty() || source.checkout_as.starts_with('/')) {
    return "checkout folder outside the context: " + Shown(source.checkout_as);
  }
  std::string_view path = source.checkout_as;
  while (!path.empty()) {
    const auto slash = path.find('/');
    if (path.substr(0, slash) == "..") return "checkout folder with ..: " + Shown(source.checkout_as);
    path = slash == std::string_view::npos ? std::string_view{} : path.substr(slash + 1);
  }
  return std::nullopt;
}

Problem CheckType(DockerfileType type, const Pipeline& pipeline) {
  const PluginRegistry& plugins = Plugins();
  Result<Pipeline> valid = plugins.Validate(type, pipeline);
  if (!valid) {
    const Errc code = valid.error().code;
    if (code != Errc::kInvalid && code != Errc::kUnknownPlugin) {
      return "Validate failed with code " + std::to_string(static_cast<int>(code)) + ": " +
             valid.error().message;
    }
    return std::nullopt;
  }
  const std::string type_name(ToString(type));
  Result<RenderedDockerfile> rendered = plugins.Render(type, pipeline);
  if (!rendered) {
    return type_name + ": a validated pipeline does not render: " + rendered.error().message;
  }
  // Normalization is idempotent: the normalized pipeline validates to itself.
  Result<Pipeline> again = plugins.Validate(type, *valid);
  if (!again || *again != *valid) return type_name + ": Validate of its own output differs";

  // Render entry by entry: each instruction line is checked on its own (a static_dockerfile's
  // text is the user's Dockerfile and exempt), then the whole text must be exactly those lines,
  // FROM first.
  std::vector<std::string> head;
  std::vector<std::string> body;
  for (const PluginInstance& entry : *valid) {
    const Plugin* plugin = plugins.Find(entry.plugin);
    if (plugin == nullptr) return "a validated entry names an unknown plugin " + entry.plugin;
    RenderContext context;
    if (Result<void> ok = plugin->Render(entry, context); !ok) {
      return "plugin " + entry.plugin + " does not render a validated entry";
    }
    for (const std::string& line : context.instructions) {
      if (entry.plugin != kStaticDockerfilePlugin) {
        if (Problem p = CheckInstruction(line, entry.plugin)) return p;
      }
      (entry.plugin == kBaseImagePlugin ? head : body).push_back(line);
    }
  }
  std::string expected;
  for (const auto* part : {&head, &body}) {
    for (const std::string& line : *part) expected += line + "\n";
  }
  if (rendered->text != expected) {
    return type_name + ": the Dockerfile is not its entries' instructions in order";
  }
  if (type == DockerfileType::kTool && !rendered->text.starts_with("FROM ")) {
    return std::string("tool: the Dockerfile does not start with FROM");
  }
  if (type == DockerfileType::kDownload &&
      (!rendered->text.empty() || rendered->dockerfile_source == nullptr)) {
    return std::string("download: expected no text and a Dockerfile source");
  }
  for (const SourceSpec& source : rendered->sources) {
    if (Problem p = CheckSource(source)) return p;
  }
  if (rendered->dockerfile_source) {
    if (Problem p = CheckSource(*rendered->dockerfile_source)) return p;
  }

  // Secrets never come back from Redact.
  for (const PluginInstance& entry : plugins.Redact(*valid)) {
    const PluginSchema& schema = plugins.Find(entry.plugin)->Schema();
    for (const AttributeSchema& attribute : schema.attributes) {
      if (attribute.kind != AttributeKind::kSecret) continue;
      auto it = entry.attributes.find(attribute.name);
      if (it == entry.attributes.end()) continue;
      const auto* value = std::get_if<std::string>(&it->second);
      if (value == nullptr || !(value->empty() || *value == kRedactedSecret)) {
        return "Redact leaves the secret " + entry.plugin + "." + attribute.name;
      }
    }
  }
  return std::nullopt;
}

}  // namespace

Problem CheckPluginRendering(std::string_view input) {
  auto [type_line, text] = SplitLine(input);
  Pipeline pipeline;
  nlohmann::json json = nlohmann::json::parse(text, nullptr, false);
  if (!json.is_discarded()) {
    if (json.is_object() && json.contains("$$plugin")) json = json["$$plugin"];
    Result<Pipeline> decoded = PipelineFromJson(json);
    if (!decoded) return std::nullopt;
    pipeline = std::move(*decoded);
  } else {
    Result<server::FormPairs> pairs = server::ParseUrlEncoded(text);
    if (!pairs) return std::nullopt;
    pipeline = server::PipelineFromForm(*pairs);
  }
  if (auto type = ParseDockerfileType(type_line)) return CheckType(*type, pipeline);
  for (DockerfileType type : {DockerfileType::kTool, DockerfileType::kEdit, DockerfileType::kDownload}) {
    if (Problem p = CheckType(type, pipeline)) return p;
  }
  return std::nullopt;
}

}  // namespace market::fuzz
