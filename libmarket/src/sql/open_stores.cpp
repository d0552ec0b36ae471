// market::OpenStores: turns a database URL into the SQL stores on one shared session pool.

#include <libpq-fe.h>

#include <filesystem>
#include <memory>
#include <string>
#include <system_error>

#include <boost/asio/io_context.hpp>

#include "log.hpp"
#include "market/async_project_reads.hpp"
#include "market/store.hpp"
#include "sql/pg_async_project_reads.hpp"
#include "sql/migrations.hpp"
#include "sql/sql_stores.hpp"
#include "store_project_reads.hpp"

namespace market {

namespace {

constexpr std::string_view kSqlitePrefix = "sqlite:";

Result<sql::ConnectionConfig> SqliteConfig(std::string_view url, int busy_timeout_ms) {
  std::string path(url.substr(kSqlitePrefix.size()));
  if (path.starts_with("//")) path.erase(0, 2);  // sqlite:///abs/path and sqlite://rel
  if (path.empty()) return Fail(Errc::kInvalid, "database: sqlite URL has no file path");
  if (path == ":memory:" || path.starts_with("file:")) {
    return Fail(Errc::kInvalid,
                "database: sqlite needs a file path (each pooled session would "
                "otherwise see its own database)");
  }
  // SOCI's sqlite3 backend takes `db="..."` and has no escape for a double quote.
  if (path.find('"') != std::string::npos) {
    return Fail(Errc::kInvalid, "database: sqlite path must not contain '\"'");
  }
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) {
      return Fail(Errc::kUnavailable,
                  "database: cannot create folder " + parent.string() + ": " + ec.message());
    }
  }
  sql::ConnectionConfig config;
  config.dialect = sql::Dialect::kSqlite;
  config.connect_string = "db=\"" + path + "\"";
  config.display = "sqlite:" + path;
  config.busy_timeout_ms = busy_timeout_ms;
  return config;
}

Result<sql::ConnectionConfig> PostgresConfig(std::string_view url) {
  std::string uri(url);
  // SOCI 4.0 splits its connection string on spaces and appends "=" to a final word that has
  // none, so the URI is passed as one word that always carries a query parameter.
  for (char c : uri) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      return Fail(Errc::kInvalid,
                  "database: a postgresql URL must not contain whitespace "
                  "(percent-encode it)");
    }
  }
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(uri.c_str(), &error);
  if (options == nullptr) {
    // libpq's message quotes the URI (with its password) after the problem: keep the problem.
    std::string message = error != nullptr ? error : "cannot parse";
    if (error != nullptr) PQfreemem(error);
    message = message.substr(0, message.find('"'));
    while (!message.empty() &&
           (message.back() == '\n' || message.back() == ' ' || message.back() == ':')) {
      message.pop_back();
    }
    return Fail(Errc::kInvalid, "database: invalid postgresql URL: " + message);
  }
  std::string host, port, dbname;
  bool has_application_name = false;
  bool has_connect_timeout = false;
  bool has_tcp_user_timeout = false;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    std::string_view key = o->keyword;
    if (key == "host" || key == "hostaddr") host = host.empty() ? o->val : host;
    if (key == "port") port = o->val;
    if (key == "dbname") dbname = o->val;
    if (key == "application_name") has_application_name = true;
    if (key == "connect_timeout") has_connect_timeout = true;
    if (key == "tcp_user_timeout") has_tcp_user_timeout = true;
  }
  PQconninfoFree(options);
  // Defaults the URL may override. Without them an unreachable host or a network partition
  // holds a request (and its pooled session) for minutes: connecting gives up after 5 s, and
  // the kernel drops a connection whose sent data stays unacknowledged for 30 s.
  auto add_parameter = [&uri](std::string_view parameter) {
    uri += (uri.find('?') == std::string::npos ? "?" : "&");
    uri += parameter;
  };
  if (!has_application_name) add_parameter("application_name=image-market");
  if (!has_connect_timeout) add_parameter("connect_timeout=5");
  if (!has_tcp_user_timeout) add_parameter("tcp_user_timeout=30000");
  sql::ConnectionConfig config;
  config.dialect = sql::Dialect::kPostgres;
  config.connect_string = std::move(uri);
  config.display = "postgresql://" + (host.empty() ? std::string("localhost") : host) +
                   (port.empty() ? "" : ":" + port) + "/" + dbname;
  return config;
}

}  // namespace

Result<Stores> OpenStores(const StoreOptions& options) {
  if (options.pool_size < 1) return Fail(Errc::kInvalid, "database: pool size must be positive");
  if (options.busy_timeout_ms < 0) {
    return Fail(Errc::kInvalid, "database: busy timeout must not be negative");
  }
  if (options.call_timeout_ms < 0) {
    return Fail(Errc::kInvalid, "database: call timeout must not be negative");
  }
  std::string_view url = options.url;
  Result<sql::ConnectionConfig> config;
  if (url.starts_with(kSqlitePrefix)) {
    config = SqliteConfig(url, options.busy_timeout_ms);
  } else if (url.starts_with("postgresql://") || url.starts_with("postgres://")) {
    config = PostgresConfig(url);
  } else {
    // The URL may hold a password: only its scheme is repeated.
    std::string_view scheme = url.substr(0, url.find(':'));
    return Fail(Errc::kInvalid, "database: unsupported URL scheme '" + std::string(scheme) +
                                    "' (use sqlite:PATH or postgresql://...)");
  }
  if (!config) return std::unexpected(config.error());
  if (config->dialect == sql::Dialect::kPostgres) {
    config->call_timeout = std::chrono::milliseconds(options.call_timeout_ms);
  }

  std::string display = config->display;
  MARKET_ASSIGN_OR_RETURN(auto pool, sql::SessionPool::Open(std::move(*config), options.pool_size));
  sql::SharedPool shared(std::move(pool));
  MARKET_RETURN_IF_ERROR(sql::Migrate(*shared));
  MARKET_LOG_INFO("database {} open with {} sessions", display, options.pool_size);

  Stores stores;
  stores.projects = std::make_unique<sql::SqlProjectStore>(shared);
  stores.builds = std::make_unique<sql::SqlBuildStore>(shared);
  stores.identity = std::make_unique<sql::SqlIdentityStore>(shared);
  stores.audit = std::make_unique<sql::SqlAuditLog>(shared);
  stores.webhooks = std::make_unique<sql::SqlWebhookStore>(shared);
  stores.triggers = std::make_unique<sql::SqlTriggerStore>(shared);
  stores.immutability = std::make_unique<sql::SqlImmutabilityStore>(shared);
  stores.retention = std::make_unique<sql::SqlRetentionStore>(shared);
  stores.base_rebuilds = std::make_unique<sql::SqlBaseRebuildStore>(shared);
  return stores;
}

Result<AsyncProjectReadsPtr> OpenAsyncProjectReads(const StoreOptions& options,
                                                   ProjectStore& store,
                                                   BlockingExecutor& blocking,
                                                   boost::asio::io_context& loop,
                                                   int connections) {
  if (connections < 1) {
    return Fail(Errc::kInvalid, "database: asynchronous reads need at least one connection");
  }
  std::string_view url = options.url;
  if (!url.starts_with("postgresql://") && !url.starts_with("postgres://")) {
    return std::make_unique<StoreProjectReads>(store, blocking);
  }
  Result<sql::ConnectionConfig> config = PostgresConfig(url);
  if (!config) return std::unexpected(config.error());
  config->call_timeout = std::chrono::milliseconds(options.call_timeout_ms);
  return sql::MakePgAsyncProjectReads(*config, loop.get_executor(), connections, store, blocking);
}

}  // namespace market
