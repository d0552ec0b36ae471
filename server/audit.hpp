#pragma once
// Recording the changes made through the API in the audit log, with who made them.

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "http_types.hpp"
#include "market/identity.hpp"
#include "market/time.hpp"

namespace market::server {

// Who a change is made by and for. With authentication on, `actor` is the authenticated user
// and `operator_name` the one recorded on the change: the same user, or the operator an admin
// named. With it off, both are the operator the request names (a claim, not an identity).
struct Acting {
  std::string actor;
  std::string operator_name;
  // The operator an admin acted for; empty when the actor acted for itself.
  std::string OnBehalfOf() const { return actor == operator_name ? std::string() : operator_name; }
};

class Auditor {
 public:
  // `log` may be null (no audit: an embedding without one); `clock` must outlive this.
  Auditor(AuditLog* log, const Clock& clock) : log_(log), clock_(clock) {}

  // Appends one entry. The change it describes is already committed (the project and build
  // stores have no audit hook), so a failure to write the entry cannot undo it: it is logged at
  // error level with the whole entry, so the record survives in the logs.
  void Record(const RequestContext& context, const Acting& acting, std::string_view action,
              std::string_view target, const nlohmann::json& before,
              const nlohmann::json& after) const;

 private:
  AuditLog* log_;
  const Clock& clock_;
};

nlohmann::json AuditEntryToJson(const AuditEntry& entry);

}  // namespace market::server
