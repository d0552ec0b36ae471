// Handlers of /api/whoami and /api/audit.

#include <charconv>

#include <fmt/format.h>

#include "api.hpp"
#include "market/time.hpp"
#include "responses.hpp"

namespace market::server {

namespace {

constexpr int kMaxAuditPageSize = 100;

// A positive integer parameter within [1, max]; `fallback` when missing or empty.
Result<int> PageNumber(const RequestParams& params, std::string_view field, int fallback,
                       int max) {
  MARKET_ASSIGN_OR_RETURN(std::string text, params.Text(field));
  if (text.empty()) return fallback;
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 1 || value > max) {
    return Fail(Errc::kInvalid, fmt::format("{} must be an integer 1..{}, not '{}'", field, max,
                                            text));
  }
  return value;
}

// An ISO 8601 time parameter (`2026-12-03T10:00:00Z`); nullopt when missing or empty.
Result<std::optional<TimePoint>> TimeParameter(const RequestParams& params,
                                               std::string_view field) {
  MARKET_ASSIGN_OR_RETURN(std::string text, params.Text(field));
  if (text.empty()) return std::optional<TimePoint>();
  std::optional<TimePoint> time = ParseIso8601(text);
  if (!time) {
    return Fail(Errc::kInvalid,
                fmt::format("{} must be a time like 2026-12-03T10:00:00Z, not '{}'", field,
                            text.substr(0, 64)));
  }
  return time;
}

}  // namespace

// Who the caller is, and the registry host images are pushed to (the pages' pull commands).
HandlerResult Api::WhoAmI(const RequestContext& context) {
  nlohmann::json registry = nullptr;
  if (deps_.registry != nullptr) registry = deps_.registry->PushHost();
  if (!context.user) {
    return Ok(nlohmann::json{{"name", nullptr}, {"role", nullptr}, {"authentication", false},
                             {"registry", std::move(registry)}});
  }
  return Ok(nlohmann::json{{"name", *context.user},
                           {"role", ToString(context.role.value_or(Role::kViewer))},
                           {"authentication", true},
                           {"registry", std::move(registry)}});
}

HandlerResult Api::AuditList(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    if (deps_.audit == nullptr) return Fail(Errc::kNotFound, "no audit log is configured");
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    AuditQuery query;
    MARKET_ASSIGN_OR_RETURN(query.page, PageNumber(params, "page", 1, 1'000'000));
    MARKET_ASSIGN_OR_RETURN(query.page_size,
                            PageNumber(params, "page_size", 10, kMaxAuditPageSize));
    MARKET_ASSIGN_OR_RETURN(query.target, params.Text("target"));
    MARKET_ASSIGN_OR_RETURN(query.actor, params.Text("actor"));
    MARKET_ASSIGN_OR_RETURN(query.action, params.Text("action"));
    MARKET_ASSIGN_OR_RETURN(query.since, TimeParameter(params, "since"));
    MARKET_ASSIGN_OR_RETURN(query.until, TimeParameter(params, "until"));
    if (query.since && query.until && *query.until <= *query.since) {
      return Fail(Errc::kInvalid, "until must be after since");
    }
    MARKET_ASSIGN_OR_RETURN(AuditPage page, deps_.audit->List(query));
    nlohmann::json content = nlohmann::json::array();
    for (const AuditEntry& entry : page.entries) content.push_back(AuditEntryToJson(entry));
    return OkList(std::move(content), query.page, query.page_size, page.total_count);
  });
}

}  // namespace market::server
