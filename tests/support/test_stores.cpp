#include "support/test_stores.hpp"

#include <libpq-fe.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <stdexcept>

namespace market::testing {

namespace {

// Replaces the database name (the URI path) of a postgresql:// URL.
std::string WithDatabase(const std::string& url, const std::string& name) {
  std::size_t scheme = url.find("://");
  std::size_t path = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  std::size_t query = url.find('?', scheme == std::string::npos ? 0 : scheme + 3);
  if (path == std::string::npos || (query != std::string::npos && path > query)) {
    std::string base = url.substr(0, query);
    std::string rest = query == std::string::npos ? "" : url.substr(query);
    return base + "/" + name + rest;
  }
  std::string rest = query == std::string::npos ? "" : url.substr(query);
  return url.substr(0, path) + "/" + name + rest;
}

// Runs `command` and returns its first row's first value ("" when it returns no rows).
std::string ExecOn(const std::string& url, const std::string& command) {
  PGconn* conn = PQconnectdb(url.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string message = PQerrorMessage(conn);
    PQfinish(conn);
    throw std::runtime_error("cannot connect to the test PostgreSQL: " + message);
  }
  PGresult* result = PQexec(conn, command.c_str());
  ExecStatusType status = PQresultStatus(result);
  std::string message = PQresultErrorMessage(result);
  std::string first;
  if (status == PGRES_TUPLES_OK && PQntuples(result) > 0 && PQnfields(result) > 0) {
    first = PQgetvalue(result, 0, 0);
  }
  PQclear(result);
  PQfinish(conn);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    throw std::runtime_error("test PostgreSQL: " + command + ": " + message);
  }
  return first;
}

}  // namespace

std::string_view ToString(Backend backend) {
  return backend == Backend::kSqlite ? "sqlite" : "postgresql";
}

std::vector<Backend> AvailableBackends() {
  std::vector<Backend> backends = {Backend::kSqlite};
  if (PostgresUrl()) backends.push_back(Backend::kPostgres);
  return backends;
}

TestDatabase::TestDatabase(Backend backend) : backend_(backend) {
  if (backend == Backend::kSqlite) {
    dir_ = std::make_unique<TempDir>();
    url_ = "sqlite:" + (dir_->path() / "market.db").string();
    return;
  }
  auto admin = PostgresUrl();
  if (!admin) throw std::runtime_error("MARKET_TEST_POSTGRES_URL is not set");
  admin_url_ = *admin;
  std::random_device rd;
  std::mt19937_64 gen(rd());
  // Only [a-z0-9_]: the name is spliced into CREATE/DROP DATABASE, which take no parameters.
  db_name_ = "market_t_" + std::to_string(gen() % 1'000'000'000'000ULL);
  ExecOn(admin_url_, "CREATE DATABASE " + db_name_);
  url_ = WithDatabase(admin_url_, db_name_);
}

TestDatabase::~TestDatabase() {
  if (db_name_.empty()) return;
  try {
    ExecOn(admin_url_, "DROP DATABASE IF EXISTS " + db_name_ + " WITH (FORCE)");
  } catch (const std::exception&) {
    // A leftover test database is harmless; the server is throwaway.
  }
}

Result<Stores> TestDatabase::Open(int pool_size, int busy_timeout_ms) const {
  StoreOptions options;
  options.url = url_;
  options.pool_size = pool_size;
  options.busy_timeout_ms = busy_timeout_ms;
  return OpenStores(options);
}

void TestDatabase::AdminExec(const std::string& command) const {
  if (backend_ != Backend::kPostgres) throw std::runtime_error("AdminExec needs PostgreSQL");
  ExecOn(admin_url_, command);
}

void TestDatabase::Exec(const std::string& command) const {
  if (backend_ == Backend::kPostgres) {
    ExecOn(url_, command);
    return;
  }
  // The SQL goes through a file: no shell quoting of the statements.
  const auto script = dir_->path() / "exec.sql";
  {
    std::ofstream out(script);
    out << command << ";\n";
    if (!out) throw std::runtime_error("test SQLite: cannot write " + script.string());
  }
  const std::string database = url_.substr(std::string("sqlite:").size());
  const std::string shell = "sqlite3 -bail '" + database + "' < '" + script.string() + "'";
  if (std::system(shell.c_str()) != 0) {
    throw std::runtime_error("test SQLite: sqlite3 failed on: " + command);
  }
}

std::string TestDatabase::QueryText(const std::string& query) const {
  if (backend_ != Backend::kPostgres) throw std::runtime_error("QueryText needs PostgreSQL");
  return ExecOn(url_, query);
}

}  // namespace market::testing
