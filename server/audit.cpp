#include "audit.hpp"

namespace market::server {

namespace {

nlohmann::json ParseOrText(const std::string& text) {
  nlohmann::json parsed = nlohmann::json::parse(text, nullptr, false);
  return parsed.is_discarded() ? nlohmann::json(text) : parsed;
}

}  // namespace

ChangeOrigin OriginOf(const RequestContext& context, const Acting& acting) {
  return ChangeOrigin{acting.actor, context.request_id};
}

void Auditor::Record(const RequestContext& context, const Acting& acting,
                     std::string_view action, std::string_view target,
                     const nlohmann::json& before, const nlohmann::json& after) const {
  trail_.Record(acting.operator_name, OriginOf(context, acting), action, target, before, after);
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
