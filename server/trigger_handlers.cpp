// Handlers of /api/triggers/... (build triggers: rules, manual start) and of /api/trigger/<id>,
// where git hosts send push events. The rules are TriggerService's.

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "api.hpp"
#include "market/domain_json.hpp"
#include "responses.hpp"

namespace market::server {

namespace {

constexpr std::string_view kHookPrefix = "/api/trigger/";

// The headers the git hosts sign or name their events with; nothing else reaches the service.
constexpr std::string_view kHookHeaders[] = {
    "x-github-event", "x-github-delivery", "x-hub-signature-256", "x-gitea-event",
    "x-gitea-delivery", "x-gitea-signature", "x-gitlab-event", "x-gitlab-token",
    "x-gitlab-event-uuid", "authorization"};

nlohmann::json TriggerToJson(const BuildTriggerRule& rule) {
  // The secret is never answered but once, when it is made (see NewTrigger).
  return {{"id", rule.id},
          {"project", rule.project},
          {"name", rule.name},
          {"enabled", rule.enabled},
          {"url", fmt::format("{}{}", kHookPrefix, rule.id)},
          {"branches", rule.branches},
          {"tags", rule.tags},
          {"tagTemplates", rule.tag_templates},
          {"latest", rule.latest},
          {"defaultBranch", rule.default_branch},
          {"hasSecret", !rule.secret.empty()},
          {"consecutiveFailures", rule.consecutive_failures},
          {"disabledReason", rule.disabled_reason},
          {"creator", rule.creator},
          {"createdAt", FormatIso8601(rule.created_at)},
          {"updatedAt", FormatIso8601(rule.updated_at)}};
}

nlohmann::json DeliveryToJson(const TriggerDelivery& delivery) {
  return {{"id", delivery.id},
          {"triggerId", delivery.trigger_id},
          {"receivedAt", FormatIso8601(delivery.received_at)},
          {"host", delivery.host},
          {"event", delivery.event},
          {"deliveryId", delivery.delivery_id},
          {"ref", delivery.ref},
          {"sha", delivery.sha},
          {"outcome", delivery.outcome},
          {"reason", delivery.reason},
          {"buildId", delivery.build_id == 0 ? nlohmann::json(nullptr)
                                             : nlohmann::json(delivery.build_id)}};
}

Result<std::optional<bool>> OptionalFlag(const RequestParams& params, std::string_view field) {
  if (!params.Has(field)) return std::optional<bool>();
  MARKET_ASSIGN_OR_RETURN(bool value, params.Flag(field));
  return std::optional<bool>(value);
}

// tagTemplates as a JSON array of strings, or as comma-separated text.
Result<std::optional<std::vector<std::string>>> TemplatesParameter(const RequestParams& params) {
  using Templates = std::optional<std::vector<std::string>>;
  if (!params.Has("tagTemplates")) return Templates();
  const std::string raw = params.StringMap({})["tagTemplates"];
  std::vector<std::string> templates;
  nlohmann::json list = nlohmann::json::parse(raw, nullptr, false);
  if (list.is_array()) {
    for (const nlohmann::json& item : list) {
      if (!item.is_string()) return Fail(Errc::kInvalid, "tagTemplates must be strings");
      templates.push_back(item.get<std::string>());
    }
    return Templates(std::move(templates));
  }
  MARKET_ASSIGN_OR_RETURN(std::string text, params.Text("tagTemplates"));
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t comma = text.find(',', start);
    std::string item = text.substr(start, comma == std::string::npos ? comma : comma - start);
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    if (!item.empty()) templates.push_back(std::move(item));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return Templates(std::move(templates));
}

Result<TriggerRequest> TriggerRequestOf(const RequestParams& params) {
  TriggerRequest request;
  MARKET_ASSIGN_OR_RETURN(request.project, params.Text("project"));
  MARKET_ASSIGN_OR_RETURN(request.name, params.Optional("name"));
  MARKET_ASSIGN_OR_RETURN(request.enabled, OptionalFlag(params, "enabled"));
  MARKET_ASSIGN_OR_RETURN(request.secret, params.Optional("secret"));
  MARKET_ASSIGN_OR_RETURN(request.branches, params.Optional("branches"));
  MARKET_ASSIGN_OR_RETURN(request.tags, params.Optional("tags"));
  MARKET_ASSIGN_OR_RETURN(request.tag_templates, TemplatesParameter(params));
  MARKET_ASSIGN_OR_RETURN(request.latest, OptionalFlag(params, "latest"));
  MARKET_ASSIGN_OR_RETURN(request.default_branch, params.Optional("defaultBranch"));
  return request;
}

Result<std::int64_t> IdParameter(const RequestParams& params) {
  MARKET_ASSIGN_OR_RETURN(std::string text, params.NumberText("id"));
  return ParseBuildId("id", text);
}

}  // namespace

TriggerService& Api::Triggers() const { return *deps_.triggers; }

HandlerResult Api::ListTriggers(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    MARKET_ASSIGN_OR_RETURN(std::string project, params.Text("project"));
    if (project.empty() && context.role.value_or(Role::kAdmin) != Role::kAdmin) {
      return Fail(Errc::kInvalid, "project is required: only admins list every project's");
    }
    MARKET_ASSIGN_OR_RETURN(std::vector<BuildTriggerRule> rules, Triggers().List(project));
    nlohmann::json content = nlohmann::json::array();
    for (const BuildTriggerRule& rule : rules) content.push_back(TriggerToJson(rule));
    return Ok(std::move(content));
  });
}

HandlerResult Api::NewTrigger(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    MARKET_ASSIGN_OR_RETURN(Acting acting, ActingOf(context, params));
    MARKET_ASSIGN_OR_RETURN(TriggerRequest request, TriggerRequestOf(params));
    MARKET_ASSIGN_OR_RETURN(BuildTriggerRule rule,
                            Triggers().Create(request, acting.operator_name,
                                              OriginOf(context, acting)));
    nlohmann::json content = TriggerToJson(rule);
    // Once, so the git host can be given it; it is never answered again.
    content["secret"] = rule.secret;
    return Ok(std::move(content));
  });
}

HandlerResult Api::GetTrigger(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    MARKET_ASSIGN_OR_RETURN(std::int64_t id, IdParameter(params));
    MARKET_ASSIGN_OR_RETURN(BuildTriggerRule rule, Triggers().Get(id));
    return Ok(TriggerToJson(rule));
  });
}

HandlerResult Api::UpdateTrigger(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    MARKET_ASSIGN_OR_RETURN(std::int64_t id, IdParameter(params));
    MARKET_ASSIGN_OR_RETURN(Acting acting, ActingOf(context, params));
    MARKET_ASSIGN_OR_RETURN(TriggerRequest request, TriggerRequestOf(params));
    if (!request.project.empty()) {
      return Fail(Errc::kInvalid, "project cannot be changed: create a trigger in the other one");
    }
    MARKET_ASSIGN_OR_RETURN(BuildTriggerRule rule,
                            Triggers().Update(id, request, acting.operator_name,
                                              OriginOf(context, acting)));
    return Ok(TriggerToJson(rule));
  });
}

HandlerResult Api::DeleteTrigger(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    MARKET_ASSIGN_OR_RETURN(std::int64_t id, IdParameter(params));
    MARKET_ASSIGN_OR_RETURN(Acting acting, ActingOf(context, params));
    MARKET_RETURN_IF_ERROR(Triggers().Delete(id, acting.operator_name, OriginOf(context, acting)));
    return Ok();
  });
}

HandlerResult Api::TriggerDeliveries(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    MARKET_ASSIGN_OR_RETURN(std::int64_t id, IdParameter(params));
    MARKET_ASSIGN_OR_RETURN(std::vector<TriggerDelivery> deliveries, Triggers().Deliveries(id));
    nlohmann::json content = nlohmann::json::array();
    for (const TriggerDelivery& delivery : deliveries) content.push_back(DeliveryToJson(delivery));
    return Ok(std::move(content));
  });
}

HandlerResult Api::StartTrigger(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    MARKET_ASSIGN_OR_RETURN(std::int64_t id, IdParameter(params));
    MARKET_ASSIGN_OR_RETURN(Acting acting, ActingOf(context, params));
    MARKET_ASSIGN_OR_RETURN(std::string ref, params.Text("ref"));
    MARKET_ASSIGN_OR_RETURN(std::string sha, params.Text("sha"));
    MARKET_ASSIGN_OR_RETURN(Build build,
                            Triggers().Start(id, ref, sha, acting.operator_name,
                                             context.role.value_or(Role::kAdmin),
                                             OriginOf(context, acting)));
    return Ok(BuildToJson(build));
  });
}

HandlerResult Api::ReceiveTrigger(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    std::string_view id_text = context.path.substr(kHookPrefix.size());
    const bool digits = !id_text.empty() && id_text.size() <= 18 &&
                        std::all_of(id_text.begin(), id_text.end(), [](char c) {
                          return std::isdigit(static_cast<unsigned char>(c)) != 0;
                        });
    if (!digits) return Fail(Errc::kNotFound, "no build trigger at this URL");
    MARKET_ASSIGN_OR_RETURN(std::int64_t id, ParseBuildId("id", id_text));
    HookRequest hook;
    for (std::string_view name : kHookHeaders) {
      std::string_view value = HeaderValue(context.message, name);
      if (!value.empty()) hook.headers.emplace(std::string(name), std::string(value));
    }
    hook.body = context.message.body();
    Result<TriggerReceipt> receipt = Triggers().Receive(id, hook);
    if (!receipt && receipt.error().code == Errc::kNotFound) {
      // The same answer for a trigger that does not exist as for a URL that names none.
      return Fail(Errc::kNotFound, "no build trigger at this URL");
    }
    if (!receipt) return std::unexpected(receipt.error());
    return Ok(nlohmann::json{
        {"skipped", receipt->skipped},
        {"build", receipt->build ? BuildToJson(*receipt->build) : nlohmann::json(nullptr)},
        {"duplicate", receipt->duplicate}});
  });
}

}  // namespace market::server
