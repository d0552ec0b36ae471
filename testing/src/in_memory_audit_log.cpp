#include "market/testing/in_memory_audit_log.hpp"

#include <algorithm>

namespace market::testing {

Result<AuditEntry> InMemoryAuditLog::Record(const AuditEntry& entry) {
  std::lock_guard lock(mutex_);
  if (fail_) return Fail(Errc::kUnavailable, "the audit log is unavailable");
  AuditEntry stored = entry;
  stored.id = static_cast<std::int64_t>(entries_.size()) + 1;
  entries_.push_back(stored);
  return stored;
}

Result<AuditPage> InMemoryAuditLog::List(const AuditQuery& query) {
  std::lock_guard lock(mutex_);
  AuditPage page;
  std::vector<AuditEntry> matching;
  for (auto it = entries_.rbegin(); it != entries_.rend(); ++it) {
    if (!query.target.empty() && it->target != query.target) continue;
    if (!query.actor.empty() && it->actor != query.actor && it->on_behalf_of != query.actor) {
      continue;
    }
    matching.push_back(*it);
  }
  page.total_count = static_cast<std::int64_t>(matching.size());
  const std::size_t skip = static_cast<std::size_t>(std::max(0, query.page - 1)) *
                           static_cast<std::size_t>(std::max(0, query.page_size));
  for (std::size_t i = skip; i < matching.size() && page.entries.size() <
                                                        static_cast<std::size_t>(query.page_size);
       ++i) {
    page.entries.push_back(matching[i]);
  }
  return page;
}

std::vector<AuditEntry> InMemoryAuditLog::Entries() const {
  std::lock_guard lock(mutex_);
  return entries_;
}

void InMemoryAuditLog::FailWrites(bool fail) {
  std::lock_guard lock(mutex_);
  fail_ = fail;
}

}  // namespace market::testing
