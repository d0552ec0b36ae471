#include "market/project.hpp"

namespace market {

std::string_view ToString(DockerfileType type) {
  switch (type) {
    case DockerfileType::kTool: return "tool";
    case DockerfileType::kEdit: return "edit";
    case DockerfileType::kDownload: return "download";
  }
  return "tool";
}

std::optional<DockerfileType> ParseDockerfileType(std::string_view text) {
  if (text == "tool") return DockerfileType::kTool;
  // The seed's example posts "define" for a hand-written Dockerfile.
  if (text == "edit" || text == "define") return DockerfileType::kEdit;
  if (text == "download") return DockerfileType::kDownload;
  return std::nullopt;
}

}  // namespace market
