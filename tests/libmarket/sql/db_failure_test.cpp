// The one classification of database failures (sql/db_failure.hpp) and the session pool that
// applies it: a lost or closing connection is kUnavailable whatever the call made of it, and
// what a caller reads names no host, port, database, user or file.

#include <soci/postgresql/soci-postgresql.h>
#include <soci/sqlite3/soci-sqlite3.h>
#include <sqlite3.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "market/log_sink.hpp"
#include "sql/db_failure.hpp"
#include "sql/session_pool.hpp"
#include "support/test_env.hpp"
#include "support/test_stores.hpp"

using market::Errc;
using market::Error;
using market::Result;
using market::sql::Classify;
using market::sql::DatabaseFailure;
using market::sql::DriverFailure;
using market::sql::FailureKind;

namespace {

// Keeps the library's log lines while alive.
class CapturedLog final : public market::LogSink {
 public:
  CapturedLog() { market::SetLogSink(this); }  // the failures log at warn and error
  ~CapturedLog() override { market::SetLogSink(nullptr); }
  void Write(market::LogLevel, std::string_view message) override {
    std::lock_guard lock(mu_);
    text_ += std::string(message) + "\n";
  }
  std::string text() {
    std::lock_guard lock(mu_);
    return text_;
  }

 private:
  std::mutex mu_;
  std::string text_;
};

// What libpq says when a server at 10.1.2.3 is shutting down.
constexpr const char* kShuttingDown =
    "Cannot execute query. Fatal error. connection to server at \"10.1.2.3\", port 6543 "
    "failed: FATAL:  the database system is shutting down";
constexpr const char* kDisplay = "postgresql://10.1.2.3:6543/inventory";

void CheckTellsNothing(const std::string& message) {
  CHECK(message.find("10.1.2.3") == std::string::npos);
  CHECK(message.find("6543") == std::string::npos);
  CHECK(message.find("inventory") == std::string::npos);
  CHECK(message.find("FATAL") == std::string::npos);
  CHECK(message.find("postgres") == std::string::npos);
}

}  // namespace

TEST_CASE("database failures: connection states, shutdowns and busy states", "[sql]") {
  for (const char* state : {"08000", "08003", "08006", "08001", "57P01", "57P02", "57P03"}) {
    CAPTURE(state);
    CHECK(market::sql::IsConnectionLossState(state));
    CHECK(Classify({.sqlstate = state}) == FailureKind::kConnectionLost);
  }
  for (const char* state : {"", "23505", "42P01", "22P02", "57014", "40P01"}) {
    CAPTURE(state);
    CHECK_FALSE(market::sql::IsConnectionLossState(state));
  }
  for (const char* state : {"40001", "40P01", "55P03", "53300", "57014"}) {
    CAPTURE(state);
    CHECK(Classify({.sqlstate = state}) == FailureKind::kBusy);
  }
  // A connection libpq gave up on is lost whatever the statement's own state said.
  CHECK(Classify({.sqlstate = "42P01", .connection_bad = true}) == FailureKind::kConnectionLost);
  CHECK(Classify({.sqlstate = "23505"}) == FailureKind::kError);
  CHECK(Classify({}) == FailureKind::kError);

  CHECK(Classify({.sqlite_result = SQLITE_BUSY}) == FailureKind::kBusy);
  CHECK(Classify({.sqlite_result = SQLITE_LOCKED}) == FailureKind::kBusy);
  CHECK(Classify({.sqlite_result = SQLITE_IOERR_READ}) == FailureKind::kConnectionLost);
  CHECK(Classify({.sqlite_result = SQLITE_CANTOPEN}) == FailureKind::kConnectionLost);
  CHECK(Classify({.sqlite_result = SQLITE_FULL}) == FailureKind::kConnectionLost);
  CHECK(Classify({.sqlite_result = SQLITE_CONSTRAINT}) == FailureKind::kError);
}

TEST_CASE("database failures: the caller reads the operation, the log the detail", "[sql]") {
  CapturedLog log;
  Error lost = DatabaseFailure(kDisplay, "project get", {.sqlstate = "57P03", .detail = kShuttingDown});
  CHECK(lost.code == Errc::kUnavailable);
  CHECK_THAT(lost.message, Catch::Contains("database") && Catch::Contains("project get"));
  CheckTellsNothing(lost.message);

  Error busy = DatabaseFailure(kDisplay, "project save", {.sqlstate = "40P01", .detail = kShuttingDown});
  CHECK(busy.code == Errc::kUnavailable);
  CheckTellsNothing(busy.message);

  Error broken = DatabaseFailure(kDisplay, "build get",
                                 {.sqlstate = "42P01", .detail = "relation \"builds\" does not exist"});
  CHECK(broken.code == Errc::kInternal);
  CHECK_THAT(broken.message, Catch::Contains("build get"));
  CHECK(broken.message.find("relation") == std::string::npos);

  Error path = DatabaseFailure("sqlite:/srv/market/secret-dir/market.db", "project list",
                               {.sqlite_result = SQLITE_CANTOPEN,
                                .detail = "unable to open /srv/market/secret-dir/market.db"});
  CHECK(path.code == Errc::kUnavailable);
  CHECK(path.message.find("secret-dir") == std::string::npos);

  // An operator finds everything in the log.
  const std::string lines = log.text();
  CHECK_THAT(lines, Catch::Contains(kDisplay) && Catch::Contains("the database system is shutting down"));
  CHECK_THAT(lines, Catch::Contains("relation \"builds\" does not exist"));
  CHECK_THAT(lines, Catch::Contains("secret-dir"));

  CheckTellsNothing(market::sql::Unavailable("connecting").message);
  CHECK_THAT(market::sql::TimedOut("project get", std::chrono::milliseconds(1500)).message,
             Catch::Contains("did not answer within 1500 ms") && Catch::Contains("project get"));
}

TEST_CASE("session pool (SQLite): an unreadable file is kUnavailable and names no path",
          "[sql]") {
  market::testing::TempDir dir;
  const auto folder = dir.path() / "hidden-folder";
  std::filesystem::create_directories(folder);
  market::sql::ConnectionConfig config;
  config.dialect = market::sql::Dialect::kSqlite;
  config.connect_string = "db=\"" + (folder / "market.db").string() + "\"";
  config.display = "sqlite:" + (folder / "market.db").string();
  auto opened = market::sql::SessionPool::Open(config, 1);
  REQUIRE(opened);
  market::sql::SessionPool& pool = **opened;

  // A failing read (as SQLite reports a vanished or unreadable file).
  Result<int> read = pool.Run("project get", [&](soci::session&) -> Result<int> {
    throw soci::sqlite3_soci_error("disk I/O error reading " + folder.string(), SQLITE_IOERR);
  });
  REQUIRE_FALSE(read);
  CHECK(read.error().code == Errc::kUnavailable);
  CHECK(read.error().message.find("hidden-folder") == std::string::npos);

  // The session is reopened before its next use; the file's folder is gone, so that fails too.
  std::filesystem::remove_all(folder);
  Result<int> again = pool.Run("project get", [](soci::session&) -> Result<int> { return 1; });
  REQUIRE_FALSE(again);
  CHECK(again.error().code == Errc::kUnavailable);
  CHECK(again.error().message.find("hidden-folder") == std::string::npos);
}

TEST_CASE("session pool (PostgreSQL): a connection lost under a call is kUnavailable, never a "
          "not-found",
          "[sql][postgres]") {
  if (!market::testing::PostgresUrl()) {
    WARN("MARKET_TEST_POSTGRES_URL is not set: skipping");
    return;
  }
  market::testing::TestDatabase db(market::testing::Backend::kPostgres);
  market::sql::ConnectionConfig config;
  config.dialect = market::sql::Dialect::kPostgres;
  // SOCI needs the URI to carry a parameter (see open_stores.cpp).
  config.connect_string =
      db.url() + (db.url().find('?') == std::string::npos ? "?" : "&") + "application_name=t";
  config.display = "the test database";
  auto opened = market::sql::SessionPool::Open(config, 1);
  REQUIRE(opened);
  market::sql::SessionPool& pool = **opened;

  SECTION("an answer the call derived after its connection died is not believed") {
    // The server ends the session under the call (57P01, as a fast shutdown does); the call
    // misses the failure and answers "not found", as a statement whose error went unnoticed
    // would make it.
    Result<int> got = pool.Run("project get", [](soci::session& sql) -> Result<int> {
      try {
        sql << "SELECT pg_terminate_backend(pg_backend_pid())";
      } catch (const soci::soci_error&) {
      }
      return market::Fail(Errc::kNotFound, "project not found: x");
    });
    REQUIRE_FALSE(got);
    CHECK(got.error().code == Errc::kUnavailable);
    // The session is replaced: the next call runs.
    Result<int> next = pool.Run("ping", [](soci::session& sql) -> Result<int> {
      int one = 0;
      sql << "SELECT 1", soci::into(one);
      return one;
    });
    REQUIRE(next);
    CHECK(*next == 1);
  }

  SECTION("a not-found on a healthy connection stands") {
    Result<int> got = pool.Run("project get", [](soci::session& sql) -> Result<int> {
      int one = 0;
      sql << "SELECT 1", soci::into(one);
      return market::Fail(Errc::kNotFound, "project not found: x");
    });
    REQUIRE_FALSE(got);
    CHECK(got.error().code == Errc::kNotFound);
  }

  SECTION("the server's shutdown error reaches the caller as kUnavailable, without its text") {
    Result<int> got = pool.Run("project get", [](soci::session&) -> Result<int> {
      throw soci::postgresql_soci_error(kShuttingDown, "57P03");
    });
    REQUIRE_FALSE(got);
    CHECK(got.error().code == Errc::kUnavailable);
    CheckTellsNothing(got.error().message);
  }
}
