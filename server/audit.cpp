#include "audit.hpp"

#include <spdlog/spdlog.h>

namespace market::server {

namespace {

std::string Dump(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

nlohmann::json ParseOrText(const std::string& text) {
  nlohmann::json parsed = nlohmann::json::parse(text, nullptr, false);
  return parsed.is_discarded() ? nlohmann::json(text) : parsed;
}

}  // namespace

void Auditor::Record(const RequestContext& context, const Acting& acting,
                     std::string_view action, std::string_view target,
                     const nlohmann::json& before, const nlohmann::json& after) const {
  if (log_ == nullptr) return;
  AuditEntry entry;
  entry.time = clock_.Now();
  entry.actor = acting.actor;
  entry.on_behalf_of = acting.OnBehalfOf();
  entry.action = action;
  entry.target = target;
  entry.request_id = context.request_id;
  entry.before_json = Dump(before);
  entry.after_json = Dump(after);
  Result<AuditEntry> recorded = log_->Record(entry);
  if (!recorded) {
    // Record runs inside the request's handler: the log format adds its request id.
    spdlog::error(
        "audit entry not recorded ({}): actor={} for={} action={} target={} before={} after={}",
        recorded.error().message, entry.actor, entry.on_behalf_of, entry.action, entry.target,
        entry.before_json, entry.after_json);
  }
}

nlohmann::json AuditEntryToJson(const AuditEntry& entry) {
  return {{"id", entry.id},
          {"time", FormatIso8601(entry.time)},
          {"actor", entry.actor},
          {"onBehalfOf", entry.on_behalf_of},
          {"action", entry.action},
          {"target", entry.target},
          {"requestId", entry.request_id},
          {"before", ParseOrText(entry.before_json)},
          {"after", ParseOrText(entry.after_json)}};
}

}  // namespace market::server
