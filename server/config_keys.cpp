#include "config_keys.hpp"

#include <fmt/format.h>

#include <boost/asio/ip/address.hpp>
#include <cctype>
#include <regex>

#include "config.hpp"
#include "config_values.hpp"
#include "market/network_rules.hpp"
#include "market/validation.hpp"

namespace market::server {

namespace {

Result<std::string> CheckListen(std::string_view text) {
  std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return Fail(Errc::kInvalid, "expected HOST:PORT");
  std::string_view host = text.substr(0, colon);
  std::string_view port_text = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  std::optional<std::int64_t> port = ParseInteger(port_text);
  if (!port || *port < 0 || *port > 65535) {
    return Fail(Errc::kInvalid, fmt::format("port '{}' is not 0..65535", port_text));
  }
  std::string host_text(host);
  if (host_text == "localhost") host_text = "127.0.0.1";
  boost::system::error_code ec;
  boost::asio::ip::make_address(host_text, ec);
  if (ec) {
    return Fail(Errc::kInvalid,
                fmt::format("host '{}' is not an IP address (or localhost)", host));
  }
  return fmt::format("{}:{}", host_text, *port);
}

// The value CheckListen made: the host (IPv6 without brackets) and the port after the last ':'.
void SetListen(ServerConfig& config, const std::string& value) {
  std::size_t colon = value.rfind(':');
  config.listen_host = value.substr(0, colon);
  config.listen_port = static_cast<std::uint16_t>(std::stoi(value.substr(colon + 1)));
}

Result<std::string> CheckDatabase(std::string_view text) {
  if (!text.starts_with("sqlite:") && !text.starts_with("postgresql://") &&
      !text.starts_with("postgres://")) {
    return Fail(Errc::kInvalid, "expected sqlite:PATH or postgresql://...");
  }
  return std::string(text);
}

Result<std::string> CheckRegistryUrl(std::string_view text) {
  if (!text.empty() && !text.starts_with("http://") && !text.starts_with("https://")) {
    return Fail(Errc::kInvalid, "expected http://HOST[:PORT] or https://HOST[:PORT]");
  }
  return std::string(text);
}

Result<std::string> CheckRegistryHost(std::string_view text) {
  static const std::regex kHostPort(
      R"([A-Za-z0-9.-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?)");
  if (!std::regex_match(text.begin(), text.end(), kHostPort)) {
    return Fail(Errc::kInvalid,
                fmt::format("'{}' is not HOST or HOST:PORT (no scheme, no path)", text));
  }
  return Lower(text);
}

Result<std::string> CheckBuilder(std::string_view text) {
  if (text == "docker") {
    return Fail(Errc::kInvalid, "docker is not available in this build; use buildah");
  }
  return std::string(text);
}

Result<std::string> CheckPath(std::string_view text) {
  if (text.empty()) return Fail(Errc::kInvalid, "is empty");
  return std::string(text);
}

// It names this instance's builds in the database and must survive restarts.
Result<std::string> CheckWorkerId(std::string_view text) {
  static const std::regex kWorkerId(R"([A-Za-z0-9._:/@-]{1,100})");
  if (!std::regex_match(text.begin(), text.end(), kWorkerId)) {
    return Fail(Errc::kInvalid, "expected 1 to 100 of A-Z a-z 0-9 . _ : / @ -");
  }
  return std::string(text);
}

Result<std::string> CheckNetwork(std::string_view text) {
  MARKET_RETURN_IF_ERROR(ParseIpRange("network", text));
  return std::string(text);
}

Result<std::string> CheckCluster(std::string_view text) {
  return NormalizeClusterName("Cluster", text);
}

// "https://console.example.com[:port]", lower-cased, as browsers send Origin.
Result<std::string> CheckOrigin(std::string_view text) {
  static const std::regex kOrigin(R"(https?://[a-z0-9.\[\]:-]+)");
  std::string origin = Lower(text);
  if (!std::regex_match(origin, kOrigin)) {
    return Fail(Errc::kInvalid,
                fmt::format("'{}' is not an origin like https://console.example.com", text));
  }
  return origin;
}

Result<std::string> CheckHost(std::string_view text) {
  static const std::regex kHost(R"([a-z0-9.\[\]:_-]+)");
  std::string host = Lower(text);
  if (!std::regex_match(host, kHost)) {
    return Fail(Errc::kInvalid, fmt::format("'{}' is not a host name", text));
  }
  return host;
}

using K = KeyType;
using C = ServerConfig;

const std::vector<ConfigKey>& Table() {
  static const std::vector<ConfigKey> keys = {
      {.key = "listen", .default_value = "127.0.0.1:8080", .value_name = "HOST:PORT",
       .help = "address to serve; a non-loopback HOST requires auth on", .field = &SetListen,
       .check = &CheckListen},
      {.key = "database", .default_value = "sqlite:market.db", .value_name = "URL",
       .help = "sqlite:PATH or postgresql://...", .field = &C::database, .check = &CheckDatabase},
      {.key = "database-timeout", .type = K::kDuration, .default_value = "30", .max = 3600,
       .help = "seconds one PostgreSQL call may take before its connection is cut and the "
               "request fails with 503; 0: no limit",
       .field = &C::database_timeout},
      {.key = "registry", .value_name = "URL",
       .help = "registry URL: https://harbor.example.com, or http://127.0.0.1:5000 with "
               "registry-insecure (default none)",
       .field = &C::registry_url, .check = &CheckRegistryUrl},
      {.key = "registry-kind", .type = K::kEnum, .default_value = "distribution",
       .choices = {"harbor", "distribution"}, .help = "the API the registry speaks",
       .field = &C::registry_kind},
      {.key = "registry-user", .value_name = "NAME", .help = "registry user name",
       .field = &C::registry_user},
      {.key = "registry-password-file", .value_name = "FILE",
       .help = "file holding the registry password (else MARKET_REGISTRY_PASSWORD)",
       .field = &C::registry_password_file, .check = &CheckPath},
      {.key = "registry-insecure", .type = K::kBool, .default_value = "false",
       .help = "plain HTTP or unverified TLS to the registry (required for an http:// URL)",
       .field = &C::registry_insecure},
      {.key = "insecure-registries", .type = K::kList, .value_name = "HOST[:PORT],...",
       .help = "other registries builds may pull base images from over plain HTTP or "
               "unverified TLS (default none)",
       .field = &C::insecure_registries, .check = &CheckRegistryHost},
      {.key = "registry-timeout", .type = K::kDuration, .default_value = "30", .min = 1,
       .max = 3600, .help = "seconds a registry call may take before it fails with 504",
       .field = &C::registry_timeout},
      {.key = "builder", .type = K::kEnum, .default_value = "buildah", .choices = {"buildah"},
       .help = "image builder", .field = &C::builder, .check = &CheckBuilder},
      {.key = "build-workers", .type = K::kInteger, .default_value = "2", .min = 1, .max = 64,
       .help = "builds run at once", .field = &C::build_workers},
      {.key = "workspace", .value_name = "DIR",
       .help = "build contexts and builder storage (default: a folder beside the database)",
       .field = &C::workspace, .check = &CheckPath},
      {.key = "worker-id", .value_name = "ID",
       .help = "this instance's stable build worker name (default HOSTNAME/LISTEN)",
       .field = &C::worker_id, .check = &CheckWorkerId},
      {.key = "build-isolation", .type = K::kEnum, .default_value = "oci",
       .choices = {"oci", "chroot"},
       .help = "oci: every RUN step in runc with a private network that reaches neither this "
               "host nor link-local or denied networks; chroot: no network isolation (an "
               "opt-out, warned about)",
       .field = &C::build_isolation},
      {.key = "build-deny-networks", .type = K::kList, .value_name = "CIDR,...",
       .help = "networks RUN steps and source checkouts may not reach, besides loopback, "
               "link-local and this host's addresses (default none)",
       .field = &C::build_deny_networks, .check = &CheckNetwork},
      {.key = "source-allow-networks", .type = K::kList, .value_name = "CIDR,...",
       .help = "networks source checkouts may reach even though the sandbox's rules deny "
               "them, e.g. an internal git server (default none)",
       .field = &C::source_allow_networks, .check = &CheckNetwork},
      {.key = "ssh-sources", .type = K::kBool, .default_value = "false",
       .help = "allow ssh:// and user@host:path sources", .field = &C::ssh_sources},
      {.key = "ssh-known-hosts-file", .value_name = "FILE",
       .help = "known_hosts file ssh sources' host keys are checked against (required with "
               "ssh-sources)",
       .field = &C::ssh_known_hosts_file},
      {.key = "ssh-identity-file", .value_name = "FILE",
       .help = "private key ssh sources log in with (default none)",
       .field = &C::ssh_identity_file},
      {.key = "source-mirror-size", .type = K::kBytes, .default_value = "5g", .min = 16LL << 20,
       .max = 1LL << 42, .zero_disables = true,
       .help = "git mirrors in the workspace that rebuilds fetch only new objects into, all "
               "together; the least recently used go beyond it; 0: no mirrors",
       .field = &C::source_mirror_size},
      {.key = "reserved-clusters", .type = K::kList, .default_value = "base",
       .value_name = "CLUSTER,...",
       .help = "Clusters (registry projects) only admins may build into",
       .field = &C::reserved_clusters, .check = &CheckCluster},
      {.key = "allowed-clusters", .type = K::kList, .value_name = "CLUSTER,...",
       .help = "Clusters builds may push into (default empty: any)",
       .field = &C::allowed_clusters, .check = &CheckCluster},
      {.key = "build-memory", .type = K::kBytes, .default_value = "4g", .min = 16LL << 20,
       .max = 1LL << 42, .zero_disables = true,
       .help = "memory one build's RUN steps may use; 0: no limit",
       .field = &C::build_memory_bytes},
      {.key = "build-pids", .type = K::kInteger, .default_value = "4096", .max = 1'000'000,
       .help = "processes one build's RUN steps may run at once; 0: no limit",
       .field = &C::build_pids},
      {.key = "build-cpus", .type = K::kNumber, .default_value = "0", .max = 1024,
       .help = "CPUs one build's RUN steps may use, e.g. 1.5; 0: no limit",
       .field = &C::build_cpus},
      {.key = "build-timeout", .type = K::kDuration, .default_value = "3600", .max = 7 * 86400,
       .help = "seconds one build may take from checkout to push; 0: no limit",
       .field = &C::build_timeout},
      {.key = "build-context-bytes", .type = K::kBytes, .default_value = "8g", .min = 1LL << 20,
       .max = 1LL << 42,
       .help = "largest build context: checked-out sources and files together",
       .field = &C::build_context_bytes},
      {.key = "build-storage-driver", .type = K::kEnum, .default_value = "auto",
       .choices = {"auto", "overlay", "fuse-overlayfs", "vfs"},
       .help = "the builder's storage: auto picks the first of overlay (the kernel's), "
               "fuse-overlayfs and vfs that works here and logs why it fell back",
       .field = &C::build_storage_driver},
      {.key = "build-cache", .type = K::kBool, .default_value = "true",
       .help = "builds reuse the steps earlier builds of their project cached, here and in "
               "the registry (a project or a build with noCache can opt out)",
       .field = &C::build_cache},
      {.key = "build-cache-size", .type = K::kBytes, .default_value = "20g", .min = 1LL << 30,
       .max = 1LL << 46, .zero_disables = true,
       .help = "disk the local layer cache may take; past it the least recently used images "
               "are removed once no build runs; 0: no bound",
       .field = &C::build_cache_bytes},
      {.key = "build-cache-project", .value_name = "PROJECT",
       .help = "registry project holding every project's cache repository "
               "(PROJECT/<Cluster>/<project>); default: <Cluster>/<project>/buildcache",
       .field = &C::build_cache_project, .check = &CheckCluster},
      {.key = "build-cache-ttl", .type = K::kInteger, .default_value = "14", .max = 3650,
       .help = "days a cached step stays usable; older ones are built again; 0: no bound",
       .field = &C::build_cache_ttl_days},
      {.key = "build-log-bytes", .type = K::kBytes, .default_value = "32m", .min = 64LL << 10,
       .max = 1LL << 32, .help = "largest stored log of one build",
       .field = &C::build_log_bytes},
      {.key = "build-log-keep", .type = K::kInteger, .default_value = "100", .max = 1'000'000,
       .help = "each project's newest builds whose logs are kept at any age; an older build's "
               "log is deleted once build-log-keep-days have passed too; 0: no count bound",
       .field = &C::build_log_keep},
      {.key = "build-log-keep-days", .type = K::kInteger, .default_value = "90",
       .max = 36'500,
       .help = "days a finished build's log is kept even outside build-log-keep; 0: no age "
               "bound (both 0: logs are never deleted)",
       .field = &C::build_log_keep_days},
      {.key = "webhook-timeout", .type = K::kDuration, .default_value = "10", .min = 1,
       .max = 300,
       .help = "seconds a webhook delivery attempt may take to connect, and again to be "
               "answered",
       .field = &C::webhook_timeout},
      {.key = "webhook-retry-first", .type = K::kDuration, .default_value = "10", .min = 1,
       .max = 3600,
       .help = "seconds before a failed webhook delivery's first retry; doubled per retry "
               "(with jitter), at most an hour",
       .field = &C::webhook_retry_first},
      {.key = "webhook-retry-for", .type = K::kDuration, .default_value = "1d", .min = 1,
       .max = 30 * 86400, .help = "how long a webhook delivery is retried before it is given up",
       .field = &C::webhook_retry_for},
      {.key = "webhook-disable-after", .type = K::kInteger, .default_value = "10",
       .max = 1'000'000,
       .help = "webhook deliveries failed in a row that disable their policy; 0: never",
       .field = &C::webhook_disable_after},
      {.key = "webhook-senders", .type = K::kInteger, .default_value = "2", .min = 1, .max = 64,
       .help = "webhook deliveries sent at once by this instance", .field = &C::webhook_senders},
      {.key = "webhook-keep", .type = K::kDuration, .default_value = "30d", .min = 3600,
       .max = 3650LL * 86400,
       .help = "how long finished webhook deliveries and their attempts are kept",
       .field = &C::webhook_keep},
      {.key = "webhook-allow-networks", .type = K::kList, .value_name = "CIDR,...",
       .help = "networks webhook targets may be in although the build sandbox's rules deny "
               "them (loopback, link-local, this host, build-deny-networks) (default none)",
       .field = &C::webhook_allow_networks, .check = &CheckNetwork},
      {.key = "trigger-disable-after", .type = K::kInteger, .default_value = "50",
       .max = 1'000'000,
       .help = "builds of a build trigger failed in a row that disable it; 0: never",
       .field = &C::trigger_disable_after},
      {.key = "retention-max-deletes-per-minute", .type = K::kInteger, .default_value = "60",
       .max = 100'000,
       .help = "manifests a tag retention run deletes per minute at most, per instance; 0: no "
               "bound",
       .field = &C::retention_max_deletes_per_minute},
      {.key = "retention-poll", .type = K::kDuration, .default_value = "5", .min = 1,
       .max = 3600,
       .help = "seconds between the retention worker's looks for due schedules and queued runs",
       .field = &C::retention_poll},
      {.key = "base-image-poll", .type = K::kDuration, .default_value = "900", .max = 7 * 86400,
       .help = "seconds between looks at the registry for changed base images of projects "
               "rebuilt on base change (80-120% of it at random); 0: never",
       .field = &C::base_image_poll},
      {.key = "base-image-rebuilds-per-hour", .type = K::kInteger, .default_value = "30",
       .max = 100'000,
       .help = "base-image builds queued per hour over all projects at most; 0: no bound",
       .field = &C::base_image_rebuilds_per_hour},
      {.key = "auth", .type = K::kBool, .default_value = "off",
       .help = "authentication (a non-loopback listener requires on)", .field = &C::auth},
      {.key = "auth-users-file", .value_name = "FILE",
       .help = "optional users besides the database's: lines user:HASH[:role] (hash from "
               "`market-server --hash-password`; role admin when omitted)",
       .field = &C::auth_users_file},
      {.key = "auth-cache-seconds", .type = K::kDuration, .default_value = "10", .max = 3600,
       .help = "seconds a verified credential is remembered; bounds how long a token revoked "
               "elsewhere keeps working",
       .field = &C::auth_cache_ttl},
      {.key = "rate-limit", .type = K::kNumber, .default_value = "0", .max = 1'000'000,
       .help = "requests per second per client (user, else IP address); 0: off",
       .field = &C::rate_limit},
      {.key = "rate-limit-burst", .type = K::kInteger, .default_value = "0", .max = 1'000'000,
       .help = "requests a client may make at once; 0: twice rate-limit",
       .field = &C::rate_limit_burst},
      {.key = "allowed-origins", .type = K::kList, .value_name = "ORIGIN,...",
       .help = "origins (https://console.example.com) whose pages may send state-changing "
               "requests; requests of other sites are refused (default none)",
       .field = &C::allowed_origins, .check = &CheckOrigin},
      {.key = "allowed-hosts", .type = K::kList, .value_name = "HOST[:PORT],...",
       .help = "Host header values served; others are answered 421 (default: the listen "
               "address, localhost, 127.0.0.1 and [::1])",
       .field = &C::allowed_hosts, .check = &CheckHost},
      {.key = "signin-max-failures", .type = K::kInteger, .default_value = "10", .min = 1,
       .max = 1'000'000,
       .help = "failed sign-ins per address and per user name within signin-window before "
               "sign-ins are refused with 429",
       .field = &C::signin_max_failures},
      {.key = "signin-window", .type = K::kDuration, .default_value = "60", .min = 1,
       .max = 86400, .help = "seconds failed sign-ins are counted over",
       .field = &C::signin_window},
      {.key = "signin-max-concurrent", .type = K::kInteger, .default_value = "2", .min = 1,
       .max = 256, .help = "password verifications at once; more are refused with 429",
       .field = &C::signin_max_concurrent},
      {.key = "max-connections-per-address", .type = K::kInteger, .default_value = "256",
       .min = 1, .max = 1'000'000, .help = "open connections from one IP address",
       .field = &C::max_connections_per_address},
      {.key = "max-log-follows", .type = K::kInteger, .default_value = "8", .min = 1,
       .max = 10'000, .help = "live build-log streams one caller may hold open",
       .field = &C::max_log_follows},
      {.key = "max-queued-builds-per-project", .type = K::kInteger, .default_value = "20",
       .min = 1, .max = 1'000'000, .help = "queued builds one project may have",
       .field = &C::max_queued_builds_per_project},
      {.key = "max-queued-builds-per-user", .type = K::kInteger, .default_value = "100",
       .min = 1, .max = 1'000'000, .help = "queued builds one operator may have",
       .field = &C::max_queued_builds_per_user},
      {.key = "default-cluster", .default_value = "default_cluster", .value_name = "CLUSTER",
       .help = "Cluster of new projects", .field = &C::default_cluster,
       .check = &CheckCluster},
      {.key = "max-body-bytes", .type = K::kBytes, .default_value = "1m", .min = 1LL << 10,
       .max = 1LL << 30, .help = "largest request body", .field = &C::max_body_bytes},
      {.key = "max-connections", .type = K::kInteger, .default_value = "1024", .min = 1,
       .max = 1'000'000, .help = "open connections at most", .field = &C::max_connections},
      {.key = "log-level", .type = K::kEnum, .default_value = "info",
       .choices = {"trace", "debug", "info", "warn", "error", "off"}, .help = "log level",
       .field = &C::log_level},
      {.key = "log-format", .type = K::kEnum, .default_value = "text",
       .choices = {"text", "json"}, .help = "text, or json: one JSON object a line",
       .field = &C::log_format},
      {.key = "io-threads", .type = K::kInteger, .default_value = "2", .min = 1, .max = 64,
       .help = "threads doing socket I/O", .field = &C::io_threads},
      {.key = "blocking-threads", .type = K::kInteger, .default_value = "8", .min = 1,
       .max = 256, .help = "threads for database, registry and other blocking calls",
       .field = &C::blocking_threads},
      {.key = "header-timeout", .type = K::kDuration, .default_value = "10", .min = 1,
       .max = 3600, .help = "seconds a client has to send a request's headers",
       .field = &C::header_timeout},
      {.key = "idle-timeout", .type = K::kDuration, .default_value = "60", .min = 1,
       .max = 86400, .help = "seconds an idle keep-alive connection stays open",
       .field = &C::idle_timeout},
      {.key = "shutdown-grace", .type = K::kDuration, .default_value = "30", .max = 3600,
       .help = "seconds in-flight requests get at shutdown", .field = &C::shutdown_grace},
  };
  return keys;
}

std::string OrList(const std::vector<std::string_view>& items, std::string_view quote) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += i + 1 == items.size() ? " or " : ", ";
    out += fmt::format("{}{}{}", quote, items[i], quote);
  }
  return out;
}

}  // namespace

std::string EnvVarName(std::string_view key) {
  std::string name = "MARKET_";
  for (char c : key) {
    name += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return name;
}

std::string ConfigKey::Flag() const { return fmt::format("--{}", key); }

std::string ConfigKey::EnvVar() const { return EnvVarName(key); }

std::string ConfigKey::RangeText() const {
  auto number = [&](std::int64_t value) {
    return type == KeyType::kBytes ? FormatBytes(value) : std::to_string(value);
  };
  switch (type) {
    case KeyType::kInteger:
    case KeyType::kNumber:
    case KeyType::kBytes:
    case KeyType::kDuration:
      return fmt::format("{}{}..{}", zero_disables ? "0 or " : "", number(min), number(max));
    default:
      return {};
  }
}

std::string ConfigKey::TypeText() const {
  switch (type) {
    case KeyType::kString:
      return "text";
    case KeyType::kBool:
      return "boolean";
    case KeyType::kInteger:
      return "integer";
    case KeyType::kNumber:
      return "number";
    case KeyType::kBytes:
      return "bytes (N, Nk, Nm or Ng)";
    case KeyType::kDuration:
      return "seconds (N, or Ns, Nm, Nh, Nd)";
    case KeyType::kList:
      return "comma-separated list";
    case KeyType::kEnum:
      return OrList(choices, "`");
  }
  return {};
}

std::span<const ConfigKey> ConfigKeys() { return Table(); }

const ConfigKey* FindConfigKey(std::string_view key) {
  for (const ConfigKey& spec : Table()) {
    if (spec.key == key) return &spec;
  }
  return nullptr;
}

std::string ConfigKey::ChoicesText() const { return OrList(choices, ""); }

}  // namespace market::server
