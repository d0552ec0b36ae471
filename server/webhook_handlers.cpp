// Handlers of /api/webhooks/...: webhook policies, their deliveries, redelivery and test
// events. The rules are WebhookService's; a global policy (no project) is the admins'.

#include <fmt/format.h>

#include "api.hpp"
#include "responses.hpp"

namespace market::server {

namespace {

nlohmann::json PolicyToJson(const WebhookPolicy& policy) {
  nlohmann::json events = nlohmann::json::array();
  for (EventType type : policy.events) events.push_back(ToString(type));
  // The secret is never answered: whoever needs it set it.
  return {{"id", policy.id},
          {"project", policy.project},
          {"name", policy.name},
          {"enabled", policy.enabled},
          {"url", policy.url},
          {"events", std::move(events)},
          {"repository", policy.repository_glob},
          {"tag", policy.tag_glob},
          {"format", ToString(policy.format)},
          {"hasSecret", !policy.secret.empty()},
          {"consecutiveFailures", policy.consecutive_failures},
          {"disabledReason", policy.disabled_reason},
          {"creator", policy.creator},
          {"createdAt", FormatIso8601(policy.created_at)},
          {"updatedAt", FormatIso8601(policy.updated_at)}};
}

nlohmann::json OptionalTime(const std::optional<TimePoint>& time) {
  return time ? nlohmann::json(FormatIso8601(*time)) : nlohmann::json(nullptr);
}

nlohmann::json DeliveryToJson(const WebhookDelivery& delivery) {
  return {{"id", delivery.id},
          {"policyId", delivery.policy_id},
          {"eventId", delivery.event_id},
          {"eventType", delivery.event_type},
          {"state", ToString(delivery.state)},
          {"attempts", delivery.attempts},
          {"createdAt", FormatIso8601(delivery.created_at)},
          {"nextAttemptAt", delivery.state == DeliveryState::kPending
                                ? nlohmann::json(FormatIso8601(delivery.next_attempt_at))
                                : nlohmann::json(nullptr)},
          {"finishedAt", OptionalTime(delivery.finished_at)},
          {"lastStatus", delivery.last_status},
          {"lastError", delivery.last_error},
          {"redeliveryOf", delivery.redelivery_of ? nlohmann::json(*delivery.redelivery_of)
                                                  : nlohmann::json(nullptr)}};
}

// Stored headers are JSON objects the service wrote; anything else shows as it is.
nlohmann::json HeadersObject(const std::string& text) {
  nlohmann::json parsed = nlohmann::json::parse(text, nullptr, false);
  return parsed.is_object() ? parsed : nlohmann::json(text);
}

nlohmann::json AttemptToJson(const DeliveryAttempt& attempt) {
  return {{"number", attempt.number},
          {"startedAt", FormatIso8601(attempt.started_at)},
          {"durationMs", attempt.duration_ms},
          {"status", attempt.status},
          {"error", attempt.error},
          {"requestHeaders", HeadersObject(attempt.request_headers)},
          {"responseHeaders", HeadersObject(attempt.response_headers)},
          {"responseExcerpt", attempt.response_excerpt}};
}

// A JSON body may give events as an array of names; everything else gives them as
// comma-separated text.
Result<std::optional<std::string>> EventsParameter(const RequestParams& params) {
  if (!params.Has("events")) return std::optional<std::string>();
  Result<std::optional<std::string>> text = params.Optional("events");
  if (text) return text;
  const std::string raw = params.StringMap({})["events"];
  nlohmann::json list = nlohmann::json::parse(raw, nullptr, false);
  if (!list.is_array()) return std::unexpected(text.error());
  std::string joined;
  for (const nlohmann::json& item : list) {
    if (!item.is_string()) return Fail(Errc::kInvalid, "events must be names of event types");
    joined += (joined.empty() ? "" : ",") + item.get<std::string>();
  }
  return std::optional<std::string>(std::move(joined));
}

// `enabled` as JSON true/false or as text.
Result<std::optional<std::string>> EnabledParameter(const RequestParams& params) {
  if (!params.Has("enabled")) return std::optional<std::string>();
  return std::optional<std::string>(params.StringMap({})["enabled"]);
}

Result<WebhookPolicyRequest> PolicyRequestOf(const RequestParams& params) {
  WebhookPolicyRequest request;
  MARKET_ASSIGN_OR_RETURN(request.project, params.Text("project"));
  MARKET_ASSIGN_OR_RETURN(request.name, params.Optional("name"));
  MARKET_ASSIGN_OR_RETURN(request.enabled, EnabledParameter(params));
  MARKET_ASSIGN_OR_RETURN(request.url, params.Optional("url"));
  MARKET_ASSIGN_OR_RETURN(request.events, EventsParameter(params));
  MARKET_ASSIGN_OR_RETURN(request.repository, params.Optional("repository"));
  MARKET_ASSIGN_OR_RETURN(request.tag, params.Optional("tag"));
  MARKET_ASSIGN_OR_RETURN(request.secret, params.Optional("secret"));
  MARKET_ASSIGN_OR_RETURN(request.format, params.Optional("format"));
  return request;
}

Result<std::int64_t> IdParameter(const RequestParams& params, std::string_view field) {
  MARKET_ASSIGN_OR_RETURN(std::string text, params.NumberText(field));
  return ParseBuildId(field, text);
}

// With authentication off every caller is an admin, as for every other route.
Role RoleOf(const RequestContext& context) { return context.role.value_or(Role::kAdmin); }

}  // namespace

WebhookService& Api::Webhooks() const { return *deps_.webhooks; }

// A policy the caller may see: a global one only to admins.
Result<WebhookPolicy> Api::VisiblePolicy(const RequestContext& context, std::int64_t id) const {
  MARKET_ASSIGN_OR_RETURN(WebhookPolicy policy, Webhooks().Get(id));
  if (policy.project.empty() && RoleOf(context) != Role::kAdmin) {
    return Fail(Errc::kForbidden, "global webhooks are managed by admins");
  }
  return policy;
}

HandlerResult Api::ListWebhooks(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    MARKET_ASSIGN_OR_RETURN(std::string project, params.Text("project"));
    if (project.empty() && RoleOf(context) != Role::kAdmin) {
      return Fail(Errc::kInvalid, "project is required: only admins manage global webhooks");
    }
    if (!project.empty()) {
      MARKET_ASSIGN_OR_RETURN(project, NormalizeProjectName("project", project));
    }
    MARKET_ASSIGN_OR_RETURN(std::vector<WebhookPolicy> policies, Webhooks().List(project));
    nlohmann::json content = nlohmann::json::array();
    for (const WebhookPolicy& policy : policies) content.push_back(PolicyToJson(policy));
    return Ok(std::move(content));
  });
}

HandlerResult Api::NewWebhook(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    MARKET_ASSIGN_OR_RETURN(Acting acting, ActingOf(context, params));
    MARKET_ASSIGN_OR_RETURN(WebhookPolicyRequest request, PolicyRequestOf(params));
    MARKET_ASSIGN_OR_RETURN(WebhookPolicy policy,
                            Webhooks().Create(request, acting.operator_name, RoleOf(context),
                                              OriginOf(context, acting)));
    return Ok(PolicyToJson(policy));
  });
}

HandlerResult Api::GetWebhook(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    MARKET_ASSIGN_OR_RETURN(std::int64_t id, IdParameter(params, "id"));
    MARKET_ASSIGN_OR_RETURN(WebhookPolicy policy, VisiblePolicy(context, id));
    return Ok(PolicyToJson(policy));
  });
}

HandlerResult Api::UpdateWebhook(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    MARKET_ASSIGN_OR_RETURN(std::int64_t id, IdParameter(params, "id"));
    MARKET_ASSIGN_OR_RETURN(Acting acting, ActingOf(context, params));
    MARKET_ASSIGN_OR_RETURN(WebhookPolicyRequest request, PolicyRequestOf(params));
    if (!request.project.empty()) {
      return Fail(Errc::kInvalid, "project cannot be changed: create a policy in the other one");
    }
    MARKET_ASSIGN_OR_RETURN(WebhookPolicy policy,
                            Webhooks().Update(id, request, acting.operator_name, RoleOf(context),
                                              OriginOf(context, acting)));
    return Ok(PolicyToJson(policy));
  });
}

HandlerResult Api::DeleteWebhook(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    MARKET_ASSIGN_OR_RETURN(std::int64_t id, IdParameter(params, "id"));
    MARKET_ASSIGN_OR_RETURN(Acting acting, ActingOf(context, params));
    MARKET_RETURN_IF_ERROR(Webhooks().Delete(id, acting.operator_name, RoleOf(context),
                                             OriginOf(context, acting)));
    return Ok();
  });
}

HandlerResult Api::WebhookDeliveries(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    MARKET_ASSIGN_OR_RETURN(std::int64_t id, IdParameter(params, "id"));
    MARKET_ASSIGN_OR_RETURN(std::string before, params.NumberText("before"));
    MARKET_ASSIGN_OR_RETURN(std::string page_size, params.NumberText("page_size"));
    MARKET_RETURN_IF_ERROR(VisiblePolicy(context, id));
    MARKET_ASSIGN_OR_RETURN(DeliveryPage page, Webhooks().Deliveries(id, before, page_size));
    nlohmann::json deliveries = nlohmann::json::array();
    for (const WebhookDelivery& delivery : page.deliveries) {
      deliveries.push_back(DeliveryToJson(delivery));
    }
    return Ok(nlohmann::json{
        {"deliveries", std::move(deliveries)},
        {"next_before", page.next_before ? nlohmann::json(*page.next_before)
                                         : nlohmann::json(nullptr)}});
  });
}

HandlerResult Api::ShowWebhookDelivery(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    MARKET_ASSIGN_OR_RETURN(std::int64_t id, IdParameter(params, "id"));
    MARKET_ASSIGN_OR_RETURN(DeliveryDetail detail, Webhooks().Delivery(id));
    MARKET_RETURN_IF_ERROR(VisiblePolicy(context, detail.delivery.policy_id));
    nlohmann::json content = DeliveryToJson(detail.delivery);
    content["contentType"] = detail.delivery.content_type;
    content["body"] = detail.delivery.body;
    nlohmann::json attempts = nlohmann::json::array();
    for (const DeliveryAttempt& attempt : detail.attempts) {
      attempts.push_back(AttemptToJson(attempt));
    }
    content["attemptLog"] = std::move(attempts);
    return Ok(std::move(content));
  });
}

HandlerResult Api::RedeliverWebhook(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    MARKET_ASSIGN_OR_RETURN(std::int64_t id, IdParameter(params, "delivery"));
    MARKET_ASSIGN_OR_RETURN(Acting acting, ActingOf(context, params));
    MARKET_ASSIGN_OR_RETURN(market::WebhookDelivery delivery,
                            Webhooks().Redeliver(id, acting.operator_name, RoleOf(context),
                                                 OriginOf(context, acting)));
    return Ok(DeliveryToJson(delivery));
  });
}

HandlerResult Api::TestWebhook(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    MARKET_ASSIGN_OR_RETURN(std::int64_t id, IdParameter(params, "id"));
    MARKET_ASSIGN_OR_RETURN(Acting acting, ActingOf(context, params));
    MARKET_ASSIGN_OR_RETURN(market::WebhookDelivery delivery,
                            Webhooks().SendTest(id, acting.operator_name, RoleOf(context),
                                                OriginOf(context, acting)));
    return Ok(DeliveryToJson(delivery));
  });
}

}  // namespace market::server
