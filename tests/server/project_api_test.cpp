// The project endpoints end to end: the real server on a fresh database (SQLite, and
// PostgreSQL when MARKET_TEST_POSTGRES_URL is set), driven over HTTP.

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

#include "server_harness.hpp"

namespace market::server::testing {
namespace {

using market::testing::AvailableBackends;
using market::testing::Backend;
using json = nlohmann::json;

const json kToolPipeline = json::array(
    {{{"$$plugin", "base_image_choose_from_harbor"}, {"handleInput", "127.0.0.1:5000/base/busybox:1"}},
     {{"$$plugin", "run"}, {"value", json::array({"echo one", "echo two"})}},
     {{"$$plugin", "env_set"}, {"key", json::array({"A"})}, {"value", json::array({"1"})}}});

void Create(TestClient& client, const std::string& name, const std::string& op = "alice") {
  Reply reply = client.PostJson("/api/project/new", {{"projectName", name}, {"operator", op}});
  INFO(reply.body);
  REQUIRE(reply.status == 200);
  REQUIRE(reply.Code() == 10000);
}

std::int64_t ProjectCount(TestClient& client) {
  Reply reply = client.Get("/api/project/list");
  REQUIRE(reply.Code() == 10000);
  return reply.Json()["total_count"].get<std::int64_t>();
}

}  // namespace

TEST_CASE("new takes the Cluster and the Dockerfile type, each checked by name", "[api]") {
  TestServer server;
  TestClient client(server.port());
  Reply created = client.PostForm(
      "/api/project/new", "projectName=handmade&operator=alice&Cluster=Team&DefineDockerFileType=edit");
  INFO(created.body);
  REQUIRE(created.Code() == 10000);
  json content = client.Get("/api/project/info?projectName=handmade").Json()["content"];
  CHECK(content["Cluster"] == "team");
  CHECK(content["DefineDockerFileType"] == "edit");
  CHECK(content["plugins"] == json::array());
  Create(client, "plain");
  CHECK(client.Get("/api/project/info?projectName=plain").Json()["content"]["Cluster"] ==
        "default_cluster");

  const std::pair<json, const char*> refusals[] = {
      {{{"projectName", "bad1"}, {"operator", "a"}, {"DefineDockerFileType", "docker"}},
       "DefineDockerFileType must be tool, edit or download, got 'docker'"},
      {{{"projectName", "bad2"}, {"operator", "a"}, {"Cluster", "a b"}},
       "Cluster contains special char: ' ' (space)"},
  };
  for (const auto& [body, message] : refusals) {
    Reply refused = client.PostJson("/api/project/new", body);
    INFO(refused.body);
    CHECK(refused.status == 400);
    CHECK(refused.Code() == 10006);
    CHECK(refused.Json()["errMsg"] == message);
  }
  CHECK(ProjectCount(client) == 2);  // nothing was created by the refusals
}

TEST_CASE("project lifecycle: new, info, list, save, dockerfile, clone, delete", "[api]") {
  Backend backend = GENERATE(from_range(AvailableBackends()));
  INFO("backend " << market::testing::ToString(backend));
  TestServer server(backend);
  TestClient client(server.port());

  Create(client, "MyWeb");  // upper case is lower-cased
  Reply info = client.Get("/api/project/info?projectName=myweb&operator=admin");
  REQUIRE(info.status == 200);
  json content = info.Json()["content"];
  CHECK(content["name"] == "myweb");
  CHECK(content["creator"] == "alice");
  CHECK(content["lastModifyOperator"] == "alice");
  CHECK(content["Cluster"] == "default_cluster");
  CHECK(content["DefineDockerFileType"] == "tool");
  CHECK(content["plugins"] == json::array());
  CHECK(content["createTime"].get<std::string>().ends_with("Z"));
  CHECK(content.contains("lastModifyTime"));

  Reply saved = client.PostJson("/api/project/save", {{"project", "myweb"},
                                                      {"Cluster", "Team1"},
                                                      {"DefineDockerFileType", "tool"},
                                                      {"addOrUpdate", "update"},
                                                      {"operator", "bob"},
                                                      {"$$plugin", kToolPipeline}});
  INFO(saved.body);
  REQUIRE(saved.Code() == 10000);
  content = client.Get("/api/project/info?projectName=myweb").Json()["content"];
  CHECK(content["Cluster"] == "team1");
  CHECK(content["lastModifyOperator"] == "bob");
  CHECK(content["creator"] == "alice");
  REQUIRE(content["plugins"].size() == 3);
  CHECK(content["plugins"][1]["$$plugin"] == "run");
  CHECK(content["plugins"][1]["value"] == json::array({"echo one", "echo two"}));

  Reply dockerfile = client.Get("/api/project/dockerfile?projectName=myweb");
  REQUIRE(dockerfile.Code() == 10000);
  std::string text = dockerfile.Json()["content"];
  CHECK(text.starts_with("FROM 127.0.0.1:5000/base/busybox:1"));
  CHECK_THAT(text, Catch::Contains("echo one"));
  Reply plain = client.Get("/api/project/dockerfile?projectName=myweb", {{"Accept", "text/plain"}});
  CHECK(plain.status == 200);
  CHECK_THAT(plain.Header("content-type"), Catch::StartsWith("text/plain"));
  CHECK(plain.body == text);

  Reply list = client.Request(http::verb::post, "/api/project/list", "page=1&page_size=10",
                              "application/x-www-form-urlencoded");
  json listed = list.Json();
  CHECK(listed["code"] == 10000);
  CHECK(listed["page"] == 1);
  CHECK(listed["page_size"] == 10);
  CHECK(listed["total_count"] == 1);
  REQUIRE(listed["content"].size() == 1);
  CHECK(listed["content"][0]["name"] == "myweb");
  CHECK_FALSE(listed["content"][0].contains("plugins"));

  Reply clone = client.PostJson("/api/project/clone", {{"srcProjectName", "myweb"},
                                                       {"dstProjectName", "copy"},
                                                       {"operator", "carol"}});
  REQUIRE(clone.Code() == 10000);
  json copy = client.Get("/api/project/info?projectName=copy").Json()["content"];
  CHECK(copy["creator"] == "carol");
  CHECK(copy["Cluster"] == "team1");
  CHECK(copy["plugins"] == content["plugins"]);

  Reply missing_source = client.PostJson(
      "/api/project/clone", {{"srcProjectName", "nope"}, {"dstProjectName", "x"}, {"operator", "c"}});
  CHECK(missing_source.status == 404);
  CHECK(missing_source.Code() == 10002);
  Reply exists = client.PostJson("/api/project/new", {{"projectName", "copy"}, {"operator", "a"}});
  CHECK(exists.status == 409);
  CHECK(exists.Code() == 10001);
  CHECK(exists.Json()["content"].is_null());

  Reply deleted = client.PostJson("/api/project/delete", {{"projectName", "myweb"}, {"operator", "a"}});
  CHECK(deleted.Code() == 10000);
  Reply gone = client.Get("/api/project/info?projectName=myweb");
  CHECK(gone.status == 404);
  CHECK(gone.Code() == 10008);
  Reply delete_again = client.PostJson("/api/project/delete", {{"projectName", "myweb"}, {"operator", "a"}});
  CHECK(delete_again.status == 404);
  CHECK(delete_again.Code() == 10003);
  CHECK(ProjectCount(client) == 1);
}

TEST_CASE("save in the original form encoding", "[api]") {
  TestServer server;
  TestClient client(server.port());
  // Repeated attributes become arrays; a plugin may appear twice.
  std::string body =
      "project=formed&Cluster=default_cluster&DefineDockerFileType=tool&addOrUpdate=add"
      "&%24%24plugin=base_image_choose_from_harbor"
      "&base_image_choose_from_harbor.handleInput=127.0.0.1%3A5000%2Fbase%2Fbusybox%3A1"
      "&%24%24plugin=run&run.value=apt-get+update&run.value=make"
      "&%24%24plugin=env_set&env_set.key=A&env_set.value=1"
      "&%24%24plugin=run&run.value=echo+last";
  Reply saved = client.PostForm("/api/project/save", body, {{"Authorization", "formuser"}});
  INFO(saved.body);
  REQUIRE(saved.Code() == 10000);
  json content = client.Get("/api/project/info?projectName=formed").Json()["content"];
  CHECK(content["creator"] == "formuser");  // the bare Authorization header is the operator
  json plugins = content["plugins"];
  REQUIRE(plugins.size() == 4);
  CHECK(plugins[1]["value"] == json::array({"apt-get update", "make"}));
  CHECK(plugins[2]["key"] == json::array({"A"}));  // list attributes are always arrays
  CHECK(plugins[3]["$$plugin"] == "run");
  CHECK(plugins[3]["value"] == json::array({"echo last"}));

  Reply again = client.PostForm("/api/project/save", body, {{"Authorization", "formuser"}});
  CHECK(again.status == 409);
  CHECK(again.Code() == 10001);
}

TEST_CASE("the Dockerfile preview renders without saving", "[api]") {
  TestServer server;
  TestClient client(server.port());
  Reply preview = client.PostJson("/api/project/dockerfile",
                                  {{"DefineDockerFileType", "tool"}, {"$$plugin", kToolPipeline}});
  INFO(preview.body);
  REQUIRE(preview.Code() == 10000);
  CHECK(preview.Json()["content"].get<std::string>().starts_with("FROM "));
  Reply form = client.PostForm(
      "/api/project/dockerfile",
      "%24%24plugin=base_image_choose_from_harbor&base_image_choose_from_harbor.handleInput=busybox"
      "&%24%24plugin=run&run.value=echo+hi",
      {{"Accept", "text/plain"}});
  CHECK(form.status == 200);
  CHECK_THAT(form.body, Catch::Contains("echo hi"));
  CHECK(ProjectCount(client) == 0);

  Reply injected = client.PostJson(
      "/api/project/dockerfile",
      {{"$$plugin", json::array({{{"$$plugin", "base_image_choose_from_harbor"}, {"handleInput", "busybox"}},
                                 {{"$$plugin", "run"}, {"value", json::array({"a\nRUN evil"})}}})}});
  CHECK(injected.status == 400);
  CHECK(injected.Code() == 10006);
  Reply unknown = client.PostJson(
      "/api/project/dockerfile", {{"$$plugin", json::array({{{"$$plugin", "nosuch"}}})}});
  CHECK(unknown.status == 404);
  CHECK(unknown.Code() == 10009);
}

TEST_CASE("plugin schemas and the extension interface", "[api]") {
  TestServer server;
  TestClient client(server.port());
  Reply schemas = client.Get("/api/plugin/schemas");
  REQUIRE(schemas.Code() == 10000);
  bool has_run = false;
  json content = schemas.Json()["content"];
  for (const json& schema : content) has_run |= schema["name"] == "run";
  CHECK(has_run);

  Reply unknown = client.PostForm("/api/plugin/extension/interface", "plugin=nosuch&method=x");
  CHECK(unknown.status == 404);
  CHECK(unknown.Code() == 10009);
  Reply bad_method = client.PostForm("/api/plugin/extension/interface", "plugin=run&method=nosuch");
  CHECK(bad_method.status == 400);
  CHECK(bad_method.Code() == 10004);
  Reply no_registry = client.PostJson(
      "/api/plugin/extension/interface",
      {{"plugin", "base_image_choose_from_harbor"}, {"method", "BaseImageList"}});
  CHECK(no_registry.status == 502);
  CHECK(no_registry.Code() == 10005);
}

TEST_CASE("32 parallel creations of one name: exactly one wins", "[api][concurrency]") {
  Backend backend = GENERATE(from_range(AvailableBackends()));
  INFO("backend " << market::testing::ToString(backend));
  TestServer server(backend);
  std::vector<int> codes(32);
  std::vector<std::thread> threads;
  for (int i = 0; i < 32; ++i) {
    threads.emplace_back([&, i] {
      Reply reply = Call(server.port(), http::verb::post, "/api/project/new",
                         json{{"projectName", "race"}, {"operator", "u" + std::to_string(i)}}.dump(),
                         "application/json");
      codes[i] = nlohmann::json::parse(reply.body)["code"].get<int>();
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(std::count(codes.begin(), codes.end(), 10000) == 1);
  CHECK(std::count(codes.begin(), codes.end(), 10001) == 31);
  CHECK(std::count(codes.begin(), codes.end(), 10100) == 0);
}

TEST_CASE("32 parallel clones into one destination: exactly one succeeds", "[api][concurrency]") {
  Backend backend = GENERATE(from_range(AvailableBackends()));
  INFO("backend " << market::testing::ToString(backend));
  TestServer server(backend);
  {
    TestClient client(server.port());
    Create(client, "source");
  }
  std::vector<int> codes(32);
  std::vector<std::thread> threads;
  for (int i = 0; i < 32; ++i) {
    threads.emplace_back([&, i] {
      Reply reply = Call(server.port(), http::verb::post, "/api/project/clone",
                         json{{"srcProjectName", "source"},
                              {"dstProjectName", "target"},
                              {"operator", "u" + std::to_string(i)}}
                             .dump(),
                         "application/json");
      codes[i] = nlohmann::json::parse(reply.body)["code"].get<int>();
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(std::count(codes.begin(), codes.end(), 10000) == 1);
  CHECK(std::count(codes.begin(), codes.end(), 10001) == 31);
  TestClient client(server.port());
  CHECK(ProjectCount(client) == 2);
}

TEST_CASE("the configuration page", "[api][page]") {
  TestServer server;
  TestClient client(server.port());
  Create(client, "paged");
  // The original's client asks with accept: application/json and shows the body as the page.
  Reply page = client.Get("/view/config/independent?projectName=paged",
                          {{"Accept", "application/json"}});
  CHECK(page.status == 200);
  CHECK_THAT(page.Header("content-type"), Catch::StartsWith("text/html"));
  CHECK_THAT(page.body, Catch::Contains("<html"));
  CHECK_THAT(page.body, Catch::Contains("paged"));

  Reply wrapped = client.Get("/view/config/independent?projectName=paged&format=json");
  CHECK(wrapped.status == 200);
  CHECK(wrapped.Json()["data"].get<std::string>() == page.body);

  Reply missing = client.Get("/view/config/independent?projectName=nosuch");
  CHECK(missing.status == 404);
  CHECK_THAT(missing.Header("content-type"), Catch::StartsWith("text/html"));

  Reply asset = client.Get("/static/app.js");
  CHECK(asset.status == 200);
  CHECK_FALSE(asset.body.empty());
  Reply no_asset = client.Get("/static/nosuch.js");
  CHECK(no_asset.status == 404);
}

}  // namespace market::server::testing
