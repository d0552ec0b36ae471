#pragma once
// A plugin: one kind of pipeline entry. It declares its attributes (which drive validation and
// the web page's forms), renders Dockerfile instructions, and may offer extension methods.

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "market/error.hpp"
#include "market/project.hpp"

namespace market {

class Registry;

enum class AttributeKind {
  kString,        // one value
  kList,          // many values, in order
  kKeyValueList,  // paired lists: this attribute holds the keys, `pair` names the values'
  kSecret,        // one value, never echoed back (passwords)
  kChoice,        // one of `choices`
};

struct AttributeSchema {
  std::string name;
  AttributeKind kind = AttributeKind::kString;
  bool required = false;
  bool multiline = false;  // newlines allowed (only where the value is not Dockerfile syntax)
  std::vector<std::string> choices;
  std::string pair;  // kKeyValueList: the attribute holding the values
  std::string help_en;
  std::string help_zh;
};

struct PluginSchema {
  std::string name;
  std::string title_en;
  std::string title_zh;
  std::vector<AttributeSchema> attributes;
};

// A source tree to check out into the build context before building.
struct SourceSpec {
  std::string type;  // "git" or "svn"
  std::string url;
  std::string ref;          // branch, tag or commit (git); revision (svn); empty = default
  std::string checkout_as;  // folder inside the build context
  std::string username;
  std::string password;  // secret: never logged, never on a command line
};

// What rendering contributes to a build.
struct RenderContext {
  std::vector<std::string> instructions;  // Dockerfile lines, in pipeline order
  std::vector<SourceSpec> sources;        // checked out into the context
  // download type: the Dockerfile is `dockerfile_path` inside this checkout.
  std::unique_ptr<SourceSpec> dockerfile_source;
  std::string dockerfile_path;
};

// Where an extension method runs: what it may reach.
struct ExtensionContext {
  Registry* registry = nullptr;  // nullptr when no registry is configured
};

class Plugin {
 public:
  virtual ~Plugin() = default;
  virtual const PluginSchema& Schema() const = 0;
  // Checks one entry beyond the schema's generic rules (e.g. a port number); `entry` has
  // already been normalized to the schema. kInvalid naming plugin and attribute.
  virtual Result<void> Validate(const PluginInstance& entry) const = 0;
  virtual Result<void> Render(const PluginInstance& entry, RenderContext& out) const = 0;
  // kExtensionBadParams for an unknown method or bad parameters; kExtensionCallFailed.
  virtual Result<nlohmann::json> CallExtension(std::string_view method,
                                               const std::map<std::string, std::string>& params,
                                               const ExtensionContext& context) const;
};

using PluginPtr = std::unique_ptr<Plugin>;

}  // namespace market
