#pragma once
// The audit policy: each change made through ProjectService and BuildService is recorded with
// who made it, for whom, in which request, and its target before and after. The services
// record it themselves, so an embedder gets the same entries as the server.

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "market/identity.hpp"
#include "market/time.hpp"

namespace market {

// Where a change comes from, besides the operator it is recorded for.
struct ChangeOrigin {
  // Who made it: the authenticated user, who may be an admin acting for the operator. Empty:
  // the operator itself (no authentication, or an embedder).
  std::string actor;
  std::string request_id;  // empty when the change came in no request
};

class AuditTrail {
 public:
  // `log` may be null: nothing is recorded. `clock` must outlive this.
  AuditTrail(AuditLog* log, const Clock& clock) : log_(log), clock_(clock) {}

  // Whether entries are recorded: the services read a target's state only for them.
  bool Enabled() const { return log_ != nullptr; }
  // The time entries are stamped with: what a change reported elsewhere too (an event) says.
  TimePoint Now() const { return clock_.Now(); }

  // Appends one entry for a change `operator_name` is recorded for. The change is already
  // committed (the stores have no audit hook), so a failure to write the entry cannot undo it:
  // it is logged at error level with the whole entry, so the record survives in the logs.
  void Record(std::string_view operator_name, const ChangeOrigin& origin,
              std::string_view action, std::string_view target, const nlohmann::json& before,
              const nlohmann::json& after) const;

 private:
  AuditLog* log_;
  const Clock& clock_;
};

}  // namespace market
