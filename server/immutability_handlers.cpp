// Handlers of /api/immutability/...: the rules that make tags immutable. The rules are
// ImmutabilityService's; BuildService and the tag delete enforce them.

#include "api.hpp"
#include "responses.hpp"

namespace market::server {

namespace {

nlohmann::json RuleToJson(const ImmutabilityRule& rule) {
  return {{"id", rule.id},
          {"repository", rule.repository},
          {"tagPattern", rule.tag_pattern},
          {"enabled", rule.enabled},
          {"description", rule.description},
          {"creator", rule.creator},
          {"createdAt", FormatIso8601(rule.created_at)},
          {"updatedAt", FormatIso8601(rule.updated_at)}};
}

Result<ImmutabilityRequest> RuleRequestOf(const RequestParams& params) {
  ImmutabilityRequest request;
  MARKET_ASSIGN_OR_RETURN(request.repository, params.Optional("repository"));
  MARKET_ASSIGN_OR_RETURN(request.tag_pattern, params.Optional("tagPattern"));
  if (params.Has("enabled")) {
    MARKET_ASSIGN_OR_RETURN(bool enabled, params.Flag("enabled"));
    request.enabled = enabled;
  }
  MARKET_ASSIGN_OR_RETURN(request.description, params.Optional("description"));
  return request;
}

Result<std::int64_t> RuleId(const RequestParams& params) {
  MARKET_ASSIGN_OR_RETURN(std::string text, params.NumberText("id"));
  return ParseBuildId("id", text);
}

}  // namespace

ImmutabilityService& Api::Immutability() const { return *deps_.immutability; }

HandlerResult Api::ListImmutabilityRules(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    (void)params;  // no parameters; decoding still refuses a malformed request
    MARKET_ASSIGN_OR_RETURN(std::vector<ImmutabilityRule> rules, Immutability().List());
    nlohmann::json content = nlohmann::json::array();
    for (const ImmutabilityRule& rule : rules) content.push_back(RuleToJson(rule));
    return Ok(std::move(content));
  });
}

HandlerResult Api::NewImmutabilityRule(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    MARKET_ASSIGN_OR_RETURN(Acting acting, ActingOf(context, params));
    MARKET_ASSIGN_OR_RETURN(ImmutabilityRequest request, RuleRequestOf(params));
    MARKET_ASSIGN_OR_RETURN(
        ImmutabilityRule rule,
        Immutability().Create(request, acting.operator_name, OriginOf(context, acting)));
    return Ok(RuleToJson(rule));
  });
}

HandlerResult Api::UpdateImmutabilityRule(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    MARKET_ASSIGN_OR_RETURN(std::int64_t id, RuleId(params));
    MARKET_ASSIGN_OR_RETURN(Acting acting, ActingOf(context, params));
    MARKET_ASSIGN_OR_RETURN(ImmutabilityRequest request, RuleRequestOf(params));
    MARKET_ASSIGN_OR_RETURN(
        ImmutabilityRule rule,
        Immutability().Update(id, request, acting.operator_name, OriginOf(context, acting)));
    return Ok(RuleToJson(rule));
  });
}

HandlerResult Api::DeleteImmutabilityRule(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    MARKET_ASSIGN_OR_RETURN(std::int64_t id, RuleId(params));
    MARKET_ASSIGN_OR_RETURN(Acting acting, ActingOf(context, params));
    MARKET_RETURN_IF_ERROR(
        Immutability().Delete(id, acting.operator_name, OriginOf(context, acting)));
    return Ok();
  });
}

}  // namespace market::server
