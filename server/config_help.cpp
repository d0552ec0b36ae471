#include "config_help.hpp"

#include <fmt/format.h>

#include "config_keys.hpp"

namespace market::server {

namespace {

std::string ValueName(const ConfigKey& spec) {
  if (!spec.value_name.empty()) return std::string(spec.value_name);
  switch (spec.type) {
    case KeyType::kBool:
      return "[on|off]";
    case KeyType::kInteger:
    case KeyType::kNumber:
      return "N";
    case KeyType::kBytes:
      return "BYTES";
    case KeyType::kDuration:
      return "SECONDS";
    case KeyType::kList:
      return "A,B,...";
    case KeyType::kEnum: {
      std::string out;
      for (std::string_view choice : spec.choices) out += (out.empty() ? "" : "|") + std::string(choice);
      return out;
    }
    case KeyType::kString:
      break;
  }
  return "TEXT";
}

// "builds run at once; integer 1..64; default 2; MARKET_BUILD_WORKERS"
std::string Describe(const ConfigKey& spec) {
  std::string text(spec.help);
  if (spec.type == KeyType::kBytes || spec.type == KeyType::kDuration ||
      spec.type == KeyType::kNumber || spec.type == KeyType::kInteger) {
    text += fmt::format("; {} {}", spec.TypeText(), spec.RangeText());
  } else if (spec.type == KeyType::kEnum) {
    text += fmt::format("; {}", spec.ChoicesText());
  }
  if (!spec.default_value.empty()) text += fmt::format("; default {}", spec.default_value);
  return text + "; " + spec.EnvVar();
}

}  // namespace

std::string ServerHelpText() {
  std::string text =
      "market-server: the Image Market HTTP service\n"
      "\n"
      "Usage:\n"
      "  market-server [--KEY VALUE ...]      serve with the settings below\n"
      "  market-server user add|list|delete|password|role ...\n"
      "                                       manage users (market-server user --help)\n"
      "  market-server token create|list|revoke ...\n"
      "                                       manage API tokens (market-server token --help)\n"
      "  market-server doctor [--KEY VALUE ...]\n"
      "                                       check that this host can run the build sandbox\n"
      "  market-server --hash-password        read a password from standard input (its first\n"
      "                                       line) and print its hash for auth-users-file\n"
      "\n"
      "`user add` and `user password` read the password from standard input: typed twice\n"
      "(without echo) at a terminal, else the first line of what is piped in; empty is refused.\n"
      "\n"
      "Options:\n"
      "  -h, --help\n      print this help and exit\n"
      "  --version\n      print the version and exit\n"
      "  --config FILE\n      TOML configuration file; MARKET_CONFIG\n";
  for (const ConfigKey& spec : ConfigKeys()) {
    text += fmt::format("  {} {}\n      {}\n", spec.Flag(), ValueName(spec), Describe(spec));
  }
  text +=
      "\nEvery flag is also a key of the --config TOML file (registry-user or registry_user)\n"
      "and an environment variable MARKET_<KEY> (MARKET_LISTEN, MARKET_REGISTRY_USER, ...).\n"
      "Flags win over the environment, which wins over the file. Booleans are true, false,\n"
      "yes, no, on, off, 1 or 0; a boolean flag alone is true. Bytes are N, Nk, Nm or Ng;\n"
      "seconds N, or Ns, Nm, Nh, Nd.\n"
      "The registry password is read only from MARKET_REGISTRY_PASSWORD or\n"
      "--registry-password-file, never from a flag.\n";
  return text;
}

}  // namespace market::server
