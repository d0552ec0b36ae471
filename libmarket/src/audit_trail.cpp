#include "market/audit_trail.hpp"

#include "log.hpp"

namespace market {

namespace {

std::string Dump(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

void AuditTrail::Record(std::string_view operator_name, const ChangeOrigin& origin,
                        std::string_view action, std::string_view target,
                        const nlohmann::json& before, const nlohmann::json& after) const {
  if (log_ == nullptr) return;
  AuditEntry entry;
  entry.time = clock_.Now();
  entry.actor = origin.actor.empty() ? std::string(operator_name) : origin.actor;
  if (entry.actor != operator_name) entry.on_behalf_of = operator_name;
  entry.action = action;
  entry.target = target;
  entry.request_id = origin.request_id;
  entry.before_json = Dump(before);
  entry.after_json = Dump(after);
  Result<AuditEntry> recorded = log_->Record(entry);
  if (!recorded) {
    // Recorded on the request's thread: the server's log format adds its request id.
    MARKET_LOG_ERROR(
        "audit entry not recorded ({}): actor={} for={} action={} target={} before={} after={}",
        recorded.error().message, entry.actor, entry.on_behalf_of, entry.action, entry.target,
        entry.before_json, entry.after_json);
  }
}

}  // namespace market
