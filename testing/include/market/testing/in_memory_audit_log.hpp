#pragma once
// An AuditLog held in a vector: for unit tests of what the services record. The SQL audit log
// has its own tests against real databases.

#include <mutex>
#include <vector>

#include "market/identity.hpp"

namespace market::testing {

class InMemoryAuditLog final : public AuditLog {
 public:
  // AuditLog
  Result<AuditEntry> Record(const AuditEntry& entry) override;
  Result<AuditPage> List(const AuditQuery& query) override;

  // Test controls.
  std::vector<AuditEntry> Entries() const;  // oldest first
  void FailWrites(bool fail);               // Record answers kUnavailable

 private:
  mutable std::mutex mutex_;
  std::vector<AuditEntry> entries_;
  bool fail_ = false;
};

}  // namespace market::testing
