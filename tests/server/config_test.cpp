// Configuration: precedence (flag > environment > file), defaults, and messages naming the key.

#include <catch2/catch.hpp>

#include <fstream>
#include <map>

#include "config.hpp"
#include "support/test_env.hpp"

namespace market::server {
namespace {

EnvLookup FakeEnv(std::map<std::string, std::string> values) {
  return [values = std::move(values)](std::string_view name) -> std::optional<std::string> {
    auto it = values.find(std::string(name));
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

std::string WriteFile(const market::testing::TempDir& dir, const std::string& name,
                      const std::string& text) {
  std::string path = (dir.path() / name).string();
  std::ofstream(path) << text;
  return path;
}

Result<ConfigOutcome> Load(std::vector<std::string> args,
                           std::map<std::string, std::string> env = {}) {
  return LoadConfig(args, FakeEnv(std::move(env)));
}

}  // namespace

TEST_CASE("defaults are the documented ones", "[config]") {
  auto outcome = Load({});
  REQUIRE(outcome);
  const ServerConfig& c = outcome->config;
  CHECK(outcome->action == ConfigOutcome::Action::kRun);
  CHECK(c.listen_host == "127.0.0.1");
  CHECK(c.listen_port == 8080);
  CHECK(c.database == "sqlite:market.db");
  CHECK(c.registry_url.empty());
  CHECK(c.registry_kind == "distribution");
  CHECK(c.builder == "buildah");
  CHECK(c.build_workers == 2);
  // Relative paths are made absolute: build steps run in other working directories.
  CHECK(c.workspace == std::filesystem::current_path() / "market-workspace");
  CHECK_FALSE(c.auth);
  CHECK(c.default_cluster == "default_cluster");
  CHECK(c.max_body_bytes == 1048576);
  CHECK(c.max_connections >= 1024);
  CHECK(c.log_level == "info");
}

TEST_CASE("the workspace defaults to a folder beside the SQLite database", "[config]") {
  auto outcome = Load({"--database", "sqlite:/var/lib/market/prod.db"});
  REQUIRE(outcome);
  CHECK(outcome->config.workspace == std::filesystem::path("/var/lib/market/prod-workspace"));
}

TEST_CASE("flags win over the environment, which wins over the file", "[config]") {
  market::testing::TempDir dir;
  std::string file = WriteFile(dir, "market.toml",
                               "listen = \"127.0.0.1:1111\"\n"
                               "build-workers = 5\n"
                               "registry_user = \"from-file\"\n"
                               "default-cluster = \"filecluster\"\n"
                               "max-body-bytes = 4096\n");
  auto outcome = Load({"--config", file, "--listen", "127.0.0.1:3333"},
                      {{"MARKET_LISTEN", "127.0.0.1:2222"},
                       {"MARKET_BUILD_WORKERS", "7"},
                       {"MARKET_REGISTRY_USER", "from-env"}});
  REQUIRE(outcome);
  const ServerConfig& c = outcome->config;
  CHECK(c.listen_port == 3333);              // flag over env and file
  CHECK(c.build_workers == 7);               // env over file
  CHECK(c.registry_user == "from-env");      // env over file (underscore key accepted)
  CHECK(c.default_cluster == "filecluster");  // file over default
  CHECK(c.max_body_bytes == 4096);
}

TEST_CASE("MARKET_CONFIG names the file when --config is absent", "[config]") {
  market::testing::TempDir dir;
  std::string file = WriteFile(dir, "m.toml", "log-level = \"debug\"\n");
  auto outcome = Load({}, {{"MARKET_CONFIG", file}});
  REQUIRE(outcome);
  CHECK(outcome->config.log_level == "debug");
  CHECK(outcome->config.config_file == file);
}

TEST_CASE("a bad value stops with a message naming the key and its source", "[config]") {
  SECTION("flag") {
    auto outcome = Load({"--build-workers", "abc"});
    REQUIRE_FALSE(outcome);
    CHECK(outcome.error().code == Errc::kInvalid);
    CHECK_THAT(outcome.error().message, Catch::Contains("--build-workers"));
  }
  SECTION("environment") {
    auto outcome = Load({}, {{"MARKET_MAX_CONNECTIONS", "0"}});
    REQUIRE_FALSE(outcome);
    CHECK_THAT(outcome.error().message, Catch::Contains("MARKET_MAX_CONNECTIONS"));
  }
  SECTION("file") {
    market::testing::TempDir dir;
    std::string file = WriteFile(dir, "m.toml", "registry-kind = \"quay\"\n");
    auto outcome = Load({"--config", file});
    REQUIRE_FALSE(outcome);
    CHECK_THAT(outcome.error().message, Catch::Contains("registry-kind in " + file));
  }
  SECTION("unknown file key") {
    market::testing::TempDir dir;
    std::string file = WriteFile(dir, "m.toml", "lisen = \"127.0.0.1:1\"\n");
    auto outcome = Load({"--config", file});
    REQUIRE_FALSE(outcome);
    CHECK_THAT(outcome.error().message, Catch::Contains("unknown key lisen"));
  }
  SECTION("malformed TOML") {
    market::testing::TempDir dir;
    std::string file = WriteFile(dir, "m.toml", "listen = \n");
    auto outcome = Load({"--config", file});
    REQUIRE_FALSE(outcome);
    CHECK_THAT(outcome.error().message, Catch::Contains(file));
  }
  SECTION("listen") {
    auto outcome = Load({"--listen", "nohost"});
    REQUIRE_FALSE(outcome);
    CHECK_THAT(outcome.error().message, Catch::Contains("--listen"));
  }
  SECTION("database") {
    auto outcome = Load({"--database", "mysql://x"});
    REQUIRE_FALSE(outcome);
    CHECK_THAT(outcome.error().message, Catch::Contains("--database"));
  }
  SECTION("unknown flag") {
    auto outcome = Load({"--no-such-flag"});
    REQUIRE_FALSE(outcome);
    CHECK_THAT(outcome.error().message, Catch::Contains("--no-such-flag"));
  }
}

TEST_CASE("the registry password never comes from a flag or the file", "[config]") {
  SECTION("flag refused") {
    auto outcome = Load({"--registry-password", "hunter2"});
    REQUIRE_FALSE(outcome);
    CHECK_THAT(outcome.error().message, Catch::Contains("MARKET_REGISTRY_PASSWORD"));
    CHECK_THAT(outcome.error().message, !Catch::Contains("hunter2"));
  }
  SECTION("file key refused") {
    market::testing::TempDir dir;
    std::string file = WriteFile(dir, "m.toml", "registry-password = \"hunter2\"\n");
    auto outcome = Load({"--config", file});
    REQUIRE_FALSE(outcome);
    CHECK_THAT(outcome.error().message, !Catch::Contains("hunter2"));
  }
  SECTION("environment") {
    auto outcome = Load({"--registry-user", "admin"}, {{"MARKET_REGISTRY_PASSWORD", "s3cret"}});
    REQUIRE(outcome);
    CHECK(outcome->config.registry_password == "s3cret");
  }
  SECTION("password file wins over the environment") {
    market::testing::TempDir dir;
    std::string file = WriteFile(dir, "pw", "from-file\n");
    auto outcome = Load({"--registry-user", "admin", "--registry-password-file", file},
                        {{"MARKET_REGISTRY_PASSWORD", "from-env"}});
    REQUIRE(outcome);
    CHECK(outcome->config.registry_password == "from-file");
  }
}

TEST_CASE("a non-loopback listener needs authentication", "[config]") {
  auto refused = Load({"--listen", "0.0.0.0:8080"});
  REQUIRE_FALSE(refused);
  CHECK_THAT(refused.error().message, Catch::Contains("--auth on"));

  CHECK_THAT(refused.error().message, Catch::Contains("market-server user add"));

  // Users live in the database; a users file is optional.
  auto database_users = Load({"--listen", "0.0.0.0:8080", "--auth", "on"});
  REQUIRE(database_users);
  CHECK(database_users->config.auth);
  CHECK(database_users->config.auth_users_file.empty());

  auto ok = Load({"--listen", "0.0.0.0:8080", "--auth", "on", "--auth-users-file", "/x"});
  REQUIRE(ok);
  CHECK(ok->config.auth);

  CHECK(IsLoopbackHost("127.0.0.1"));
  CHECK(IsLoopbackHost("::1"));
  CHECK_FALSE(IsLoopbackHost("0.0.0.0"));
  CHECK_FALSE(IsLoopbackHost("10.1.2.3"));
}

TEST_CASE("rate limit and credential cache settings", "[config]") {
  auto defaults = Load({});
  REQUIRE(defaults);
  CHECK(defaults->config.rate_limit == 0);
  CHECK(defaults->config.auth_cache_ttl == std::chrono::seconds(10));

  auto set = Load({"--rate-limit", "2.5", "--rate-limit-burst", "7"},
                  {{"MARKET_AUTH_CACHE_SECONDS", "3"}});
  REQUIRE(set);
  CHECK(set->config.rate_limit == 2.5);
  CHECK(set->config.rate_limit_burst == 7);
  CHECK(set->config.auth_cache_ttl == std::chrono::seconds(3));

  auto bad = Load({"--rate-limit", "fast"});
  REQUIRE_FALSE(bad);
  CHECK_THAT(bad.error().message, Catch::Contains("--rate-limit"));
  auto negative = Load({"--rate-limit", "-1"});
  REQUIRE_FALSE(negative);
}

TEST_CASE("worker id and registry timeout settings", "[config]") {
  auto defaults = Load({});
  REQUIRE(defaults);
  CHECK(defaults->config.worker_id.empty());  // the server derives one from host and listener
  CHECK(defaults->config.registry_timeout == std::chrono::seconds(30));

  auto set = Load({"--worker-id", "node-a/1"}, {{"MARKET_REGISTRY_TIMEOUT", "4"}});
  REQUIRE(set);
  CHECK(set->config.worker_id == "node-a/1");
  CHECK(set->config.registry_timeout == std::chrono::seconds(4));

  for (const char* bad : {"", "has space", "new\nline"}) {
    auto outcome = Load({"--worker-id", bad});
    REQUIRE_FALSE(outcome);
    CHECK_THAT(outcome.error().message, Catch::Contains("--worker-id"));
  }
  auto zero = Load({"--registry-timeout", "0"});
  REQUIRE_FALSE(zero);
  CHECK_THAT(zero.error().message, Catch::Contains("--registry-timeout"));
}

TEST_CASE("the docker builder is refused clearly", "[config]") {
  auto outcome = Load({"--builder", "docker"});
  REQUIRE_FALSE(outcome);
  CHECK_THAT(outcome.error().message, Catch::Contains("not available in this build"));
}

TEST_CASE("the help and version flags", "[config]") {
  auto help = Load({"--help"});
  REQUIRE(help);
  CHECK(help->action == ConfigOutcome::Action::kHelp);
  CHECK_THAT(help->text, Catch::Contains("--registry-kind"));
  CHECK_THAT(help->text, Catch::Contains("MARKET_"));
  auto version = Load({"--version"});
  REQUIRE(version);
  CHECK(version->action == ConfigOutcome::Action::kVersion);
  CHECK_THAT(version->text, Catch::StartsWith("market-server "));
}

TEST_CASE("a boolean flag and a boolean file value", "[config]") {
  auto flag = Load({"--registry-insecure"});
  REQUIRE(flag);
  CHECK(flag->config.registry_insecure);
  market::testing::TempDir dir;
  std::string file = WriteFile(dir, "m.toml", "registry-insecure = true\n");
  auto from_file = Load({"--config", file});
  REQUIRE(from_file);
  CHECK(from_file->config.registry_insecure);
}

TEST_CASE("the table's defaults are the ones ServerConfig starts with", "[config]") {
  auto loaded = Load({});
  REQUIRE(loaded);
  ServerConfig expected;
  expected.workspace = loaded->config.workspace;  // worked out from the database
  CHECK(loaded->config == expected);
  for (const ConfigKey& key : ConfigKeys()) {
    INFO("key " << key.key);
    CHECK(FindConfigKey(key.key) == &key);
    if (key.default_value.empty()) continue;
    // The default, given explicitly, changes nothing.
    auto explicit_default = Load({key.Flag(), std::string(key.default_value)});
    REQUIRE(explicit_default);
    CHECK(explicit_default->config == loaded->config);
  }
}

TEST_CASE("an error names the key as written in the file, the flag or the variable",
          "[config]") {
  market::testing::TempDir dir;
  std::string underscores = WriteFile(dir, "u.toml", "log_level = \"loud\"\n");
  auto from_file = Load({"--config", underscores});
  REQUIRE_FALSE(from_file);
  CHECK_THAT(from_file.error().message,
             Catch::StartsWith("invalid log_level in " + underscores + ": "));
  CHECK_THAT(from_file.error().message, !Catch::Contains("log-level"));

  std::string dashes = WriteFile(dir, "d.toml", "max-body-bytes = 12\n");
  auto dashed = Load({"--config", dashes});
  REQUIRE_FALSE(dashed);
  CHECK_THAT(dashed.error().message, Catch::StartsWith("invalid max-body-bytes in " + dashes));

  std::string wrong_type = WriteFile(dir, "t.toml", "build_workers = 1.5\n");
  auto typed = Load({"--config", wrong_type});
  REQUIRE_FALSE(typed);
  CHECK_THAT(typed.error().message, Catch::Contains("build_workers must be"));

  auto from_env = Load({}, {{"MARKET_LOG_LEVEL", "loud"}});
  REQUIRE_FALSE(from_env);
  CHECK_THAT(from_env.error().message, Catch::StartsWith("invalid MARKET_LOG_LEVEL: "));
  auto from_flag = Load({"--log-level=loud"});
  REQUIRE_FALSE(from_flag);
  CHECK_THAT(from_flag.error().message, Catch::StartsWith("invalid --log-level: "));
}

TEST_CASE("a plain-http registry needs registry-insecure", "[config]") {
  auto refused = Load({"--registry", "http://127.0.0.1:5000"});
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::kInvalid);
  CHECK_THAT(refused.error().message, Catch::StartsWith("invalid --registry: "));
  CHECK_THAT(refused.error().message, Catch::Contains("registry-insecure"));

  auto from_env = Load({}, {{"MARKET_REGISTRY", "http://127.0.0.1:5000"}});
  REQUIRE_FALSE(from_env);
  CHECK_THAT(from_env.error().message, Catch::Contains("MARKET_REGISTRY"));

  auto insecure = Load({"--registry", "http://127.0.0.1:5000", "--registry-insecure"});
  REQUIRE(insecure);
  CHECK(insecure->config.registry_insecure);
  auto insecure_env = Load({"--registry", "http://127.0.0.1:5000"},
                           {{"MARKET_REGISTRY_INSECURE", "yes"}});
  REQUIRE(insecure_env);
  auto tls = Load({"--registry", "https://harbor.example.com"});
  REQUIRE(tls);
  CHECK_FALSE(tls->config.registry_insecure);
}

TEST_CASE("every boolean takes every documented spelling", "[config]") {
  const std::vector<std::pair<std::string, bool>> spellings = {
      {"true", true}, {"false", false}, {"yes", true}, {"no", false}, {"on", true},
      {"off", false}, {"1", true},      {"0", false},  {"YES", true}, {"Off", false}};
  // ssh-sources on needs a known_hosts file.
  market::testing::TempDir dir;
  std::string known_hosts = WriteFile(dir, "known_hosts", "");
  auto load = [&](std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
    args.insert(args.begin(), {"--ssh-known-hosts-file", known_hosts});
    return Load(std::move(args), std::move(env));
  };
  int booleans = 0;
  for (const ConfigKey& key : ConfigKeys()) {
    if (key.type != KeyType::kBool) continue;
    ++booleans;
    INFO("key " << key.key);
    for (const auto& [text, expected] : spellings) {
      auto env = load({}, {{key.EnvVar(), text}});
      REQUIRE(env);
      auto flag = load({key.Flag(), text});
      REQUIRE(flag);
      auto joined = load({key.Flag() + "=" + text});
      REQUIRE(joined);
      CHECK(env->config == flag->config);
      CHECK(env->config == joined->config);
    }
    // The flag alone means true (whatever the default is).
    auto alone = load({key.Flag()});
    REQUIRE(alone);
    CHECK(alone->config == load({key.Flag() + "=true"})->config);
    CHECK_FALSE(alone->config == load({key.Flag() + "=false"})->config);
    auto bad = Load({}, {{key.EnvVar(), "maybe"}});
    REQUIRE_FALSE(bad);
    CHECK_THAT(bad.error().message, Catch::Contains(key.EnvVar()));
    CHECK_THAT(bad.error().message, Catch::Contains("'maybe' is not a boolean"));
    for (const char* word : {"true", "false", "yes", "no", "on", "off", "1", "0"}) {
      CHECK_THAT(bad.error().message, Catch::Contains(word));
    }
    CHECK_THAT(bad.error().message, !Catch::Contains("expected true or false"));
  }
  CHECK(booleans >= 3);
  auto on = Load({"--registry-insecure", "no", "--auth", "on"});
  REQUIRE(on);
  CHECK_FALSE(on->config.registry_insecure);
  CHECK(on->config.auth);
}

TEST_CASE("bytes, seconds, lists and ranges as the table types them", "[config]") {
  auto set = Load({"--max-body-bytes", "4k", "--build-log-bytes", "64K", "--build-memory", "0",
                   "--header-timeout", "2m", "--idle-timeout", "1h", "--allowed-clusters",
                   "a, b"});
  REQUIRE(set);
  CHECK(set->config.max_body_bytes == 4096);
  CHECK(set->config.build_log_bytes == 65536);
  CHECK(set->config.build_memory_bytes == 0);
  CHECK(set->config.header_timeout == std::chrono::seconds(120));
  CHECK(set->config.idle_timeout == std::chrono::seconds(3600));
  CHECK(set->config.allowed_clusters == std::vector<std::string>{"a", "b"});

  market::testing::TempDir dir;
  std::string file = WriteFile(dir, "m.toml",
                               "allowed-origins = [\"https://a.example.com\", "
                               "\"https://B.example.com\"]\nrate-limit = 2.5\n");
  auto from_file = Load({"--config", file});
  REQUIRE(from_file);
  CHECK(from_file->config.allowed_origins ==
        std::vector<std::string>{"https://a.example.com", "https://b.example.com"});
  CHECK(from_file->config.rate_limit == 2.5);

  auto small = Load({"--build-memory", "1m"});
  REQUIRE_FALSE(small);
  CHECK_THAT(small.error().message, Catch::Contains("outside 0 or 16m..4096g"));
  auto large = Load({"--max-body-bytes", "2g"});
  REQUIRE_FALSE(large);
  CHECK_THAT(large.error().message, Catch::Contains("outside 1k..1g"));
  auto long_wait = Load({"--header-timeout", "2h"});
  REQUIRE_FALSE(long_wait);
  CHECK_THAT(long_wait.error().message, Catch::Contains("outside 1..3600"));
  auto not_bytes = Load({"--max-body-bytes", "12q"});
  REQUIRE_FALSE(not_bytes);
  CHECK_THAT(not_bytes.error().message, Catch::Contains("--max-body-bytes"));
  auto missing = Load({"--listen"});
  REQUIRE_FALSE(missing);
  CHECK_THAT(missing.error().message, Catch::Contains("--listen needs a value"));
  auto stray = Load({"serve"});
  REQUIRE_FALSE(stray);
  CHECK_THAT(stray.error().message, Catch::Contains("'serve'"));
}

TEST_CASE("--help tells the truth: every key, the commands, no docker", "[config]") {
  auto help = Load({"--help"});
  REQUIRE(help);
  for (const ConfigKey& key : ConfigKeys()) {
    INFO("key " << key.key);
    CHECK_THAT(help->text, Catch::Contains("  " + key.Flag() + " "));
    CHECK_THAT(help->text, Catch::Contains(key.EnvVar()));
    if (!key.RangeText().empty()) CHECK_THAT(help->text, Catch::Contains(key.RangeText()));
  }
  CHECK_THAT(help->text, Catch::Contains("market-server user add"));
  CHECK_THAT(help->text, Catch::Contains("market-server token create"));
  CHECK_THAT(help->text, Catch::Contains("market-server doctor"));
  CHECK_THAT(help->text, Catch::Contains("market-server --hash-password"));
  CHECK_THAT(help->text, Catch::Contains("first line of what is piped in"));
  CHECK_THAT(help->text, !Catch::Contains("docker"));

  auto docker = Load({"--builder", "Docker"});
  REQUIRE_FALSE(docker);
  CHECK_THAT(docker.error().message, Catch::Contains("use buildah"));
  auto other = Load({"--builder", "kaniko"});
  REQUIRE_FALSE(other);
  CHECK_THAT(other.error().message, Catch::Contains("expected buildah"));
}

}  // namespace market::server
