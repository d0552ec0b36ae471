// PluginRegistry: normalization and validation of pipelines, rendering, redaction.
#include "market/plugin_registry.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "plugins/builtin_plugins.hpp"
#include "plugins/plugin_support.hpp"
#include "plugins/value_checks.hpp"
#include "source/context_paths.hpp"

namespace market {

namespace {

bool IsList(AttributeKind kind) {
  return kind == AttributeKind::kList || kind == AttributeKind::kKeyValueList;
}

const AttributeSchema* FindAttribute(const PluginSchema& schema, std::string_view name) {
  for (const AttributeSchema& a : schema.attributes) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

std::string AttributeNames(const PluginSchema& schema) {
  std::vector<std::string_view> names;
  for (const AttributeSchema& a : schema.attributes) names.push_back(a.name);
  return fmt::format("{}", fmt::join(names, ", "));
}

// The generic rules every schema implies: known attributes, list or single shape, text without
// control characters, choices, required values and paired list lengths.
Result<PluginInstance> Normalize(const PluginSchema& schema, const PluginInstance& entry) {
  PluginInstance out;
  out.plugin = entry.plugin;
  for (const auto& [name, value] : entry.attributes) {
    const AttributeSchema* attribute = FindAttribute(schema, name);
    if (attribute == nullptr) {
      return plugins::Invalid(schema.name, name,
                              "unknown attribute (known: " + AttributeNames(schema) + ")");
    }
    if (IsList(attribute->kind)) {
      std::vector<std::string> list;
      if (const auto* single = std::get_if<std::string>(&value)) {
        list.push_back(*single);
      } else {
        list = std::get<std::vector<std::string>>(value);
      }
      for (std::size_t i = 0; i < list.size(); ++i) {
        if (auto problem = plugins::TextProblem(list[i], attribute->multiline)) {
          return plugins::Invalid(schema.name, name, i, *problem);
        }
      }
      out.attributes.emplace(name, std::move(list));
    } else {
      const auto* single = std::get_if<std::string>(&value);
      if (single == nullptr) {
        return plugins::Invalid(schema.name, name,
                                fmt::format("takes a single value, not a list of {}",
                                            std::get<std::vector<std::string>>(value).size()));
      }
      if (auto problem = plugins::TextProblem(*single, attribute->multiline)) {
        return plugins::Invalid(schema.name, name, *problem);
      }
      if (attribute->kind == AttributeKind::kChoice && !single->empty() &&
          std::find(attribute->choices.begin(), attribute->choices.end(), *single) ==
              attribute->choices.end()) {
        return plugins::Invalid(schema.name, name,
                                fmt::format("must be one of {} (got \"{}\")",
                                            fmt::join(attribute->choices, ", "), *single));
      }
      out.attributes.emplace(name, *single);
    }
  }
  for (const AttributeSchema& attribute : schema.attributes) {
    auto it = out.attributes.find(attribute.name);
    if (attribute.required) {
      bool missing =
          it == out.attributes.end() ||
          (IsList(attribute.kind) ? std::get<std::vector<std::string>>(it->second).empty()
                                  : std::get<std::string>(it->second).empty());
      if (missing) return plugins::Invalid(schema.name, attribute.name, "is required");
    }
    if (attribute.kind == AttributeKind::kKeyValueList && !attribute.pair.empty()) {
      const auto& keys = plugins::ListValue(out, attribute.name);
      auto pair = out.attributes.find(attribute.pair);
      if (pair != out.attributes.end()) {
        const auto& values = std::get<std::vector<std::string>>(pair->second);
        if (values.size() != keys.size()) {
          return plugins::Invalid(schema.name, attribute.pair,
                                  fmt::format("has {} values for {} {} entries", values.size(),
                                              keys.size(), attribute.name));
        }
      }
    }
  }
  return out;
}

bool HasMultilineAttribute(const PluginSchema& schema) {
  return std::any_of(schema.attributes.begin(), schema.attributes.end(),
                     [](const AttributeSchema& a) { return a.multiline; });
}

Error WithEntry(Error error, std::size_t index) {
  error.message += fmt::format(" (pipeline entry {})", index + 1);
  return error;
}

std::string_view TypeName(DockerfileType type) {
  switch (type) {
    case DockerfileType::kTool:
      return "tool";
    case DockerfileType::kEdit:
      return "edit";
    case DockerfileType::kDownload:
      return "download";
  }
  return "?";
}

// Which plugins a pipeline of `type` may hold, and how many of the one that defines it.
Result<void> CheckPipelineRules(DockerfileType type, const Pipeline& pipeline) {
  std::size_t base = 0;
  std::size_t statics = 0;
  std::size_t downloads = 0;
  for (std::size_t i = 0; i < pipeline.size(); ++i) {
    const std::string& name = pipeline[i].plugin;
    base += name == plugins::kBaseImagePlugin;
    statics += name == plugins::kStaticDockerfilePlugin;
    downloads += name == plugins::kDownloadDockerfilePlugin;
    bool allowed = true;
    switch (type) {
      case DockerfileType::kTool:
        allowed =
            name != plugins::kStaticDockerfilePlugin && name != plugins::kDownloadDockerfilePlugin;
        break;
      case DockerfileType::kEdit:
        // The hand-written text may COPY sources checked out into the context.
        allowed =
            name == plugins::kStaticDockerfilePlugin || name == plugins::kDownloadSourcePlugin;
        break;
      case DockerfileType::kDownload:
        allowed = name == plugins::kDownloadDockerfilePlugin;
        break;
    }
    if (!allowed) {
      return Fail(Errc::kInvalid,
                  fmt::format("{} is not allowed in a pipeline of type {} (pipeline entry {})",
                              name, TypeName(type), i + 1));
    }
  }
  auto exactly_one = [&](std::size_t count, std::string_view plugin) -> Result<void> {
    if (count == 1) return {};
    return Fail(Errc::kInvalid,
                fmt::format("a pipeline of type {} needs exactly one {} entry (found {})",
                            TypeName(type), plugin, count));
  };
  switch (type) {
    case DockerfileType::kTool:
      return exactly_one(base, plugins::kBaseImagePlugin);
    case DockerfileType::kEdit:
      return exactly_one(statics, plugins::kStaticDockerfilePlugin);
    case DockerfileType::kDownload:
      return exactly_one(downloads, plugins::kDownloadDockerfilePlugin);
  }
  return {};
}

// A source as rendered, and the pipeline entry it came from.
struct RenderedSource {
  const SourceSpec* spec;
  std::string_view plugin;
  std::size_t entry;
};

// Two checkouts into one folder, or one inside the other, would overwrite each other; worse,
// the second would be written through a symbolic link the first repository put there. Paths are
// compared normalized, so "a", "./a/sub" and "a//sub/" are seen for what they are.
Result<void> CheckCheckoutFolders(const std::vector<RenderedSource>& sources) {
  std::vector<std::string> folders;
  for (std::size_t i = 0; i < sources.size(); ++i) {
    const RenderedSource& s = sources[i];
    auto folder = source::NormalizeContextPath(s.spec->checkout_as);
    if (!folder) {
      return std::unexpected(
          WithEntry(plugins::Invalid(s.plugin, "checkoutAs", folder.error()).error(), s.entry));
    }
    for (std::size_t j = 0; j < folders.size(); ++j) {
      if (source::ContextPathsOverlap(folders[j], *folder)) {
        return std::unexpected(WithEntry(
            plugins::Invalid(s.plugin, "checkoutAs",
                             fmt::format("\"{}\" overlaps \"{}\" of pipeline entry {}: two "
                                         "checkouts may not share a folder or nest",
                                         *folder, folders[j], sources[j].entry + 1))
                .error(),
            s.entry));
      }
    }
    folders.push_back(std::move(*folder));
  }
  return {};
}

}  // namespace

PluginRegistry::PluginRegistry() = default;
PluginRegistry::~PluginRegistry() = default;

Result<void> PluginRegistry::Add(PluginPtr plugin) {
  std::string name = plugin->Schema().name;
  if (plugins_.contains(name)) {
    return Fail(Errc::kAlreadyExists, "plugin already registered: " + name);
  }
  plugins_.emplace(std::move(name), std::move(plugin));
  return {};
}

const Plugin* PluginRegistry::Find(std::string_view name) const {
  auto it = plugins_.find(name);
  return it == plugins_.end() ? nullptr : it->second.get();
}

std::vector<const PluginSchema*> PluginRegistry::Schemas() const {
  std::vector<const PluginSchema*> out;
  out.reserve(plugins_.size());
  for (const auto& [name, plugin] : plugins_) out.push_back(&plugin->Schema());
  return out;
}

Result<Pipeline> PluginRegistry::Validate(DockerfileType type, const Pipeline& pipeline) const {
  Pipeline out;
  out.reserve(pipeline.size());
  std::vector<RenderContext> rendered;
  for (std::size_t i = 0; i < pipeline.size(); ++i) {
    const Plugin* plugin = Find(pipeline[i].plugin);
    if (plugin == nullptr) {
      return std::unexpected(
          WithEntry(Error{Errc::kUnknownPlugin, "unknown plugin: " + pipeline[i].plugin}, i));
    }
    Result<PluginInstance> normalized = Normalize(plugin->Schema(), pipeline[i]);
    if (!normalized) return std::unexpected(WithEntry(normalized.error(), i));
    if (Result<void> ok = plugin->Validate(*normalized); !ok) {
      return std::unexpected(WithEntry(ok.error(), i));
    }
    // Rendering is cheap and pure; doing it here makes every render failure a validation one.
    RenderContext context;
    if (Result<void> ok = plugin->Render(*normalized, context); !ok) {
      return std::unexpected(WithEntry(ok.error(), i));
    }
    bool multiline = HasMultilineAttribute(plugin->Schema());
    for (const std::string& line : context.instructions) {
      // Guards plugins added by embedders: only a multi-line attribute may span lines.
      if (line.find('\0') != std::string::npos ||
          (!multiline && line.find_first_of("\r\n") != std::string::npos)) {
        return std::unexpected(WithEntry(
            Error{Errc::kInternal,
                  "plugin " + pipeline[i].plugin + " rendered a line break inside an instruction"},
            i));
      }
    }
    rendered.push_back(std::move(context));
    out.push_back(std::move(*normalized));
  }
  if (Result<void> ok = CheckPipelineRules(type, out); !ok) return std::unexpected(ok.error());
  std::vector<RenderedSource> sources;
  for (std::size_t i = 0; i < rendered.size(); ++i) {
    for (const SourceSpec& s : rendered[i].sources) sources.push_back({&s, out[i].plugin, i});
    if (rendered[i].dockerfile_source) {
      sources.push_back({rendered[i].dockerfile_source.get(), out[i].plugin, i});
    }
  }
  MARKET_RETURN_IF_ERROR(CheckCheckoutFolders(sources));
  return out;
}

Result<RenderedDockerfile> PluginRegistry::Render(DockerfileType type,
                                                  const Pipeline& pipeline) const {
  // Validating again costs little and means no caller can render unchecked input.
  Result<Pipeline> valid = Validate(type, pipeline);
  if (!valid) return std::unexpected(valid.error());

  RenderedDockerfile out;
  std::vector<std::string> head;  // FROM comes first wherever the base image entry is
  std::vector<std::string> body;
  for (const PluginInstance& entry : *valid) {
    RenderContext context;
    MARKET_RETURN_IF_ERROR(Find(entry.plugin)->Render(entry, context));
    auto& target = entry.plugin == plugins::kBaseImagePlugin ? head : body;
    for (std::string& line : context.instructions) target.push_back(std::move(line));
    for (SourceSpec& s : context.sources) out.sources.push_back(std::move(s));
    if (context.dockerfile_source) {
      out.dockerfile_source = std::move(context.dockerfile_source);
      out.dockerfile_path = std::move(context.dockerfile_path);
    }
  }
  for (const auto* part : {&head, &body}) {
    for (const std::string& line : *part) {
      out.text += line;
      out.text += '\n';
    }
  }
  return out;
}

Pipeline PluginRegistry::Redact(const Pipeline& pipeline) const {
  Pipeline out = pipeline;
  for (PluginInstance& entry : out) {
    const Plugin* plugin = Find(entry.plugin);
    for (auto& [name, value] : entry.attributes) {
      bool secret = false;
      if (plugin != nullptr) {
        const AttributeSchema* attribute = FindAttribute(plugin->Schema(), name);
        secret = attribute != nullptr && attribute->kind == AttributeKind::kSecret;
      } else {
        // Without a schema, err on the side of hiding anything that looks like a password.
        std::string lower = name;
        std::transform(lower.begin(), lower.end(), lower.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        secret = lower.find("password") != std::string::npos ||
                 lower.find("secret") != std::string::npos ||
                 lower.find("token") != std::string::npos;
      }
      if (!secret) continue;
      if (auto* single = std::get_if<std::string>(&value)) {
        if (!single->empty()) *single = kRedactedSecret;
      } else {
        for (std::string& v : std::get<std::vector<std::string>>(value)) {
          if (!v.empty()) v = kRedactedSecret;
        }
      }
    }
  }
  return out;
}

std::unique_ptr<PluginRegistry> MakeBuiltinPluginRegistry(SourceRules sources) {
  auto registry = std::make_unique<PluginRegistry>();
  std::vector<PluginPtr> all = plugins::MakeInstructionPlugins();
  all.push_back(plugins::MakeBaseImagePlugin());
  all.push_back(plugins::MakeDownloadDockerfilePlugin(sources));
  all.push_back(plugins::MakeDownloadExecutableSourcePlugin(sources));
  for (PluginPtr& plugin : all) {
    // Built-in names are distinct; a clash is a programming error caught by the tests.
    (void)registry->Add(std::move(plugin));
  }
  return registry;
}

}  // namespace market
