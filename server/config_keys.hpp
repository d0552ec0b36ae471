#pragma once
// Every setting of market-server, once: its key, type, default, range and help. The flag
// (--KEY), the environment variable (MARKET_KEY), the file key (KEY or KEY_WITH_UNDERSCORES),
// the parsing of all three, --help and the check of docs/configuration.md all come from here.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "market/error.hpp"

namespace market::server {

struct ServerConfig;

enum class KeyType {
  kString,
  kBool,      // --KEY alone is true
  kInteger,   // within [min, max]
  kNumber,    // a decimal number within [min, max]
  kBytes,     // N, Nk, Nm or Ng within [min, max]
  kDuration,  // seconds: N, Ns, Nm, Nh or Nd within [min, max]
  kList,      // comma-separated items (a TOML array of strings in the file)
  kEnum,      // one of `choices`, in any case
};

// Checks one value (each item of a list) beyond its type; returns it normalized, or kInvalid
// with why it is wrong.
using ValueCheck = Result<std::string> (*)(std::string_view value);
// For a key whose value fills more than one field (listen: host and port).
using ValueSetter = void (*)(ServerConfig& config, const std::string& value);

// Where a key's value goes in ServerConfig.
using ConfigField =
    std::variant<std::string ServerConfig::*, bool ServerConfig::*, int ServerConfig::*,
                 std::int64_t ServerConfig::*, double ServerConfig::*,
                 std::chrono::seconds ServerConfig::*, std::vector<std::string> ServerConfig::*,
                 std::filesystem::path ServerConfig::*, ValueSetter>;

struct ConfigKey {
  std::string_view key{};
  KeyType type = KeyType::kString;
  // As documented and as parsed at start-up; empty: none (or worked out from other keys).
  std::string_view default_value{};
  std::int64_t min = 0;  // integer, number, bytes, duration
  std::int64_t max = 0;
  bool zero_disables = false;  // 0 is accepted below min and means "no limit"
  std::vector<std::string_view> choices{};  // enum
  std::string_view value_name{};  // in --help: --listen HOST:PORT
  std::string_view help{};
  ConfigField field{};
  ValueCheck check = nullptr;

  std::string Flag() const;          // "--registry-user"
  std::string EnvVar() const;        // "MARKET_REGISTRY_USER"
  std::string RangeText() const;     // "1..64", "64k..4g", "0 or 16m..4096g"; empty: none
  std::string TypeText() const;      // "integer", "bytes", "`oci` or `chroot`", ...
  std::string ChoicesText() const;   // "oci or chroot"
};

std::span<const ConfigKey> ConfigKeys();
const ConfigKey* FindConfigKey(std::string_view key);
std::string EnvVarName(std::string_view key);  // "registry-user" -> "MARKET_REGISTRY_USER"

}  // namespace market::server
