#include "config.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <vector>

#include "market/network_rules.hpp"
#include "market/validation.hpp"

#ifndef MARKET_VERSION
#define MARKET_VERSION "0.0.0"
#endif

namespace market::server {

namespace {

// Every setting, once: the flag (without "--"), file key and MARKET_* variable derive from it.
struct KeySpec {
  std::string_view key;
  std::string_view help;
  bool is_bool = false;
};

constexpr KeySpec kKeys[] = {
    {"listen", "HOST:PORT to serve (default 127.0.0.1:8080)"},
    {"database", "sqlite:PATH or postgresql://... (default sqlite:market.db)"},
    {"database-timeout",
     "seconds one PostgreSQL call may take before its connection is cut and the request fails "
     "with 503; 0: no limit (default 30)"},
    {"registry", "registry URL: http://127.0.0.1:5000, https://harbor.example.com (default none)"},
    {"registry-kind", "harbor or distribution (default distribution)"},
    {"registry-user", "registry user name"},
    {"registry-password-file",
     "file holding the registry password (else MARKET_REGISTRY_PASSWORD)"},
    {"registry-insecure", "plain HTTP or unverified TLS to the registry", true},
    {"insecure-registries",
     "comma-separated HOST[:PORT] of other registries builds may pull base images from over "
     "plain HTTP or unverified TLS (default none: only the configured registry follows "
     "registry-insecure)"},
    {"registry-timeout", "seconds a registry call may take before it fails with 504 (default 30)"},
    {"builder", "image builder: buildah or docker (default buildah)"},
    {"build-workers", "builds run at once (default 2)"},
    {"workspace", "build contexts and builder storage (default: a folder beside the database)"},
    {"worker-id", "this instance's stable build worker name (default HOSTNAME/LISTEN)"},
    {"build-isolation",
     "oci: every RUN step in runc with a private network that reaches neither this host nor "
     "link-local or denied networks; chroot: no network isolation (an opt-out, warned about) "
     "(default oci)"},
    {"build-deny-networks",
     "comma-separated CIDRs that RUN steps and source checkouts may not reach, besides "
     "loopback, link-local and this host's addresses (default none)"},
    {"source-allow-networks",
     "comma-separated CIDRs that source checkouts may reach even though the sandbox's rules "
     "deny them, e.g. an internal git server (default none)"},
    {"ssh-sources", "allow ssh:// and user@host:path sources (default off)", true},
    {"ssh-known-hosts-file",
     "known_hosts file that ssh sources' host keys are checked against (required with "
     "ssh-sources)"},
    {"ssh-identity-file", "private key ssh sources log in with (default none)"},
    {"reserved-clusters",
     "comma-separated Clusters (registry projects) only admins may build into (default base)"},
    {"allowed-clusters",
     "comma-separated Clusters builds may push into; empty: any (default empty)"},
    {"build-memory",
     "memory one build's RUN steps may use: N, Nk, Nm or Ng; 0: no limit (default 4g)"},
    {"build-pids", "processes one build's RUN steps may run at once; 0: no limit (default 4096)"},
    {"build-cpus", "CPUs one build's RUN steps may use, e.g. 1.5; 0: no limit (default 0)"},
    {"build-timeout",
     "seconds one build may take from checkout to push; 0: no limit (default 3600)"},
    {"build-context-bytes",
     "largest build context: checked-out sources and files together (default 8589934592)"},
    {"build-log-bytes", "largest stored log of one build (default 33554432)"},
    {"auth", "on or off (default off; a non-loopback listener requires on)"},
    {"auth-users-file",
     "optional users besides the database's: lines user:HASH[:role] (hash from "
     "`market-server --hash-password`; role admin when omitted)"},
    {"auth-cache-seconds",
     "seconds a verified credential is remembered; bounds how long a token revoked elsewhere "
     "keeps working (default 10)"},
    {"rate-limit", "requests per second per client (user, else IP address); 0: off (default 0)"},
    {"rate-limit-burst", "requests a client may make at once (default twice rate-limit)"},
    {"allowed-origins",
     "comma-separated origins (https://console.example.com) whose pages may send "
     "state-changing requests; requests of other sites are refused (default none)"},
    {"allowed-hosts",
     "comma-separated Host header values served (name or name:port); others are answered 421 "
     "(default: the listen address, localhost, 127.0.0.1 and [::1])"},
    {"signin-max-failures",
     "failed sign-ins per address and per user name within signin-window before sign-ins "
     "are refused with 429 (default 10)"},
    {"signin-window", "seconds failed sign-ins are counted over (default 60)"},
    {"signin-max-concurrent",
     "password verifications at once; more are refused with 429 (default 2)"},
    {"max-connections-per-address", "open connections from one IP address (default 256)"},
    {"max-log-follows", "live build-log streams one caller may hold open (default 8)"},
    {"max-queued-builds-per-project", "queued builds one project may have (default 20)"},
    {"max-queued-builds-per-user", "queued builds one operator may have (default 100)"},
    {"default-cluster", "Cluster of new projects (default default_cluster)"},
    {"max-body-bytes", "largest request body (default 1048576)"},
    {"max-connections", "open connections at most (default 1024)"},
    {"log-level", "trace, debug, info, warn, error or off (default info)"},
    {"log-format", "text or json: one JSON object a line (default text)"},
    {"io-threads", "threads doing socket I/O (default 2)"},
    {"blocking-threads", "threads for database, registry and other blocking calls (default 8)"},
    {"header-timeout", "seconds a client has to send a request's headers (default 10)"},
    {"idle-timeout", "seconds an idle keep-alive connection stays open (default 60)"},
    {"shutdown-grace", "seconds in-flight requests get at shutdown (default 30)"},
};

enum class Origin { kDefault, kFile, kEnv, kFlag };

struct RawValue {
  std::string text;
  Origin origin = Origin::kDefault;
};

std::string EnvName(std::string_view key) {
  std::string name = "MARKET_";
  for (char c : key) {
    name += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return name;
}

class Sources {
 public:
  explicit Sources(std::string config_file) : config_file_(std::move(config_file)) {}

  void Set(std::string_view key, std::string text, Origin origin) {
    values_[std::string(key)] = RawValue{std::move(text), origin};
  }
  const RawValue* Get(std::string_view key) const {
    auto it = values_.find(std::string(key));
    return it == values_.end() ? nullptr : &it->second;
  }
  // "--listen", "MARKET_LISTEN" or "listen in /etc/market.toml": where a bad value came from.
  std::string Describe(std::string_view key) const {
    const RawValue* value = Get(key);
    switch (value == nullptr ? Origin::kDefault : value->origin) {
      case Origin::kFlag:
        return fmt::format("--{}", key);
      case Origin::kEnv:
        return EnvName(key);
      case Origin::kFile:
        return fmt::format("{} in {}", key, config_file_);
      case Origin::kDefault:
        break;
    }
    return std::string(key);
  }

 private:
  std::string config_file_;
  std::map<std::string, RawValue> values_;
};

std::unexpected<Error> Bad(const Sources& sources, std::string_view key, std::string_view why) {
  return Fail(Errc::kInvalid, fmt::format("invalid {}: {}", sources.Describe(key), why));
}

const KeySpec* FindKey(std::string_view key) {
  for (const KeySpec& spec : kKeys) {
    if (spec.key == key) return &spec;
  }
  return nullptr;
}

Result<void> ReadFile(const std::string& path, Sources& sources) {
  toml::table table;
  try {
    table = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    std::ostringstream where;
    where << e.source().begin;
    return Fail(Errc::kInvalid,
                fmt::format("config file {}: {} at {}", path, e.description(), where.str()));
  }
  for (auto&& [name, node] : table) {
    std::string key(name.str());
    std::replace(key.begin(), key.end(), '_', '-');  // registry_user and registry-user alike
    if (key == "config") {
      return Fail(Errc::kInvalid, fmt::format("config file {}: key config cannot nest", path));
    }
    if (key == "registry-password") {
      return Fail(Errc::kInvalid,
                  fmt::format("config file {}: registry-password is not read from files; use "
                              "registry-password-file or MARKET_REGISTRY_PASSWORD",
                              path));
    }
    if (FindKey(key) == nullptr) {
      return Fail(Errc::kInvalid, fmt::format("config file {}: unknown key {}", path, name.str()));
    }
    std::string text;
    if (auto s = node.value<std::string>(); s && node.is_string()) {
      text = *s;
    } else if (node.is_integer()) {
      text = std::to_string(*node.value<std::int64_t>());
    } else if (node.is_boolean()) {
      text = *node.value<bool>() ? "true" : "false";
    } else {
      return Fail(
          Errc::kInvalid,
          fmt::format("config file {}: {} must be a string, integer or boolean", path, name.str()));
    }
    sources.Set(key, std::move(text), Origin::kFile);
  }
  return {};
}

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::optional<bool> ParseBool(std::string_view text) {
  std::string lower = Lower(text);
  if (lower == "on" || lower == "true" || lower == "yes" || lower == "1") return true;
  if (lower == "off" || lower == "false" || lower == "no" || lower == "0") return false;
  return std::nullopt;
}

std::optional<std::int64_t> ParseInt(std::string_view text) {
  std::int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

// Reads integer setting `key` into `out` when it was given, within [min, max].
template <class T>
Result<void> IntSetting(const Sources& sources, std::string_view key, std::int64_t min,
                        std::int64_t max, T& out) {
  const RawValue* raw = sources.Get(key);
  if (raw == nullptr) return {};
  std::optional<std::int64_t> value = ParseInt(raw->text);
  if (!value) return Bad(sources, key, fmt::format("'{}' is not an integer", raw->text));
  if (*value < min || *value > max) {
    return Bad(sources, key, fmt::format("{} is outside {}..{}", *value, min, max));
  }
  out = static_cast<T>(*value);
  return {};
}

// Comma- or space-separated values, empty ones dropped.
std::vector<std::string> SplitList(std::string_view text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find_first_of(", \t", start);
    if (end == std::string_view::npos) end = text.size();
    if (end > start) out.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

Result<void> ClusterList(const Sources& sources, std::string_view key,
                         std::vector<std::string>& out) {
  const RawValue* raw = sources.Get(key);
  if (raw == nullptr) return {};
  out.clear();
  for (const std::string& item : SplitList(raw->text)) {
    Result<std::string> cluster = NormalizeClusterName(key, item);
    if (!cluster) return Bad(sources, key, cluster.error().message);
    out.push_back(*cluster);
  }
  return {};
}

Result<void> NetworkList(const Sources& sources, std::string_view key, std::string& out) {
  const RawValue* raw = sources.Get(key);
  if (raw == nullptr) return {};
  if (auto ranges = ParseIpRanges(key, raw->text); !ranges) {
    return Bad(sources, key, ranges.error().message);
  }
  out = raw->text;
  return {};
}

// "https://console.example.com[:port]", lower-cased, as browsers send Origin.
Result<void> OriginList(const Sources& sources, std::vector<std::string>& out) {
  const RawValue* raw = sources.Get("allowed-origins");
  if (raw == nullptr) return {};
  static const std::regex kOrigin(R"(https?://[a-z0-9.\[\]:-]+)");
  out.clear();
  for (const std::string& item : SplitList(raw->text)) {
    std::string origin = Lower(item);
    if (!std::regex_match(origin, kOrigin)) {
      return Bad(sources, "allowed-origins",
                 fmt::format("'{}' is not an origin like https://console.example.com", item));
    }
    out.push_back(std::move(origin));
  }
  return {};
}

Result<void> HostList(const Sources& sources, std::vector<std::string>& out) {
  const RawValue* raw = sources.Get("allowed-hosts");
  if (raw == nullptr) return {};
  static const std::regex kHost(R"([a-z0-9.\[\]:_-]+)");
  out.clear();
  for (const std::string& item : SplitList(raw->text)) {
    std::string host = Lower(item);
    if (!std::regex_match(host, kHost)) {
      return Bad(sources, "allowed-hosts", fmt::format("'{}' is not a host name", item));
    }
    out.push_back(std::move(host));
  }
  return {};
}

// N, Nk, Nm or Ng bytes; 0 means no limit.
Result<void> MemorySetting(const Sources& sources, std::int64_t& out) {
  const RawValue* raw = sources.Get("build-memory");
  if (raw == nullptr) return {};
  const std::string value = Lower(raw->text);
  static const std::regex kMemory(R"(([0-9]{1,12})([kmg]?))");
  std::smatch m;
  if (!std::regex_match(value, m, kMemory)) {
    return Bad(sources, "build-memory", fmt::format("'{}' is not N, Nk, Nm or Ng", raw->text));
  }
  const int shift = m[2] == "k" ? 10 : m[2] == "m" ? 20 : m[2] == "g" ? 30 : 0;
  const std::int64_t bytes = *ParseInt(m[1].str()) << shift;
  if (bytes != 0 && bytes < (16LL << 20)) {
    return Bad(sources, "build-memory", "is below 16m: no build would run");
  }
  out = bytes;
  return {};
}

Result<void> SandboxSettings(const Sources& sources, ServerConfig& config) {
  if (const RawValue* raw = sources.Get("build-isolation")) {
    config.build_isolation = Lower(raw->text);
    if (config.build_isolation != "oci" && config.build_isolation != "chroot") {
      return Bad(sources, "build-isolation", "expected oci or chroot");
    }
  }
  if (auto r = NetworkList(sources, "build-deny-networks", config.build_deny_networks); !r)
    return r;
  if (auto r = NetworkList(sources, "source-allow-networks", config.source_allow_networks); !r) {
    return r;
  }
  if (const RawValue* raw = sources.Get("ssh-sources")) {
    std::optional<bool> value = ParseBool(raw->text);
    if (!value) return Bad(sources, "ssh-sources", "expected on or off");
    config.ssh_sources = *value;
  }
  if (const RawValue* raw = sources.Get("ssh-known-hosts-file"))
    config.ssh_known_hosts_file = raw->text;
  if (const RawValue* raw = sources.Get("ssh-identity-file")) config.ssh_identity_file = raw->text;
  if (config.ssh_sources) {
    std::error_code ec;
    if (config.ssh_known_hosts_file.empty()) {
      return Bad(sources, "ssh-sources",
                 "ssh sources need ssh-known-hosts-file: host keys are always checked");
    }
    if (!std::filesystem::is_regular_file(config.ssh_known_hosts_file, ec)) {
      return Bad(sources, "ssh-known-hosts-file", "is not a readable file");
    }
    if (!config.ssh_identity_file.empty() &&
        !std::filesystem::is_regular_file(config.ssh_identity_file, ec)) {
      return Bad(sources, "ssh-identity-file", "is not a readable file");
    }
  }
  if (auto r = ClusterList(sources, "reserved-clusters", config.reserved_clusters); !r) return r;
  if (auto r = ClusterList(sources, "allowed-clusters", config.allowed_clusters); !r) return r;
  if (auto r = MemorySetting(sources, config.build_memory_bytes); !r) return r;
  if (auto r = IntSetting(sources, "build-pids", 0, 1'000'000, config.build_pids); !r) return r;
  if (const RawValue* raw = sources.Get("build-cpus")) {
    double value = 0;
    auto [ptr, ec] = std::from_chars(raw->text.data(), raw->text.data() + raw->text.size(), value);
    if (ec != std::errc() || ptr != raw->text.data() + raw->text.size() || raw->text.empty() ||
        !(value >= 0 && value <= 1024)) {
      return Bad(sources, "build-cpus", fmt::format("'{}' is not a number 0..1024", raw->text));
    }
    config.build_cpus = value;
  }
  std::int64_t seconds = config.build_timeout.count();
  if (auto r = IntSetting(sources, "build-timeout", 0, 7 * 86400, seconds); !r) return r;
  config.build_timeout = std::chrono::seconds(seconds);
  if (auto r = IntSetting(sources, "build-context-bytes", 1 << 20, 1LL << 42,
                          config.build_context_bytes);
      !r) {
    return r;
  }
  return IntSetting(sources, "build-log-bytes", 64 << 10, 1LL << 32, config.build_log_bytes);
}

Result<void> AdmissionSettings(const Sources& sources, ServerConfig& config) {
  if (auto r = OriginList(sources, config.allowed_origins); !r) return r;
  if (auto r = HostList(sources, config.allowed_hosts); !r) return r;
  if (auto r = IntSetting(sources, "signin-max-failures", 1, 1'000'000, config.signin_max_failures);
      !r) {
    return r;
  }
  std::int64_t seconds = config.signin_window.count();
  if (auto r = IntSetting(sources, "signin-window", 1, 86400, seconds); !r) return r;
  config.signin_window = std::chrono::seconds(seconds);
  if (auto r = IntSetting(sources, "signin-max-concurrent", 1, 256, config.signin_max_concurrent);
      !r) {
    return r;
  }
  if (auto r = IntSetting(sources, "max-connections-per-address", 1, 1'000'000,
                          config.max_connections_per_address);
      !r) {
    return r;
  }
  if (auto r = IntSetting(sources, "max-log-follows", 1, 10'000, config.max_log_follows); !r) {
    return r;
  }
  if (auto r = IntSetting(sources, "max-queued-builds-per-project", 1, 1'000'000,
                          config.max_queued_builds_per_project);
      !r) {
    return r;
  }
  return IntSetting(sources, "max-queued-builds-per-user", 1, 1'000'000,
                    config.max_queued_builds_per_user);
}

Result<void> ParseListen(const Sources& sources, ServerConfig& config) {
  const RawValue* raw = sources.Get("listen");
  if (raw == nullptr) return {};
  std::string_view text = raw->text;
  std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return Bad(sources, "listen", "expected HOST:PORT");
  std::string_view host = text.substr(0, colon);
  std::string_view port_text = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  std::optional<std::int64_t> port = ParseInt(port_text);
  if (!port || *port < 0 || *port > 65535) {
    return Bad(sources, "listen", fmt::format("port '{}' is not 0..65535", port_text));
  }
  std::string host_text(host);
  if (host_text == "localhost") host_text = "127.0.0.1";
  boost::system::error_code ec;
  boost::asio::ip::make_address(host_text, ec);
  if (ec) {
    return Bad(sources, "listen",
               fmt::format("host '{}' is not an IP address (or localhost)", host));
  }
  config.listen_host = host_text;
  config.listen_port = static_cast<std::uint16_t>(*port);
  return {};
}

Result<void> ReadPasswordFile(const Sources& sources, ServerConfig& config) {
  std::ifstream in(config.registry_password_file, std::ios::binary);
  if (!in) return Bad(sources, "registry-password-file", "cannot be read");
  std::string password((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!password.empty() && (password.back() == '\n' || password.back() == '\r')) {
    password.pop_back();
  }
  if (password.empty()) return Bad(sources, "registry-password-file", "is empty");
  config.registry_password = std::move(password);
  return {};
}

std::filesystem::path DefaultWorkspace(std::string_view database) {
  constexpr std::string_view kSqlite = "sqlite:";
  if (database.starts_with(kSqlite)) {
    std::filesystem::path db(database.substr(kSqlite.size()));
    std::filesystem::path stem = db.stem();
    return db.parent_path() / (stem.string() + "-workspace");
  }
  return "market-workspace";
}

Result<void> Apply(const Sources& sources, const EnvLookup& env, ServerConfig& config) {
  auto text = [&](std::string_view key, std::string& out) {
    if (const RawValue* raw = sources.Get(key)) out = raw->text;
  };
  if (auto r = ParseListen(sources, config); !r) return r;

  text("database", config.database);
  if (!config.database.starts_with("sqlite:") && !config.database.starts_with("postgresql://") &&
      !config.database.starts_with("postgres://")) {
    return Bad(sources, "database", "expected sqlite:PATH or postgresql://...");
  }

  text("registry", config.registry_url);
  if (!config.registry_url.empty() && !config.registry_url.starts_with("http://") &&
      !config.registry_url.starts_with("https://")) {
    return Bad(sources, "registry", "expected http://HOST[:PORT] or https://HOST[:PORT]");
  }
  text("registry-kind", config.registry_kind);
  config.registry_kind = Lower(config.registry_kind);
  if (config.registry_kind != "harbor" && config.registry_kind != "distribution") {
    return Bad(sources, "registry-kind", "expected harbor or distribution");
  }
  text("registry-user", config.registry_user);
  text("registry-password-file", config.registry_password_file);
  if (const RawValue* raw = sources.Get("registry-insecure")) {
    std::optional<bool> value = ParseBool(raw->text);
    if (!value) return Bad(sources, "registry-insecure", "expected true or false");
    config.registry_insecure = *value;
  }
  if (const RawValue* raw = sources.Get("insecure-registries")) {
    static const std::regex kHostPort(R"([A-Za-z0-9.-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?)");
    config.insecure_registries.clear();
    for (const std::string& item : SplitList(raw->text)) {
      if (!std::regex_match(item, kHostPort)) {
        return Bad(sources, "insecure-registries",
                   fmt::format("'{}' is not HOST or HOST:PORT (no scheme, no path)", item));
      }
      config.insecure_registries.push_back(Lower(item));
    }
  }
  // The password never comes from a flag or the config file: argv and files are readable by
  // others far more often than the process environment.
  if (!config.registry_password_file.empty()) {
    if (auto r = ReadPasswordFile(sources, config); !r) return r;
  } else if (std::optional<std::string> password = env("MARKET_REGISTRY_PASSWORD")) {
    config.registry_password = *password;
  }
  if (!config.registry_password.empty() && config.registry_user.empty()) {
    return Bad(sources, "registry-user", "a registry password is set but no registry user");
  }

  text("builder", config.builder);
  config.builder = Lower(config.builder);
  if (config.builder == "docker") {
    return Bad(sources, "builder", "docker is not available in this build; use buildah");
  }
  if (config.builder != "buildah") return Bad(sources, "builder", "expected buildah or docker");
  if (auto r = IntSetting(sources, "build-workers", 1, 64, config.build_workers); !r) return r;

  if (const RawValue* raw = sources.Get("workspace")) {
    if (raw->text.empty()) return Bad(sources, "workspace", "is empty");
    config.workspace = raw->text;
  } else {
    config.workspace = DefaultWorkspace(config.database);
  }
  // Build steps run in other working directories (buildah gets the context path), so a
  // relative workspace is fixed against the directory the server was started in.
  config.workspace = std::filesystem::absolute(config.workspace).lexically_normal();
  if (const RawValue* raw = sources.Get("worker-id")) {
    // It names this instance's builds in the database and must survive restarts.
    static const std::regex kWorkerId(R"([A-Za-z0-9._:/@-]{1,100})");
    if (!std::regex_match(raw->text, kWorkerId)) {
      return Bad(sources, "worker-id", "expected 1 to 100 of A-Z a-z 0-9 . _ : / @ -");
    }
    config.worker_id = raw->text;
  }

  text("auth-users-file", config.auth_users_file);
  if (const RawValue* raw = sources.Get("auth")) {
    std::optional<bool> value = ParseBool(raw->text);
    if (!value) return Bad(sources, "auth", "expected on or off");
    config.auth = *value;
  }
  if (!config.auth && !IsLoopbackHost(config.listen_host)) {
    return Bad(sources, "listen",
               fmt::format("{} is not a loopback address and authentication is off; enable it "
                           "with --auth on (or MARKET_AUTH=on) and create the first admin with "
                           "`market-server user add NAME --role admin` (users may also come "
                           "from --auth-users-file FILE), or listen on 127.0.0.1",
                           config.listen_host));
  }
  std::int64_t cache_seconds = config.auth_cache_ttl.count();
  if (auto r = IntSetting(sources, "auth-cache-seconds", 0, 3600, cache_seconds); !r) return r;
  config.auth_cache_ttl = std::chrono::seconds(cache_seconds);
  if (const RawValue* raw = sources.Get("rate-limit")) {
    double value = 0;
    auto [ptr, ec] = std::from_chars(raw->text.data(), raw->text.data() + raw->text.size(), value);
    if (ec != std::errc() || ptr != raw->text.data() + raw->text.size() || raw->text.empty() ||
        !(value >= 0 && value <= 1e6)) {
      return Bad(sources, "rate-limit",
                 fmt::format("'{}' is not a number of requests per second 0..1000000", raw->text));
    }
    config.rate_limit = value;
  }
  if (auto r = IntSetting(sources, "rate-limit-burst", 0, 1'000'000, config.rate_limit_burst); !r) {
    return r;
  }

  if (const RawValue* raw = sources.Get("default-cluster")) {
    Result<std::string> cluster = NormalizeClusterName("default-cluster", raw->text);
    if (!cluster) return Bad(sources, "default-cluster", cluster.error().message);
    config.default_cluster = *cluster;
  }
  if (auto r = IntSetting(sources, "max-body-bytes", 1024, 1LL << 30, config.max_body_bytes); !r) {
    return r;
  }
  if (auto r = IntSetting(sources, "max-connections", 1, 1'000'000, config.max_connections); !r) {
    return r;
  }
  text("log-level", config.log_level);
  config.log_level = Lower(config.log_level);
  static constexpr std::string_view kLevels[] = {"trace", "debug", "info", "warn", "error", "off"};
  if (std::find(std::begin(kLevels), std::end(kLevels), config.log_level) == std::end(kLevels)) {
    return Bad(sources, "log-level", "expected trace, debug, info, warn, error or off");
  }
  text("log-format", config.log_format);
  config.log_format = Lower(config.log_format);
  if (config.log_format != "text" && config.log_format != "json") {
    return Bad(sources, "log-format", "expected text or json");
  }
  if (auto r = IntSetting(sources, "io-threads", 1, 64, config.io_threads); !r) return r;
  if (auto r = IntSetting(sources, "blocking-threads", 1, 256, config.blocking_threads); !r) {
    return r;
  }
  std::int64_t seconds = config.database_timeout.count();
  if (auto r = IntSetting(sources, "database-timeout", 0, 3600, seconds); !r) return r;
  config.database_timeout = std::chrono::seconds(seconds);
  seconds = config.registry_timeout.count();
  if (auto r = IntSetting(sources, "registry-timeout", 1, 3600, seconds); !r) return r;
  config.registry_timeout = std::chrono::seconds(seconds);
  seconds = config.header_timeout.count();
  if (auto r = IntSetting(sources, "header-timeout", 1, 3600, seconds); !r) return r;
  config.header_timeout = std::chrono::seconds(seconds);
  seconds = config.idle_timeout.count();
  if (auto r = IntSetting(sources, "idle-timeout", 1, 86400, seconds); !r) return r;
  config.idle_timeout = std::chrono::seconds(seconds);
  seconds = config.shutdown_grace.count();
  if (auto r = IntSetting(sources, "shutdown-grace", 0, 3600, seconds); !r) return r;
  config.shutdown_grace = std::chrono::seconds(seconds);
  if (auto r = SandboxSettings(sources, config); !r) return r;
  return AdmissionSettings(sources, config);
}

std::string HelpFooter() {
  return "\nEvery flag is also a key of the --config TOML file (registry-user or registry_user)\n"
         "and an environment variable MARKET_<KEY> (MARKET_LISTEN, MARKET_REGISTRY_USER, ...).\n"
         "Flags win over the environment, which wins over the file.\n"
         "The registry password is read only from MARKET_REGISTRY_PASSWORD or\n"
         "--registry-password-file, never from a flag.\n";
}

}  // namespace

std::span<const ConfigKey> ConfigKeys() {
  static const std::vector<ConfigKey> keys = [] {
    std::vector<ConfigKey> out;
    for (const KeySpec& spec : kKeys) out.push_back(ConfigKey{spec.key, spec.help, spec.is_bool});
    return out;
  }();
  return keys;
}

std::string EnvVarName(std::string_view key) { return EnvName(key); }

EnvLookup ProcessEnv() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

bool IsLoopbackHost(std::string_view host) {
  if (host == "localhost") return true;
  boost::system::error_code ec;
  boost::asio::ip::address address = boost::asio::ip::make_address(std::string(host), ec);
  return !ec && address.is_loopback();
}

Result<ConfigOutcome> LoadConfig(std::span<const std::string> args, const EnvLookup& env) {
  for (const std::string& arg : args) {
    if (arg.starts_with("--registry-password") && !arg.starts_with("--registry-password-file")) {
      return Fail(Errc::kInvalid,
                  "--registry-password is not accepted (flags are visible to every user of the "
                  "machine); set MARKET_REGISTRY_PASSWORD or use --registry-password-file");
    }
  }

  CLI::App app{"market-server: the Image Market HTTP service", "market-server"};
  app.set_help_flag("-h,--help", "print this help and exit");
  bool version = false;
  app.add_flag("--version", version, "print the version and exit");
  std::string config_file;
  CLI::Option* config_option =
      app.add_option("--config", config_file, "TOML configuration file (MARKET_CONFIG)");
  std::map<std::string, std::string> flag_text;
  std::map<std::string, bool> flag_bool;
  std::map<std::string, CLI::Option*> options;
  for (const KeySpec& spec : kKeys) {
    std::string name = fmt::format("--{}", spec.key);
    std::string key(spec.key);
    if (spec.is_bool) {
      options[key] = app.add_flag(name, flag_bool[key], std::string(spec.help));
    } else {
      options[key] = app.add_option(name, flag_text[key], std::string(spec.help));
    }
  }
  app.footer(HelpFooter());

  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    return ConfigOutcome{ConfigOutcome::Action::kHelp, app.help(), {}};
  } catch (const CLI::ParseError& e) {
    return Fail(Errc::kInvalid, fmt::format("command line: {} (see --help)", e.what()));
  }
  if (version) {
    return ConfigOutcome{
        ConfigOutcome::Action::kVersion, fmt::format("market-server {}\n", MARKET_VERSION), {}};
  }

  if (config_option->count() == 0) {
    if (std::optional<std::string> from_env = env("MARKET_CONFIG")) config_file = *from_env;
  }
  Sources sources(config_file);
  if (!config_file.empty()) {
    if (auto r = ReadFile(config_file, sources); !r) return std::unexpected(r.error());
  }
  for (const KeySpec& spec : kKeys) {
    if (std::optional<std::string> value = env(EnvName(spec.key))) {
      sources.Set(spec.key, *value, Origin::kEnv);
    }
  }
  for (const KeySpec& spec : kKeys) {
    std::string key(spec.key);
    if (options[key]->count() == 0) continue;
    sources.Set(key, spec.is_bool ? (flag_bool[key] ? "true" : "false") : flag_text[key],
                Origin::kFlag);
  }

  ConfigOutcome outcome;
  outcome.config.config_file = config_file;
  if (auto r = Apply(sources, env, outcome.config); !r) return std::unexpected(r.error());
  return outcome;
}

}  // namespace market::server
