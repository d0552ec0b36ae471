// Handlers of /api/project/baseRebuild: a project's opt-in to rebuilds when a base image
// changes, the bases of its latest successful build, and the rebuilds base changes made.

#include "api.hpp"
#include "market/domain_json.hpp"
#include "responses.hpp"

namespace market::server {

namespace {

nlohmann::json ClaimToJson(const BaseRebuildClaim& claim) {
  return {{"baseImage", claim.base_image},
          {"oldDigest", claim.old_digest},
          {"newDigest", claim.new_digest},
          {"causeBuildId", claim.cause_build_id},
          {"buildId", claim.build_id},
          {"outcome", claim.outcome},
          {"createdAt", FormatIso8601(claim.created_at)}};
}

nlohmann::json SettingToJson(const BaseRebuildSetting& setting) {
  return {{"projectName", setting.project},
          {"rebuildOnBaseChange", setting.enabled},
          {"operator", setting.operator_name},
          {"updatedAt", setting.updated_at ? nlohmann::json(FormatIso8601(*setting.updated_at))
                                           : nlohmann::json(nullptr)}};
}

}  // namespace

HandlerResult Api::GetBaseRebuild(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    MARKET_ASSIGN_OR_RETURN(std::string name, params.Required("projectName"));
    MARKET_ASSIGN_OR_RETURN(BaseRebuildStatus status, deps_.base_rebuilds->Get(name));
    nlohmann::json content = SettingToJson(status.setting);
    content["latestBuildId"] =
        status.latest ? nlohmann::json(status.latest->id) : nlohmann::json(nullptr);
    content["baseImages"] =
        BaseImagesToJson(status.latest ? status.latest->base_images : std::vector<BaseImage>{});
    nlohmann::json rebuilds = nlohmann::json::array();
    for (const BaseRebuildClaim& claim : status.rebuilds) rebuilds.push_back(ClaimToJson(claim));
    content["rebuilds"] = std::move(rebuilds);
    return Ok(std::move(content));
  });
}

HandlerResult Api::SetBaseRebuild(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    BaseRebuildRequest request;
    MARKET_ASSIGN_OR_RETURN(request.project, params.Required("projectName"));
    if (params.Has("enabled")) {
      MARKET_ASSIGN_OR_RETURN(bool enabled, params.Flag("enabled"));
      request.enabled = enabled;
    }
    MARKET_ASSIGN_OR_RETURN(Acting acting, ActingOf(context, params));
    request.operator_name = acting.operator_name;
    MARKET_ASSIGN_OR_RETURN(BaseRebuildSetting setting,
                            deps_.base_rebuilds->Set(request, OriginOf(context, acting)));
    return Ok(SettingToJson(setting));
  });
}

}  // namespace market::server
