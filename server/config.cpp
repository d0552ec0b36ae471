#include "config.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

#include "config_help.hpp"
#include "config_values.hpp"

#ifndef MARKET_VERSION
#define MARKET_VERSION "0.0.0"
#endif

namespace market::server {

namespace {

// A key's text and where it came from, in the spelling the user wrote: "--log-level",
// "MARKET_LOG_LEVEL" or "log_level in /etc/market.toml".
struct RawValue {
  std::string text;
  std::string where;
};

class Sources {
 public:
  void Set(std::string_view key, std::string text, std::string where) {
    values_[std::string(key)] = RawValue{std::move(text), std::move(where)};
  }
  const RawValue* Get(std::string_view key) const {
    auto it = values_.find(std::string(key));
    return it == values_.end() ? nullptr : &it->second;
  }
  std::string Describe(std::string_view key) const {
    const RawValue* value = Get(key);
    return value == nullptr ? std::string(key) : value->where;
  }

 private:
  std::map<std::string, RawValue> values_;
};

std::unexpected<Error> Bad(const Sources& sources, std::string_view key, std::string_view why) {
  return Fail(Errc::kInvalid, fmt::format("invalid {}: {}", sources.Describe(key), why));
}

// A TOML value as the text a flag would carry; nullopt for a type the key cannot take.
std::optional<std::string> FileValueText(const ConfigKey& spec, const toml::node& node) {
  if (node.is_string()) return *node.value<std::string>();
  if (node.is_integer()) return std::to_string(*node.value<std::int64_t>());
  if (node.is_floating_point() && spec.type == KeyType::kNumber) {
    return fmt::format("{}", *node.value<double>());
  }
  if (node.is_boolean()) return *node.value<bool>() ? "true" : "false";
  if (const toml::array* items = node.as_array(); items != nullptr && spec.type == KeyType::kList) {
    std::string joined;
    for (const toml::node& item : *items) {
      if (!item.is_string()) return std::nullopt;
      joined += (joined.empty() ? "" : ",") + *item.value<std::string>();
    }
    return joined;
  }
  return std::nullopt;
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
    std::string written(name.str());
    std::string key = written;
    std::replace(key.begin(), key.end(), '_', '-');  // registry_user and registry-user alike
    if (key == "config") {
      return Fail(Errc::kInvalid, fmt::format("config file {}: key {} cannot nest", path, written));
    }
    if (key == "registry-password") {
      return Fail(Errc::kInvalid,
                  fmt::format("config file {}: {} is not read from files; use "
                              "registry-password-file or MARKET_REGISTRY_PASSWORD",
                              path, written));
    }
    const ConfigKey* spec = FindConfigKey(key);
    if (spec == nullptr) {
      return Fail(Errc::kInvalid, fmt::format("config file {}: unknown key {}", path, written));
    }
    std::optional<std::string> text = FileValueText(*spec, node);
    if (!text) {
      return Fail(Errc::kInvalid,
                  fmt::format("config file {}: {} must be {}", path, written,
                              spec->type == KeyType::kList
                                  ? "a string, integer, boolean or array of strings"
                                  : spec->type == KeyType::kNumber
                                        ? "a string, integer, float or boolean"
                                        : "a string, integer or boolean"));
    }
    sources.Set(key, std::move(*text), fmt::format("{} in {}", written, path));
  }
  return {};
}

// What the command line asked for: help, the version, a configuration file and key values.
struct CommandLine {
  bool help = false;
  bool version = false;
  std::optional<std::string> config_file;
};

Result<CommandLine> ParseCommandLine(std::span<const std::string> args, Sources& flags) {
  CommandLine line;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "-h" || arg == "--help") {
      line.help = true;
      continue;
    }
    if (arg == "--version") {
      line.version = true;
      continue;
    }
    if (!arg.starts_with("--") || arg.size() == 2) {
      return Fail(Errc::kInvalid,
                  fmt::format("command line: unexpected argument '{}' (see --help)", arg));
    }
    std::size_t equals = arg.find('=');
    std::string name = arg.substr(2, equals == std::string::npos ? std::string::npos : equals - 2);
    std::optional<std::string> value;
    if (equals != std::string::npos) value = arg.substr(equals + 1);
    const ConfigKey* spec = FindConfigKey(name);
    if (spec == nullptr && name != "config") {
      return Fail(Errc::kInvalid,
                  fmt::format("command line: unknown flag --{} (see --help)", name));
    }
    if (!value && spec != nullptr && spec->type == KeyType::kBool) {
      // --auth on and --registry-insecure alike: the next argument is the value when it is one.
      if (i + 1 < args.size() && ParseBool(args[i + 1])) {
        value = args[++i];
      } else {
        value = "true";
      }
    }
    if (!value) {
      if (i + 1 >= args.size()) {
        return Fail(Errc::kInvalid,
                    fmt::format("command line: --{} needs a value (see --help)", name));
      }
      value = args[++i];
    }
    if (spec == nullptr) {
      line.config_file = *value;
    } else {
      flags.Set(name, std::move(*value), "--" + name);
    }
  }
  return line;
}

using Value = std::variant<std::string, bool, std::int64_t, double, std::vector<std::string>>;

// The key's text as its type and check make it; the error says why it is refused.
Result<Value> ParseValue(const ConfigKey& spec, const std::string& text) {
  auto checked = [&](std::string_view item) -> Result<std::string> {
    return spec.check != nullptr ? spec.check(item) : Result<std::string>(std::string(item));
  };
  auto in_range = [&](auto value, const std::string& shown) -> Result<Value> {
    if ((value == 0 && spec.zero_disables) || (value >= spec.min && value <= spec.max)) {
      return Value(value);
    }
    return Fail(Errc::kInvalid, fmt::format("{} is outside {}", shown, spec.RangeText()));
  };
  switch (spec.type) {
    case KeyType::kString: {
      Result<std::string> value = checked(text);
      if (!value) return std::unexpected(value.error());
      return Value(std::move(*value));
    }
    case KeyType::kBool:
      if (std::optional<bool> value = ParseBool(text)) return Value(*value);
      return Fail(Errc::kInvalid, fmt::format("'{}' is not a boolean: expected {}", text,
                                              kBoolWords));
    case KeyType::kInteger:
      if (std::optional<std::int64_t> value = ParseInteger(text)) {
        return in_range(*value, std::to_string(*value));
      }
      return Fail(Errc::kInvalid, fmt::format("'{}' is not an integer", text));
    case KeyType::kNumber:
      if (std::optional<double> value = ParseNumber(text)) return in_range(*value, text);
      return Fail(Errc::kInvalid, fmt::format("'{}' is not a number", text));
    case KeyType::kBytes:
      if (std::optional<std::int64_t> value = ParseBytes(text)) return in_range(*value, text);
      return Fail(Errc::kInvalid, fmt::format("'{}' is not N, Nk, Nm or Ng bytes", text));
    case KeyType::kDuration:
      if (std::optional<std::int64_t> value = ParseDurationSeconds(text)) {
        return in_range(*value, fmt::format("{} s", *value));
      }
      return Fail(Errc::kInvalid,
                  fmt::format("'{}' is not seconds (N, or Ns, Nm, Nh, Nd)", text));
    case KeyType::kList: {
      std::vector<std::string> items;
      for (const std::string& item : SplitList(text)) {
        Result<std::string> value = checked(item);
        if (!value) return std::unexpected(value.error());
        items.push_back(std::move(*value));
      }
      return Value(std::move(items));
    }
    case KeyType::kEnum: {
      Result<std::string> value = checked(Lower(text));
      if (!value) return std::unexpected(value.error());
      if (std::find(spec.choices.begin(), spec.choices.end(), *value) == spec.choices.end()) {
        return Fail(Errc::kInvalid, fmt::format("expected {}", spec.ChoicesText()));
      }
      return Value(std::move(*value));
    }
  }
  return Fail(Errc::kInternal, "unknown key type");
}

std::string Joined(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : ",") + item;
  return out;
}

// Stores a parsed value in the field the table names for it.
void Assign(const ConfigField& field, const Value& value, ServerConfig& config) {
  struct Visitor {
    const Value& value;
    ServerConfig& config;
    void operator()(std::string ServerConfig::*f) const {
      const auto* list = std::get_if<std::vector<std::string>>(&value);
      config.*f = list != nullptr ? Joined(*list) : std::get<std::string>(value);
    }
    void operator()(bool ServerConfig::*f) const { config.*f = std::get<bool>(value); }
    void operator()(int ServerConfig::*f) const {
      config.*f = static_cast<int>(std::get<std::int64_t>(value));
    }
    void operator()(std::int64_t ServerConfig::*f) const {
      config.*f = std::get<std::int64_t>(value);
    }
    void operator()(double ServerConfig::*f) const { config.*f = std::get<double>(value); }
    void operator()(std::chrono::seconds ServerConfig::*f) const {
      config.*f = std::chrono::seconds(std::get<std::int64_t>(value));
    }
    void operator()(std::vector<std::string> ServerConfig::*f) const {
      config.*f = std::get<std::vector<std::string>>(value);
    }
    void operator()(std::filesystem::path ServerConfig::*f) const {
      config.*f = std::get<std::string>(value);
    }
    void operator()(ValueSetter set) const { set(config, std::get<std::string>(value)); }
  };
  std::visit(Visitor{value, config}, field);
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

// The rules between keys, checked once every key has its value: like the keys' own checks,
// before the server opens anything.
Result<void> CheckTogether(const Sources& sources, const EnvLookup& env, ServerConfig& config) {
  if (config.registry_url.starts_with("http://") && !config.registry_insecure) {
    return Bad(sources, "registry",
               "a plain-http registry needs registry-insecure (--registry-insecure, "
               "MARKET_REGISTRY_INSECURE=true or registry-insecure = true in the file)");
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

  if (config.workspace.empty()) config.workspace = DefaultWorkspace(config.database);
  // Build steps run in other working directories (buildah gets the context path), so a
  // relative workspace is fixed against the directory the server was started in.
  config.workspace = std::filesystem::absolute(config.workspace).lexically_normal();

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

  if (!config.auth && !IsLoopbackHost(config.listen_host)) {
    return Bad(sources, "listen",
               fmt::format("{} is not a loopback address and authentication is off; enable it "
                           "with --auth on (or MARKET_AUTH=on) and create the first admin with "
                           "`market-server user add NAME --role admin` (users may also come "
                           "from --auth-users-file FILE), or listen on 127.0.0.1",
                           config.listen_host));
  }
  return {};
}

}  // namespace

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

  Sources flags;
  Result<CommandLine> line = ParseCommandLine(args, flags);
  if (!line) return std::unexpected(line.error());
  if (line->help) return ConfigOutcome{ConfigOutcome::Action::kHelp, ServerHelpText(), {}};
  if (line->version) {
    return ConfigOutcome{
        ConfigOutcome::Action::kVersion, fmt::format("market-server {}\n", MARKET_VERSION), {}};
  }

  std::string config_file = line->config_file.value_or("");
  if (!line->config_file) {
    if (std::optional<std::string> from_env = env("MARKET_CONFIG")) config_file = *from_env;
  }
  // Later sources overwrite earlier ones: the file, then the environment, then flags.
  Sources sources;
  if (!config_file.empty()) {
    MARKET_RETURN_IF_ERROR(ReadFile(config_file, sources));
  }
  for (const ConfigKey& spec : ConfigKeys()) {
    std::string name = spec.EnvVar();
    if (std::optional<std::string> value = env(name)) sources.Set(spec.key, *value, name);
  }
  for (const ConfigKey& spec : ConfigKeys()) {
    if (const RawValue* raw = flags.Get(spec.key)) sources.Set(spec.key, raw->text, raw->where);
  }

  ConfigOutcome outcome;
  ServerConfig& config = outcome.config;
  config.config_file = config_file;
  for (const ConfigKey& spec : ConfigKeys()) {
    const RawValue* raw = sources.Get(spec.key);
    if (raw == nullptr && spec.default_value.empty()) continue;
    Result<Value> value = ParseValue(spec, raw != nullptr ? raw->text
                                                          : std::string(spec.default_value));
    if (!value) return Bad(sources, spec.key, value.error().message);
    Assign(spec.field, *value, config);
  }
  MARKET_RETURN_IF_ERROR(CheckTogether(sources, env, config));
  return outcome;
}

}  // namespace market::server
