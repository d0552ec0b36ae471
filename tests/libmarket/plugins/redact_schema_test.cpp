// Redaction of secrets and the schema JSON served to the web page.
#include <catch2/catch.hpp>
#include <set>

#include "market/plugin_registry.hpp"
#include "market/plugin_schema_json.hpp"
#include "plugin_test_util.hpp"

using namespace market;
using namespace market::testing;

TEST_CASE("Redact hides set secrets, keeps empty ones empty, touches nothing else") {
  auto registry = MakeBuiltinPluginRegistry();
  Pipeline pipeline = {
      BaseImage(),
      Entry("download_executable_source", {{"source_type", "git"},
                                           {"source_url", "https://git.example.com/a.git"},
                                           {"checkoutAs", "a"},
                                           {"containerPath", "/a"},
                                           {"username", "bob"},
                                           {"password", "hunter2"}}),
      Entry("download_executable_source", {{"source_type", "git"},
                                           {"source_url", "https://git.example.com/b.git"},
                                           {"checkoutAs", "b"},
                                           {"containerPath", "/b"},
                                           {"password", ""}}),
      Entry("download_dockerfile", {{"sourceType", "svn"}, {"password", List{"x", ""}}}),
      Entry("env_set", {{"key", "password"}, {"value", "not a secret attribute"}}),
      Entry("custom_unknown", {{"db_password", "p"}, {"apiToken", "t"}, {"note", "n"}}),
  };
  Pipeline redacted = registry->Redact(pipeline);
  REQUIRE(redacted.size() == pipeline.size());
  CHECK(redacted[1].attributes.at("password") == AttributeValue(std::string(kRedactedSecret)));
  CHECK(redacted[1].attributes.at("username") == AttributeValue(std::string("bob")));
  CHECK(redacted[1].attributes.at("source_url") == pipeline[1].attributes.at("source_url"));
  CHECK(redacted[2].attributes.at("password") == AttributeValue(std::string("")));
  CHECK(redacted[3].attributes.at("password") == AttributeValue(List{"******", ""}));
  CHECK(redacted[4] == pipeline[4]);
  // Without a schema, names that look secret are hidden.
  CHECK(redacted[5].attributes.at("db_password") == AttributeValue(std::string("******")));
  CHECK(redacted[5].attributes.at("apiToken") == AttributeValue(std::string("******")));
  CHECK(redacted[5].attributes.at("note") == AttributeValue(std::string("n")));
  CHECK(redacted[0] == pipeline[0]);
}

TEST_CASE("SchemasToJson has the documented shape for every plugin") {
  auto registry = MakeBuiltinPluginRegistry();
  nlohmann::json json = SchemasToJson(*registry);
  REQUIRE(json.is_array());
  REQUIRE(json.size() == registry->Schemas().size());
  const std::set<std::string> kinds = {"string", "list", "key_value_list", "secret", "choice"};
  for (const auto& plugin : json) {
    INFO(plugin.dump());
    CHECK(plugin.size() == 4);
    CHECK(plugin.at("name").is_string());
    CHECK_FALSE(plugin.at("title_en").get<std::string>().empty());
    CHECK_FALSE(plugin.at("title_zh").get<std::string>().empty());
    REQUIRE(plugin.at("attributes").is_array());
    REQUIRE_FALSE(plugin.at("attributes").empty());
    for (const auto& a : plugin.at("attributes")) {
      INFO(a.dump());
      CHECK(a.size() == 8);
      CHECK(a.at("name").is_string());
      CHECK(kinds.contains(a.at("kind").get<std::string>()));
      CHECK(a.at("required").is_boolean());
      CHECK(a.at("multiline").is_boolean());
      CHECK(a.at("choices").is_array());
      CHECK(a.at("pair").is_string());
      CHECK_FALSE(a.at("help_en").get<std::string>().empty());
      CHECK_FALSE(a.at("help_zh").get<std::string>().empty());
      CHECK((a.at("kind") == "choice") == !a.at("choices").empty());
      CHECK((a.at("kind") == "key_value_list") == !a.at("pair").get<std::string>().empty());
    }
  }
  // Sorted by name, and a few specific entries.
  CHECK(json.front().at("name") == "arg");
  auto find = [&](const std::string& name) {
    for (const auto& p : json)
      if (p.at("name") == name) return p;
    FAIL("no plugin " << name);
    return nlohmann::json();
  };
  CHECK(find("run").at("attributes") ==
        nlohmann::json::parse(R"([{"name":"value","kind":"list","required":true,"multiline":false,
          "choices":[],"pair":"",
          "help_en":"Shell commands, one RUN instruction each, in order. One line each; no trailing backslash, no here-documents, no leading --options.",
          "help_zh":"Shell 命令，每条生成一个 RUN 指令，按顺序执行。每条只能一行；不能以反斜杠结尾，不能使用 here-document，不能以 -- 选项开头。"}])"));
  auto env = find("env_set").at("attributes");
  CHECK(env[0].at("kind") == "key_value_list");
  CHECK(env[0].at("pair") == "value");
  auto source = find("download_executable_source").at("attributes");
  bool secret_seen = false;
  for (const auto& a : source) {
    if (a.at("name") == "password") secret_seen = a.at("kind") == "secret" && !a.at("required");
    if (a.at("name") == "source_type") CHECK(a.at("choices") == nlohmann::json({"git", "svn"}));
  }
  CHECK(secret_seen);
  CHECK(find("static_dockerfile").at("attributes")[0].at("multiline") == true);
}
