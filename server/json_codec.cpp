#include "json_codec.hpp"

#include "market/time.hpp"

namespace market::server {

namespace {
nlohmann::json OptionalTime(const std::optional<TimePoint>& t) {
  return t ? nlohmann::json(FormatIso8601(*t)) : nlohmann::json(nullptr);
}
}  // namespace

nlohmann::json RegistryProjectToJson(const RegistryProject& project) {
  return {{"project_id", project.project_id},
          {"name", project.name},
          {"creation_time", OptionalTime(project.creation_time)},
          {"update_time", OptionalTime(project.update_time)},
          {"repo_count", project.repo_count},
          {"public", project.is_public ? 1 : 0},
          {"owner_id", project.owner_id}};
}

nlohmann::json RegistryTagToJson(const RegistryTag& tag,
                                 std::optional<std::int64_t> immutable_rule) {
  return {{"name", tag.name},
          {"digest", tag.digest},
          {"size", tag.size},
          {"created", OptionalTime(tag.created)},
          {"immutableRule", immutable_rule ? nlohmann::json(*immutable_rule) : nlohmann::json(nullptr)}};
}

}  // namespace market::server
