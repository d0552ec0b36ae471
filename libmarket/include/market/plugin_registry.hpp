#pragma once
// The explicit set of plugins a server (or an embedding program, or a test) works with.

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "market/error.hpp"
#include "market/plugin.hpp"
#include "market/project.hpp"

namespace market {

// What APIs show instead of a secret attribute's value. A save that sends it back means
// "unchanged": the stored value is kept.
inline constexpr std::string_view kRedactedSecret = "******";

struct RenderedDockerfile {
  std::string text;                  // the Dockerfile, FROM first; empty for `download`
  std::vector<SourceSpec> sources;   // to check out into the build context
  std::unique_ptr<SourceSpec> dockerfile_source;  // download type
  std::string dockerfile_path;       // download type: path inside dockerfile_source
};

class PluginRegistry {
 public:
  PluginRegistry();
  ~PluginRegistry();
  PluginRegistry(const PluginRegistry&) = delete;
  PluginRegistry& operator=(const PluginRegistry&) = delete;

  // kAlreadyExists when the name is taken.
  Result<void> Add(PluginPtr plugin);
  const Plugin* Find(std::string_view name) const;
  std::vector<const PluginSchema*> Schemas() const;  // ordered by name

  // Normalizes every entry to its schema (list attributes become arrays, single ones strings)
  // and checks it: kUnknownPlugin, kInvalid naming plugin and attribute, and the pipeline rules
  // of `type` (tool: exactly one base image, no static/download_dockerfile; edit: exactly one
  // static_dockerfile; download: exactly one download_dockerfile).
  Result<Pipeline> Validate(DockerfileType type, const Pipeline& pipeline) const;
  // Deterministic Dockerfile of a validated pipeline.
  Result<RenderedDockerfile> Render(DockerfileType type, const Pipeline& pipeline) const;
  // The pipeline as it may be shown: secret attributes replaced by a marker.
  Pipeline Redact(const Pipeline& pipeline) const;

 private:
  std::map<std::string, PluginPtr, std::less<>> plugins_;
};

// What the source plugins (download_dockerfile, download_executable_source) accept, set by the
// server from its settings. Saving a source against them is kInvalid naming the attribute.
struct SourceRules {
  bool allow_ssh = false;  // ssh://, svn+ssh:// and user@host:path URLs (ssh-sources)
};

// A registry holding the built-in plugins.
std::unique_ptr<PluginRegistry> MakeBuiltinPluginRegistry(SourceRules sources = {});

}  // namespace market
