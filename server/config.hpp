#pragma once
// market-server's settings: flags, MARKET_* environment variables and a TOML file, merged with
// flags winning over the environment, which wins over the file. The keys, their types, defaults
// and ranges are the table of config_keys.hpp.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config_keys.hpp"
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
  // Other registries builds may pull from without TLS verification (host[:port]); empty: none.
  std::vector<std::string> insecure_registries;
  std::chrono::seconds registry_timeout{30};  // per registry request; connecting takes at most 5 s

  std::string builder = "buildah";
  int build_workers = 2;
  std::filesystem::path workspace;  // resolved: never empty after LoadConfig
  // Stable across restarts, unique among instances: a restarted instance fails the builds its
  // previous life left running at once instead of waiting for their leases to end.
  // Empty: HOSTNAME/LISTEN when the port is fixed, else HOSTNAME:PID.
  std::string worker_id;

  // The build sandbox (docs/security.md).
  std::string build_isolation = "oci";  // oci (runc, a private network) or chroot (opt-out)
  std::string build_deny_networks;      // CIDRs no RUN step or checkout may reach
  std::string source_allow_networks;    // CIDRs checkouts may reach despite the rules
  bool ssh_sources = false;             // ssh:// and user@host:path sources
  std::string ssh_known_hosts_file;     // required with ssh-sources
  std::string ssh_identity_file;        // the key ssh sources log in with; empty: none
  // All git mirrors of the workspace (git-mirrors/) together; 0: none, a fresh clone each time.
  std::int64_t source_mirror_size = 5LL << 30;
  std::vector<std::string> reserved_clusters = {"base"};  // only admins build into these
  std::vector<std::string> allowed_clusters;              // empty: any
  std::int64_t build_memory_bytes = 4LL << 30;  // 0: no limit
  int build_pids = 4096;                // processes of one build at once; 0: no limit
  double build_cpus = 0;                // CPUs one build may use; 0: no limit
  std::chrono::seconds build_timeout{3600};
  std::int64_t build_context_bytes = 8LL << 30;  // the build's checked-out sources and files
  std::int64_t build_log_bytes = 32LL << 20;
  // The builder's storage and layer cache (docs/ops.md).
  std::string build_storage_driver = "auto";  // auto, overlay, fuse-overlayfs or vfs
  bool build_cache = true;
  std::int64_t build_cache_bytes = 20LL << 30;  // 0: no bound
  std::string build_cache_project;              // empty: <cluster>/<project>/buildcache
  int build_cache_ttl_days = 14;                // 0: cached steps never expire
  // A finished build's log is deleted once it is outside both: its project's newest
  // build_log_keep builds, and build_log_keep_days since it finished. 0 lifts a bound.
  int build_log_keep = 100;
  int build_log_keep_days = 90;

  bool auth = false;
  std::string auth_users_file;  // optional: users of a file besides the database's
  std::chrono::seconds auth_cache_ttl{10};
  double rate_limit = 0;  // requests per second per client; 0: no limit
  int rate_limit_burst = 0;  // 0: twice rate-limit (at least 1)

  // Browser-borne requests and sign-in guessing (docs/security.md).
  std::vector<std::string> allowed_origins;  // other sites whose pages may change state
  std::vector<std::string> allowed_hosts;    // Host header values served; empty: the defaults
  int signin_max_failures = 10;              // per address and per user name in the window
  std::chrono::seconds signin_window{60};
  int signin_max_concurrent = 2;             // password verifications at once
  int max_connections_per_address = 256;
  int max_log_follows = 8;                   // live log streams per caller
  int max_queued_builds_per_project = 20;
  int max_queued_builds_per_user = 100;

  // Webhooks out (docs/api.md "Webhooks").
  std::chrono::seconds webhook_timeout{10};        // per attempt
  std::chrono::seconds webhook_retry_first{10};    // doubled per retry, at most an hour
  std::chrono::seconds webhook_retry_for{86400};   // a delivery is given up after this
  int webhook_disable_after = 10;                  // failed deliveries in a row; 0: never
  int webhook_senders = 2;
  std::chrono::seconds webhook_keep{30 * 86400};   // finished deliveries are kept this long
  std::string webhook_allow_networks;  // CIDRs webhook targets may be in despite the rules
  int trigger_disable_after = 50;      // triggered builds failed in a row; 0: never

  // Tag retention (docs/api.md "Retention").
  int retention_max_deletes_per_minute = 60;  // 0: no bound
  std::chrono::seconds retention_poll{5};     // how often the worker looks for due runs

  // Base-image rebuilds (docs/ops.md "Base-image rebuilds").
  std::chrono::seconds base_image_poll{15 * 60};  // between polls of the bases; 0: never
  int base_image_rebuilds_per_hour = 30;          // over all projects; 0: no bound

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

  bool operator==(const ServerConfig&) const = default;
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

// Whether `host` (an IP literal or "localhost") only accepts local connections.
bool IsLoopbackHost(std::string_view host);

}  // namespace market::server
