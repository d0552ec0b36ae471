// docs/configuration.md documents every key the server accepts (flag, variable, file key), and
// the log-format key behaves like the others.

#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <sstream>

#include "config.hpp"
#include "support/test_env.hpp"

#ifndef MARKET_SOURCE_DIR
#error "MARKET_SOURCE_DIR must name the source tree"
#endif

namespace market::server {
namespace {

std::string ReadDoc(const std::string& relative) {
  std::ifstream in(std::string(MARKET_SOURCE_DIR) + "/" + relative);
  REQUIRE(in);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

EnvLookup FakeEnv(std::map<std::string, std::string> values) {
  return [values](std::string_view name) -> std::optional<std::string> {
    auto it = values.find(std::string(name));
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

// The text under "### KEY", up to the next heading; empty when there is none.
std::string KeySection(const std::string& doc, std::string_view key) {
  std::string heading = "\n### " + std::string(key) + "\n";
  std::size_t start = doc.find(heading);
  if (start == std::string::npos) return {};
  start += heading.size();
  std::size_t end = doc.find("\n#", start);
  return doc.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("docs/configuration.md documents every configuration key", "[config][docs]") {
  std::string doc = ReadDoc("docs/configuration.md");
  REQUIRE_FALSE(ConfigKeys().empty());
  for (const ConfigKey& key : ConfigKeys()) {
    INFO("key " << key.key);
    // Each key has its own section: `--KEY` · `MARKET_KEY` · file `KEY` · type, range · default.
    std::string section = KeySection(doc, key.key);
    REQUIRE_FALSE(section.empty());
    CHECK(Has(section, "`" + key.Flag() + "`"));
    CHECK(Has(section, "`" + key.EnvVar() + "`"));
    CHECK(Has(section, "file `" + std::string(key.key) + "`"));
    if (!key.default_value.empty()) {
      CHECK(Has(section, "default `" + std::string(key.default_value) + "`"));
    }
    if (!key.RangeText().empty()) CHECK(Has(section, "`" + key.RangeText() + "`"));
    for (std::string_view choice : key.choices) {
      CHECK(Has(section, "`" + std::string(choice) + "`"));
    }
    if (key.type == KeyType::kBool) CHECK(Has(section, "boolean"));
  }
  // Every documented key is one the server accepts: no section outlives its key.
  std::size_t keys = doc.find("\n## Keys\n");
  REQUIRE(keys != std::string::npos);
  for (std::size_t at = doc.find("\n### ", keys); at != std::string::npos;
       at = doc.find("\n### ", at + 1)) {
    std::size_t end = doc.find('\n', at + 5);
    std::string heading = doc.substr(at + 5, end - at - 5);
    INFO("section " << heading);
    CHECK(FindConfigKey(heading) != nullptr);
  }
  // The settings outside the key table.
  CHECK(Has(doc, "`MARKET_CONFIG`"));
  CHECK(Has(doc, "`MARKET_REGISTRY_PASSWORD`"));
}

TEST_CASE("deploy/market.toml only uses keys the server accepts", "[config][docs]") {
  market::testing::TempDir dir;
  // The sample as shipped must load (paths in it need not exist for parsing).
  std::vector<std::string> args = {"--config",
                                   std::string(MARKET_SOURCE_DIR) + "/deploy/market.toml"};
  Result<ConfigOutcome> outcome = LoadConfig(args, FakeEnv({}));
  INFO((outcome ? std::string() : outcome.error().message));
  CHECK(outcome.has_value());
}

TEST_CASE("log-format: flag, environment and file, a bad value names the key", "[config]") {
  Result<ConfigOutcome> defaults = LoadConfig({}, FakeEnv({}));
  REQUIRE(defaults);
  CHECK(defaults->config.log_format == "text");

  std::vector<std::string> json_flag = {"--log-format", "JSON"};
  Result<ConfigOutcome> flag = LoadConfig(json_flag, FakeEnv({}));
  REQUIRE(flag);
  CHECK(flag->config.log_format == "json");

  Result<ConfigOutcome> env = LoadConfig({}, FakeEnv({{"MARKET_LOG_FORMAT", "json"}}));
  REQUIRE(env);
  CHECK(env->config.log_format == "json");

  market::testing::TempDir dir;
  std::string file = (dir.path() / "market.toml").string();
  {
    std::ofstream out(file);
    out << "log_format = \"json\"\n";
  }
  std::vector<std::string> from_file = {"--config", file};
  Result<ConfigOutcome> loaded = LoadConfig(from_file, FakeEnv({}));
  REQUIRE(loaded);
  CHECK(loaded->config.log_format == "json");

  std::vector<std::string> bad = {"--log-format", "xml"};
  Result<ConfigOutcome> refused = LoadConfig(bad, FakeEnv({}));
  REQUIRE_FALSE(refused);
  CHECK_THAT(refused.error().message, Catch::Contains("--log-format"));
  Result<ConfigOutcome> bad_env = LoadConfig({}, FakeEnv({{"MARKET_LOG_FORMAT", "xml"}}));
  REQUIRE_FALSE(bad_env);
  CHECK_THAT(bad_env.error().message, Catch::Contains("MARKET_LOG_FORMAT"));
}

}  // namespace market::server
