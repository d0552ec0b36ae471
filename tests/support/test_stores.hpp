#pragma once
// Fresh databases for tests: a SQLite file in a temp folder, or a throwaway PostgreSQL database
// on the server of MARKET_TEST_POSTGRES_URL (created here, dropped by the destructor).

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "market/error.hpp"
#include "market/store.hpp"
#include "support/test_env.hpp"

namespace market::testing {

enum class Backend { kSqlite, kPostgres };

std::string_view ToString(Backend backend);
// SQLite always; PostgreSQL when MARKET_TEST_POSTGRES_URL is set.
std::vector<Backend> AvailableBackends();

class TestDatabase {
 public:
  explicit TestDatabase(Backend backend);  // throws std::runtime_error if it cannot be created
  ~TestDatabase();
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  Backend backend() const { return backend_; }
  // The URL to give market::OpenStores.
  const std::string& url() const { return url_; }
  // PostgreSQL: the generated database name ([a-z0-9_] only); empty for SQLite.
  const std::string& database_name() const { return db_name_; }
  Result<Stores> Open(int pool_size = 8, int busy_timeout_ms = 5000) const;

  // PostgreSQL only: runs one SQL command as the server's administrator (e.g. to terminate
  // sessions). Throws std::runtime_error on failure.
  void AdminExec(const std::string& command) const;
  // Runs SQL on the test database itself, in its own session: on PostgreSQL one command, on
  // SQLite any statements through the sqlite3 shell (another process, as an operator's or an
  // older program's writes would be). Throws std::runtime_error on failure.
  void Exec(const std::string& command) const;
  // PostgreSQL only: runs one query on the test database and returns its first row's first
  // value as text ("" when it returns no rows).
  std::string QueryText(const std::string& query) const;

 private:
  Backend backend_;
  std::unique_ptr<TempDir> dir_;
  std::string url_;
  std::string admin_url_;
  std::string db_name_;
};

}  // namespace market::testing
