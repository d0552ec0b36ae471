// Every kind of bad input: 10006 with HTTP 400 (413 for a body over the limit), a message
// naming the field, and nothing stored.

#include <catch2/catch.hpp>

#include "server_harness.hpp"

namespace market::server::testing {
namespace {

using json = nlohmann::json;

struct BadCase {
  std::string what;
  std::string target;
  std::string body;
  std::string content_type;
  std::string field;  // the message must name it
};

void ExpectInvalid(TestClient& client, const BadCase& bad, http::verb method = http::verb::post) {
  INFO(bad.what << ": " << bad.target << " " << bad.body);
  Reply reply = client.Request(method, bad.target, bad.body, bad.content_type);
  INFO("reply: " << reply.body);
  CHECK(reply.status == 400);
  json body = reply.Json();
  CHECK(body["code"] == 10006);
  CHECK(body["content"].is_null());
  CHECK_THAT(body["errMsg"].get<std::string>(), Catch::Contains(bad.field));
}

std::string NewBody(const json& name) {
  return json{{"projectName", name}, {"operator", "root"}}.dump();
}

}  // namespace

TEST_CASE("bad input to new is refused and nothing is stored", "[api][bad]") {
  TestServer server;
  TestClient client(server.port());
  const std::string kJson = "application/json";
  std::vector<BadCase> cases = {
      {"malformed JSON", "/api/project/new", R"({"projectName": "a", )", kJson, "JSON"},
      {"JSON that is not an object", "/api/project/new", R"(["a"])", kJson, "object"},
      {"name of the wrong type", "/api/project/new", NewBody(12), kJson, "projectName"},
      {"name as an array", "/api/project/new", NewBody(json::array({"a"})), kJson, "projectName"},
      {"operator of the wrong type", "/api/project/new",
       json{{"projectName", "ok"}, {"operator", 5}}.dump(), kJson, "operator"},
      {"missing name", "/api/project/new", json{{"operator", "root"}}.dump(), kJson, "projectName"},
      {"missing operator", "/api/project/new", json{{"projectName", "ok"}}.dump(), kJson,
       "operator"},
      {"empty name", "/api/project/new", NewBody(""), kJson, "projectName"},
      {"name over 64 characters", "/api/project/new", NewBody(std::string(65, 'a')), kJson,
       "projectName"},
      {"name with a space", "/api/project/new", NewBody("my web"), kJson, "projectName"},
      {"non-ASCII name", "/api/project/new", NewBody("caf\xC3\xA9"), kJson, "projectName"},
      {"malformed form escape", "/api/project/new", "projectName=a%zz&operator=root",
       "application/x-www-form-urlencoded", "projectName"},
  };
  for (char special : std::string("!@#$%^&*()='\"/\\|<>{}[]")) {
    cases.push_back({std::string("special character ") + special, "/api/project/new",
                     NewBody(std::string("ab") + special + "cd"), kJson, "projectName"});
  }
  for (const BadCase& bad : cases) ExpectInvalid(client, bad);

  // The same through the form encoding the original's client used.
  ExpectInvalid(client, {"form special", "/api/project/new",
                         "projectName=" + UrlEncode("a*b") + "&operator=root",
                         "application/x-www-form-urlencoded", "projectName"});
  Reply special = client.PostJson("/api/project/new", {{"projectName", "a*b"}, {"operator", "r"}});
  CHECK_THAT(special.Json()["errMsg"].get<std::string>(), Catch::Contains("*"));

  Reply list = client.Get("/api/project/list");
  CHECK(list.Json()["total_count"] == 0);
}

TEST_CASE("bad input to the other project endpoints", "[api][bad]") {
  TestServer server;
  TestClient client(server.port());
  REQUIRE(client.PostJson("/api/project/new", {{"projectName", "base"}, {"operator", "r"}}).Code() ==
          10000);
  const std::string kJson = "application/json";
  std::vector<BadCase> cases = {
      {"clone without destination", "/api/project/clone",
       json{{"srcProjectName", "base"}, {"operator", "r"}}.dump(), kJson, "dstProjectName"},
      {"clone into a bad name", "/api/project/clone",
       json{{"srcProjectName", "base"}, {"dstProjectName", "a b"}, {"operator", "r"}}.dump(), kJson,
       "dstProjectName"},
      {"delete without a name", "/api/project/delete", json{{"operator", "r"}}.dump(), kJson,
       "projectName"},
      {"save with unknown addOrUpdate", "/api/project/save",
       json{{"project", "x"}, {"addOrUpdate", "upsert"}, {"operator", "r"}}.dump(), kJson,
       "addOrUpdate"},
      {"save with a bad cluster", "/api/project/save",
       json{{"project", "x"}, {"Cluster", "a/b"}, {"operator", "r"}, {"$$plugin", json::array()}}
           .dump(),
       kJson, "Cluster"},
      {"save with a bad type", "/api/project/save",
       json{{"project", "x"}, {"DefineDockerFileType", "magic"}, {"operator", "r"}}.dump(), kJson,
       "DefineDockerFileType"},
      {"save with a pipeline of the wrong shape", "/api/project/save",
       json{{"project", "x"}, {"operator", "r"}, {"$$plugin", "run"}}.dump(), kJson, "$$plugin"},
      {"build without a name", "/api/project/build", json{{"operator", "r"}}.dump(), kJson,
       "projectName"},
      {"build with a bad tag", "/api/project/build",
       json{{"projectName", "base"}, {"operator", "r"}, {"tag", "-bad tag"}}.dump(), kJson, "tag"},
      {"cancel with a bad id", "/api/project/buildCancel",
       json{{"id", "abc"}, {"operator", "r"}}.dump(), kJson, "id"},
  };
  for (const BadCase& bad : cases) ExpectInvalid(client, bad);

  for (const std::string& page : {"0", "-1", "abc"}) {
    ExpectInvalid(client, {"page " + page, "/api/project/list?page=" + page, "", "", "page"},
                  http::verb::get);
  }
  ExpectInvalid(client, {"page_size over the cap", "/api/project/list?page_size=101", "", "",
                         "page_size"},
                http::verb::get);
  ExpectInvalid(client, {"page_size 0", "/api/project/list?page_size=0", "", "", "page_size"},
                http::verb::get);
  ExpectInvalid(client, {"history page abc", "/api/project/buildHistory?projectName=base&page=abc",
                         "", "", "page"},
                http::verb::get);
  ExpectInvalid(client, {"info of a bad name", "/api/project/info?projectName=a%2Ab", "", "",
                         "projectName"},
                http::verb::get);

  Reply list = client.Get("/api/project/list");
  CHECK(list.Json()["total_count"] == 1);
}

TEST_CASE("a body over the limit is 413 with 10006", "[api][bad]") {
  TestServer server(market::testing::Backend::kSqlite,
                    [](ServerConfig& config) { config.max_body_bytes = 4096; });
  TestClient client(server.port());
  std::string big = json{{"projectName", "big"}, {"operator", "r"}, {"pad", std::string(8192, 'x')}}
                        .dump();
  Reply reply = client.Request(http::verb::post, "/api/project/new", big, "application/json");
  CHECK(reply.status == 413);
  CHECK(reply.Code() == 10006);
  CHECK_FALSE(reply.Header("x-request-id").empty());

  TestClient other(server.port());
  CHECK(other.Get("/api/project/list").Json()["total_count"] == 0);
}

TEST_CASE("unknown paths and wrong methods", "[api][bad]") {
  TestServer server;
  TestClient client(server.port());
  Reply unknown = client.Get("/api/project/nosuch");
  CHECK(unknown.status == 404);
  CHECK_THAT(unknown.Header("content-type"), Catch::StartsWith("application/json"));
  CHECK(unknown.Json()["content"].is_null());
  CHECK(unknown.Code() == 10008);

  Reply wrong = client.Get("/api/project/new");
  CHECK(wrong.status == 405);
  CHECK(wrong.Header("allow") == "POST");
  CHECK(wrong.Code() == 10006);
  Reply put = client.Request(http::verb::put, "/api/project/list");
  CHECK(put.status == 405);
  CHECK_THAT(put.Header("allow"), Catch::Contains("GET") && Catch::Contains("POST"));
}

}  // namespace market::server::testing
