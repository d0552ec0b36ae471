#pragma once
// Versioned schema migrations of the SQL stores, applied when the stores open.

#include <string>
#include <vector>

#include "market/error.hpp"
#include "sql/session_pool.hpp"

namespace market::sql {

// The schema version this program writes; a database at a newer version is refused.
inline constexpr int kSchemaVersion = 19;

struct Migration {
  int version;
  const char* description;
  std::vector<std::string> sqlite;
  std::vector<std::string> postgres;
};

// Every migration, oldest first; the last one's version is kSchemaVersion. Versions increase but
// need not be contiguous: each is applied when the database lacks it, whatever its neighbours.
const std::vector<Migration>& Migrations();

// Applies each missing migration once, each in its own transaction. Safe when several
// processes open the same database at once (PostgreSQL: an advisory lock; SQLite: BEGIN
// IMMEDIATE serializes them).
Result<void> Migrate(SessionPool& pool);

}  // namespace market::sql
