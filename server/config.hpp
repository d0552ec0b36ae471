#pragma once
// market-server's settings: flags, MARKET_* environment variables and a TOML file, merged with
// flags winning over the environment, which wins over the file.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "market/error.hpp"

namespace market::server {

struct ServerConfig {
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 8080;
  std::string database = "sqlite:market.db";
  // PostgreSQL: a call taking longer has its connection cut (503); 0: no limit.
  std::chrono::seconds database_timeout{30};
  std::string config_file;  // empty: none

  std::string registry_url;  // empty: no registry
  std::string registry_kind = "distribution";
  std::string registry_user;
  std::string registry_password;  // secret: from MARKET_REGISTRY_PASSWORD or the file only
  std::string registry_password_file;
  bool registry_insecure = false;
  std::chrono::seconds registry_timeout{30};  // per registry request; connecting takes at most 5 s

  std::string builder = "buildah";
  int build_workers = 2;
  std::filesystem::path workspace;  // resolved: never empty after LoadConfig
  // Stable across restarts, unique among instances: a restarted instance fails the builds its
  // previous life left running at once instead of waiting for their leases to end.
  // Empty: HOSTNAME/LISTEN when the port is fixed, else HOSTNAME:PID.
  std::string worker_id;

  bool auth = false;
  std::string auth_users_file;  // optional: users of a file besides the database's
  std::chrono::seconds auth_cache_ttl{10};
  double rate_limit = 0;  // requests per second per client; 0: no limit
  int rate_limit_burst = 0;  // 0: twice rate-limit (at least 1)

  std::string default_cluster = "default_cluster";
  std::int64_t max_body_bytes = 1 << 20;
  int max_connections = 1024;
  std::string log_level = "info";
  std::string log_format = "text";  // text or json (one JSON object a line)

  int io_threads = 2;
  int blocking_threads = 8;
  std::chrono::seconds header_timeout{10};
  std::chrono::seconds idle_timeout{60};
  std::chrono::seconds shutdown_grace{30};
};

struct ConfigOutcome {
  enum class Action { kRun, kHelp, kVersion };
  Action action = Action::kRun;
  std::string text;  // help or version text
  ServerConfig config;
};

// Looks up an environment variable; nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;
EnvLookup ProcessEnv();

// `args` excludes the program name. kInvalid with a message naming the key (and where its value
// came from) for anything wrong; the caller prints it and exits.
Result<ConfigOutcome> LoadConfig(std::span<const std::string> args, const EnvLookup& env);

// Every setting LoadConfig accepts: its flag is --KEY, its file key KEY (or key_with_underscores)
// and its environment variable EnvVarName(KEY). docs/configuration.md documents each (a test
// checks that).
struct ConfigKey {
  std::string_view key;
  std::string_view help;
  bool is_bool = false;
};
std::span<const ConfigKey> ConfigKeys();
std::string EnvVarName(std::string_view key);  // "registry-user" -> "MARKET_REGISTRY_USER"

// Whether `host` (an IP literal or "localhost") only accepts local connections.
bool IsLoopbackHost(std::string_view host);

}  // namespace market::server
