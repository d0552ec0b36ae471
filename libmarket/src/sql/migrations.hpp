#pragma once
// Versioned schema migrations of the SQL stores, applied when the stores open.

#include "market/error.hpp"
#include "sql/session_pool.hpp"

namespace market::sql {

// The schema version this program writes; a database at a newer version is refused.
inline constexpr int kSchemaVersion = 8;

// Applies each missing migration once, each in its own transaction. Safe when several
// processes open the same database at once (PostgreSQL: an advisory lock; SQLite: BEGIN
// IMMEDIATE serializes them).
Result<void> Migrate(SessionPool& pool);

}  // namespace market::sql
