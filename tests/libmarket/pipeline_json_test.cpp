#include "market/pipeline_json.hpp"

#include <catch2/catch.hpp>

using market::Errc;
using nlohmann::json;

TEST_CASE("the pipeline keeps the original's JSON shape and order") {
  const json input = json::parse(R"([
    {"$$plugin": "run", "value": ["echo 1", "echo 2"]},
    {"$$plugin": "env_set", "key": ["A"], "value": ["1"]},
    {"$$plugin": "run", "value": "echo 3"}
  ])");
  auto pipeline = market::PipelineFromJson(input);
  REQUIRE(pipeline);
  REQUIRE(pipeline->size() == 3);
  CHECK((*pipeline)[0].plugin == "run");
  CHECK(std::get<std::vector<std::string>>((*pipeline)[0].attributes.at("value")) ==
        std::vector<std::string>{"echo 1", "echo 2"});
  CHECK(std::get<std::string>((*pipeline)[2].attributes.at("value")) == "echo 3");
  CHECK(market::PipelineToJson(*pipeline) == input);
}

TEST_CASE("numbers and booleans are taken as their text") {
  auto pipeline = market::PipelineFromJson(json::parse(R"([{"$$plugin": "expose", "port": [80, 443]}])"));
  REQUIRE(pipeline);
  CHECK(std::get<std::vector<std::string>>((*pipeline)[0].attributes.at("port")) ==
        std::vector<std::string>{"80", "443"});
}

TEST_CASE("malformed pipelines name the offending place") {
  struct Case {
    const char* body;
    const char* message;
  };
  for (const Case& c : {
           Case{R"({"a": 1})", "$$plugin must be an array of plugin entries"},
           Case{R"([1])", "$$plugin[0] must be an object"},
           Case{R"([{"value": "x"}])", "$$plugin[0].$$plugin must be a non-empty string"},
           Case{R"([{"$$plugin": ""}])", "$$plugin[0].$$plugin must be a non-empty string"},
           Case{R"([{"$$plugin": "run", "value": {"a": 1}}])",
                "$$plugin[0].value must be a string or an array of strings"},
           Case{R"([{"$$plugin": "run", "value": [["x"]]}])",
                "$$plugin[0].value: array elements must be strings"},
       }) {
    INFO(c.body);
    auto result = market::PipelineFromJson(json::parse(c.body));
    REQUIRE_FALSE(result);
    CHECK(result.error().code == Errc::kInvalid);
    CHECK(result.error().message == c.message);
  }
}

TEST_CASE("a missing pipeline is empty") {
  CHECK(market::PipelineFromJson(json(nullptr)).value().empty());
}
