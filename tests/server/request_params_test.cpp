// Request decoding: query strings, JSON and form bodies, and save's pipeline encodings.

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

}  // namespace market::server
