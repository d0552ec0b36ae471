#include "market/domain_json.hpp"

#include "market/pipeline_json.hpp"
#include "market/time.hpp"

namespace market {

namespace {
nlohmann::json OptionalTime(const std::optional<TimePoint>& t) {
  return t ? nlohmann::json(FormatIso8601(*t)) : nlohmann::json(nullptr);
}
}  // namespace

nlohmann::json ProjectToJson(const Project& project, const PluginRegistry* plugins) {
  // Filled key by key: an initializer list builds a two-element array per pair first, and a
  // list page makes ten of these per request.
  nlohmann::json out(nlohmann::json::value_t::object);
  auto& fields = out.get_ref<nlohmann::json::object_t&>();
  ForEachProjectField(project, [&fields](std::string_view key, std::string_view value) {
    fields.emplace(std::string(key), std::string(value));
  });
  if (plugins != nullptr) {
    fields.emplace("plugins", PipelineToJson(plugins->Redact(project.pipeline)));
  }
  return out;
}

nlohmann::json BuildToJson(const Build& build) {
  return {{"id", build.id},
          {"idStr", std::to_string(build.id)},
          {"project", build.project},
          {"tag", build.tag},
          {"operator", build.operator_name},
          {"image", build.image},
          {"digest", build.digest},
          {"size", build.size},
          {"queuedAt", FormatIso8601(build.queued_at)},
          {"startedAt", OptionalTime(build.started_at)},
          {"finishedAt", OptionalTime(build.finished_at)},
          {"state", ToString(build.state)},
          {"legacyState", LegacyStateNumber(build.state)},
          {"reason", build.reason},
          {"logPruned", build.log_pruned},
          {"cancelRequested", build.cancel_requested},
          {"extraTags", build.extra_tags},
          {"noCache", build.no_cache},
          {"baseImages", BaseImagesToJson(build.base_images)},
          {"trigger", build.trigger.empty() ? nlohmann::json(nullptr)
                                            : BuildTriggerToJson(build.trigger)}};
}

nlohmann::json BuildTriggerToJson(const BuildTrigger& trigger) {
  nlohmann::json out = nlohmann::json::object();
  out["kind"] = trigger.kind.empty() ? std::string("manual") : trigger.kind;
  if (trigger.trigger_id != 0) out["triggerId"] = trigger.trigger_id;
  for (const auto& [key, value] : {std::pair<const char*, const std::string*>{"ref", &trigger.ref},
                                   {"sha", &trigger.sha},
                                   {"repository", &trigger.repository},
                                   {"delivery", &trigger.delivery_id},
                                   {"baseImage", &trigger.base_image},
                                   {"oldDigest", &trigger.old_digest},
                                   {"newDigest", &trigger.new_digest}}) {
    if (!value->empty()) out[key] = *value;
  }
  if (trigger.cause_build_id != 0) out["causeBuildId"] = trigger.cause_build_id;
  return out;
}

nlohmann::json BaseImagesToJson(const std::vector<BaseImage>& bases) {
  nlohmann::json out = nlohmann::json::array();
  for (const BaseImage& base : bases) {
    out.push_back({{"image", base.image}, {"digest", base.digest}});
  }
  return out;
}

}  // namespace market
