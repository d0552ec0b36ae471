// Request decoding: query strings, JSON and form bodies, and save's pipeline encodings.

#include <chrono>

#include <catch2/catch.hpp>

#include "request_params.hpp"

namespace market::server {
namespace {

using Strings = std::vector<std::string>;

const AttributeValue& Attr(const PluginInstance& entry, const std::string& name) {
  auto it = entry.attributes.find(name);
  REQUIRE(it != entry.attributes.end());
  return it->second;
}

}  // namespace

TEST_CASE("url-encoded pairs are decoded in order", "[decode]") {
  auto pairs = ParseUrlEncoded("a=1&b=x+y&%24%24plugin=run&c=&d&e=%E4%B8%AD");
  REQUIRE(pairs);
  REQUIRE(pairs->size() == 6);
  CHECK((*pairs)[1] == std::pair<std::string, std::string>{"b", "x y"});
  CHECK((*pairs)[2].first == "$$plugin");
  CHECK((*pairs)[3] == std::pair<std::string, std::string>{"c", ""});
  CHECK((*pairs)[4] == std::pair<std::string, std::string>{"d", ""});
  CHECK((*pairs)[5].second == "\xE4\xB8\xAD");
  CHECK_FALSE(ParseUrlEncoded("a=%zz"));
  CHECK_FALSE(ParseUrlEncoded("a=%4"));
}

TEST_CASE("the form encoding of a pipeline", "[decode]") {
  auto pairs = ParseUrlEncoded(
      "project=aa&Cluster=default_cluster&DefineDockerFileType=tool&addOrUpdate=add"
      "&$$plugin=run&run.value=apt-get+update&run.value=make"
      "&$$plugin=env_set&env_set.key=A&env_set.value=1");
  REQUIRE(pairs);
  Pipeline pipeline = PipelineFromForm(*pairs);
  REQUIRE(pipeline.size() == 2);
  CHECK(pipeline[0].plugin == "run");
  CHECK(std::get<Strings>(Attr(pipeline[0], "value")) == Strings{"apt-get update", "make"});
  CHECK(pipeline[1].plugin == "env_set");
  CHECK(std::get<std::string>(Attr(pipeline[1], "key")) == "A");
  CHECK(std::get<std::string>(Attr(pipeline[1], "value")) == "1");
}

TEST_CASE("an attribute belongs to the latest entry of its plugin", "[decode]") {
  auto pairs = ParseUrlEncoded(
      "$$plugin=run&run.value=a&$$plugin=env_set&env_set.key=K&$$plugin=run&run.value=b"
      "&run.value=c&env_set.value=V");
  REQUIRE(pairs);
  Pipeline pipeline = PipelineFromForm(*pairs);
  REQUIRE(pipeline.size() == 3);
  CHECK(std::get<std::string>(Attr(pipeline[0], "value")) == "a");
  CHECK(std::get<std::string>(Attr(pipeline[1], "key")) == "K");
  CHECK(std::get<std::string>(Attr(pipeline[1], "value")) == "V");
  CHECK(std::get<Strings>(Attr(pipeline[2], "value")) == Strings{"b", "c"});
}

TEST_CASE("an attribute before any $$plugin of its name opens an entry", "[decode]") {
  auto pairs = ParseUrlEncoded("work_dir.input_workDir=/app&$$plugin=run&run.value=x");
  REQUIRE(pairs);
  Pipeline pipeline = PipelineFromForm(*pairs);
  REQUIRE(pipeline.size() == 2);
  CHECK(pipeline[0].plugin == "work_dir");
  CHECK(std::get<std::string>(Attr(pipeline[0], "input_workDir")) == "/app");
  CHECK(pipeline[1].plugin == "run");
}

TEST_CASE("JSON bodies", "[decode]") {
  auto params = RequestParams::Decode(
      "", "application/json",
      R"({"projectName": "web", "page": 2, "n": 5, "flag": true, "$$plugin": [{"$$plugin": "run", "value": ["a", "b"]}]})");
  REQUIRE(params);
  CHECK(params->Required("projectName").value() == "web");
  CHECK(params->NumberText("page").value() == "2");
  CHECK(params->Flag("flag").value());
  Pipeline pipeline = params->PipelineParam().value();
  REQUIRE(pipeline.size() == 1);
  CHECK(pipeline[0].plugin == "run");
}

TEST_CASE("decoding errors name the field", "[decode]") {
  SECTION("malformed JSON") {
    auto params = RequestParams::Decode("", "application/json", R"({"projectName": )");
    REQUIRE_FALSE(params);
    CHECK(params.error().code == Errc::kInvalid);
  }
  SECTION("not an object") {
    auto params = RequestParams::Decode("", "application/json", "[1, 2]");
    REQUIRE_FALSE(params);
    CHECK(params.error().code == Errc::kInvalid);
  }
  SECTION("wrong type") {
    auto params = RequestParams::Decode("", "application/json", R"({"projectName": 12})");
    REQUIRE(params);
    auto name = params->Required("projectName");
    REQUIRE_FALSE(name);
    CHECK_THAT(name.error().message, Catch::Contains("projectName"));
    auto page = RequestParams::Decode("", "", R"({"page": {"a": 1}})")->NumberText("page");
    REQUIRE_FALSE(page);
    CHECK_THAT(page.error().message, Catch::Contains("page"));
  }
  SECTION("missing and empty") {
    auto params = RequestParams::Decode("", "application/json", R"({"projectName": ""})");
    REQUIRE(params);
    CHECK_THAT(params->Required("projectName").error().message,
               Catch::Contains("projectName is required"));
    CHECK_THAT(params->Required("operator").error().message,
               Catch::Contains("operator is required"));
  }
  SECTION("pipeline of the wrong shape") {
    auto params = RequestParams::Decode("", "application/json", R"({"$$plugin": "run"})");
    REQUIRE(params);
    CHECK_FALSE(params->PipelineParam());
  }
}

TEST_CASE("form bodies, the query string, and which wins", "[decode]") {
  auto params = RequestParams::Decode("projectName=fromquery&page=3", "",
                                      "projectName=frombody&operator=root");
  REQUIRE(params);
  CHECK(params->Text("projectName").value() == "frombody");
  CHECK(params->Text("page").value() == "3");
  CHECK(params->Text("operator").value() == "root");
  CHECK(params->Text("missing").value().empty());
  CHECK_FALSE(params->Has("missing"));
}

TEST_CASE("a body without a content type is sniffed", "[decode]") {
  auto json = RequestParams::Decode("", "", R"( {"projectName": "a"})");
  REQUIRE(json);
  CHECK(json->Text("projectName").value() == "a");
  auto form = RequestParams::Decode("", "text/plain", "projectName=b");
  REQUIRE(form);
  CHECK(form->Text("projectName").value() == "b");
}

TEST_CASE("the seed's mixed example body is accepted", "[decode]") {
  auto params = RequestParams::Decode(
      "", "application/json", R"(method=DELETE&{"repoName":"1.1","projectName":"myweb"})");
  REQUIRE(params);
  CHECK(params->Text("method").value() == "DELETE");
  CHECK(params->Text("repoName").value() == "1.1");
  CHECK(params->Text("projectName").value() == "myweb");
}

TEST_CASE("other parameters as a string map", "[decode]") {
  auto params = RequestParams::Decode("x=q", "application/json",
                                      R"({"plugin": "p", "method": "m", "n": 3, "s": "t"})");
  REQUIRE(params);
  auto map = params->StringMap({"plugin", "method"});
  CHECK(map == std::map<std::string, std::string>{{"n", "3"}, {"s", "t"}, {"x", "q"}});
}

namespace {

std::string NestedArrays(int levels, std::string_view inside = "") {
  return std::string(levels, '[') + std::string(inside) + std::string(levels, ']');
}

// `{"a":{"a":...{"a":inside}...}}`: `levels` objects.
std::string NestedObjects(int levels, std::string_view inside = "1") {
  std::string text;
  for (int i = 0; i < levels; ++i) text += R"({"a":)";
  text += inside;
  text += std::string(levels, '}');
  return text;
}

void CheckTooDeep(const Result<RequestParams>& params) {
  REQUIRE_FALSE(params);
  CHECK(params.error().code == Errc::kInvalid);
  CHECK(params.error().message == "request body: JSON nesting deeper than 64 levels");
}

}  // namespace

TEST_CASE("JSON nesting is bounded at 64 levels", "[decode][limits]") {
  REQUIRE(kMaxJsonDepth == 64);
  const std::string kJson = "application/json";

  SECTION("the limit itself, counted from the body's own object") {
    // The body's object is level 1: 63 more arrays make 64.
    auto params = RequestParams::Decode("", kJson, NestedObjects(1, NestedArrays(63, "7")));
    REQUIRE(params);
    CHECK(params->Has("a"));
    CHECK(params->StringMap({}).at("a") == NestedArrays(63, "7"));
    CheckTooDeep(RequestParams::Decode("", kJson, NestedObjects(1, NestedArrays(64, "7"))));
    CHECK(RequestParams::Decode("", kJson, NestedObjects(64)));
    CheckTooDeep(RequestParams::Decode("", kJson, NestedObjects(65)));
    // Empty containers at the 65th level count too.
    CheckTooDeep(RequestParams::Decode("", kJson, NestedObjects(64, "[]")));
    CheckTooDeep(RequestParams::Decode("", kJson, NestedObjects(64, "{}")));
  }

  SECTION("ParseJsonBounded: 64 levels parse, 65 are refused, bad text is not JSON") {
    auto arrays = ParseJsonBounded(NestedArrays(64), "x");
    REQUIRE(arrays);
    REQUIRE(arrays->has_value());
    CHECK((*arrays)->dump() == NestedArrays(64));
    auto deeper = ParseJsonBounded(NestedArrays(65), "the thing");
    REQUIRE_FALSE(deeper);
    CHECK(deeper.error().message == "the thing: JSON nesting deeper than 64 levels");
    auto broken = ParseJsonBounded("[[1]", "x");
    REQUIRE(broken);
    CHECK_FALSE(broken->has_value());
    // nlohmann alone would read up to the NUL and take 4, leaving the rest unread.
    using namespace std::string_literals;
    auto with_nul = ParseJsonBounded("4\0[[[]]]"s, "x");
    REQUIRE(with_nul);
    CHECK_FALSE(with_nul->has_value());
    Result<RequestParams> nul_body = RequestParams::Decode("", kJson, "{\"a\":1}\0{\"b\":2}"s);
    REQUIRE_FALSE(nul_body);
    CHECK(nul_body.error().code == Errc::kInvalid);
    CHECK(nul_body.error().message == "body is not valid JSON");
  }

  SECTION("long is not deep, and parses in linear time") {
    // 1 MiB of objects in one array: nlohmann's callback parser rescans the array after each
    // object (minutes for this); the depth-counting builder does not (milliseconds).
    std::string wide = "[";
    for (int i = 0; i < 150000; ++i) wide += R"({"a":1},)";
    wide += "[]]";
    const auto start = std::chrono::steady_clock::now();
    auto long_array = ParseJsonBounded(wide, "x");
    const auto took = std::chrono::steady_clock::now() - start;
    REQUIRE(long_array);
    REQUIRE(long_array->has_value());
    CHECK((*long_array)->size() == 150001);
    CHECK(took < std::chrono::seconds(10));
  }

  SECTION("the attack: about 600 KB of nesting, in every shape a body is read") {
    const std::string arrays = R"({"projectName": )" + NestedArrays(300000) + "}";
    const std::string objects = NestedObjects(120000);
    const std::string unterminated = R"({"a": )" + std::string(600000, '[');
    for (const std::string* body : {&arrays, &objects, &unterminated}) {
      CheckTooDeep(RequestParams::Decode("", kJson, *body));
      CheckTooDeep(RequestParams::Decode("", "", *body));  // sniffed as JSON
      CheckTooDeep(RequestParams::Decode("", "application/x-www-form-urlencoded", *body));
      CheckTooDeep(RequestParams::Decode("", kJson, "method=x&" + *body));  // curl's mixed body
    }
    // A top-level array is refused for its depth, not only for not being an object.
    CheckTooDeep(RequestParams::Decode("", kJson, NestedArrays(300000)));
  }

  SECTION("forms do not nest: many pipeline entries are a flat list") {
    std::string body = "projectName=a";
    for (int i = 0; i < 20000; ++i) body += "&$$plugin=run&run.value=" + std::to_string(i);
    auto params = RequestParams::Decode("", "application/x-www-form-urlencoded", body);
    REQUIRE(params);
    auto pipeline = params->PipelineParam();
    REQUIRE(pipeline);
    CHECK(pipeline->size() == 20000);
  }
}

}  // namespace market::server
