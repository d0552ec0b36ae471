#pragma once
// The project value type: metadata plus the ordered plugin pipeline.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "market/time.hpp"

namespace market {

// A single attribute ("handleInput") or a repeated one ("value": [...]).
using AttributeValue = std::variant<std::string, std::vector<std::string>>;

// One entry of the pipeline: `{"$$plugin": "run", "value": ["echo 1"]}`.
struct PluginInstance {
  std::string plugin;
  std::map<std::string, AttributeValue> attributes;

  bool operator==(const PluginInstance&) const = default;
};

using Pipeline = std::vector<PluginInstance>;

// tool: composed from plugins; edit: one static_dockerfile; download: one download_dockerfile.
enum class DockerfileType { kTool, kEdit, kDownload };

std::string_view ToString(DockerfileType type);
// Accepts tool, edit, download, and the seed's example value "define" (= edit).
std::optional<DockerfileType> ParseDockerfileType(std::string_view text);

struct Project {
  std::string name;
  std::string creator;
  TimePoint create_time{};
  TimePoint last_modify_time{};
  std::string last_modify_operator;
  std::string cluster;
  DockerfileType define_type = DockerfileType::kTool;
  Pipeline pipeline;

  bool operator==(const Project&) const = default;
};

}  // namespace market
