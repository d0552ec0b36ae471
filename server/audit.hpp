#pragma once
// Who acts in a request, and the audit of the changes the server makes outside the services
// (sign-ins, registry tags): the same policy as the services', market::AuditTrail.

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "http_types.hpp"
#include "market/audit_trail.hpp"
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

// What the services record about a change made in `context` by `acting`.
ChangeOrigin OriginOf(const RequestContext& context, const Acting& acting);

class Auditor {
 public:
  // `log` may be null (no audit: an embedding without one); `clock` must outlive this.
  Auditor(AuditLog* log, const Clock& clock) : trail_(log, clock) {}

  // Appends one entry, as AuditTrail::Record.
  void Record(const RequestContext& context, const Acting& acting, std::string_view action,
              std::string_view target, const nlohmann::json& before,
              const nlohmann::json& after) const;
  // The policy itself, for the libmarket calls that record their own changes.
  const AuditTrail& Trail() const { return trail_; }

 private:
  AuditTrail trail_;
};

nlohmann::json AuditEntryToJson(const AuditEntry& entry);

}  // namespace market::server
