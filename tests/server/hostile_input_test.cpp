// The binary as a subprocess under hostile bodies: ~600 KB of nested JSON once overflowed a
// thread's stack and took the process down with every build in it. Now each such body is
// answered 10006 with HTTP 400 naming the nesting limit, the process lives on, nothing changes.

#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support/http_client.hpp"
#include "support/server_process.hpp"
#include "support/test_stores.hpp"

namespace {

using market::testing::Backend;
using market::testing::Call;
using market::testing::Reply;
using market::testing::TestDatabase;
namespace http = boost::beast::http;

constexpr std::string_view kTooDeep = "JSON nesting deeper than 64 levels";

// The body as JSON; an empty object when it is not JSON (the checks on it then fail).
nlohmann::json JsonOf(const Reply& reply) {
  nlohmann::json parsed = reply.TryJson();
  return parsed.is_object() ? parsed : nlohmann::json::object();
}

std::string NestedArrays(std::size_t levels) {
  return std::string(levels, '[') + std::string(levels, ']');
}

std::string NestedObjects(std::size_t levels) {
  std::string text;
  text.reserve(levels * 6 + 1);
  for (std::size_t i = 0; i < levels; ++i) text += R"({"a":)";
  text += '1';
  text += std::string(levels, '}');
  return text;
}

// A request every one of the four endpoints would act on, with `deep` as one more field: only
// the nesting limit stands between it and a new project, a changed one, or an extension call.
std::string WithDeepField(const std::string& deep) {
  return R"({"projectName":"intruder","project":"victim","operator":"root","Cluster":"changed",)"
         R"("addOrUpdate":"update","plugin":"base_image_choose_from_harbor",)"
         R"("method":"BaseImageList","deep":)" +
         deep + "}";
}

}  // namespace

TEST_CASE("600 KB of nested JSON is refused and the server lives on", "[process][limits]") {
  for (Backend backend : market::testing::AvailableBackends()) {
    DYNAMIC_SECTION(market::testing::ToString(backend)) {
      TestDatabase database(backend);
      market::testing::ServerProcess server(
          {"--listen", "127.0.0.1:0", "--database", database.url(), "--log-level", "info"});
      INFO("server log: " << server.Log());
      REQUIRE(server.port() > 0);
      const int port = server.port();

      const std::string kJson = "application/json";
      Reply made = Call(port, http::verb::post, "/api/project/new",
                        R"({"projectName":"victim","operator":"root"})", kJson);
      REQUIRE(made.status == 200);
      Reply info_before = Call(port, http::verb::get, "/api/project/info?projectName=victim");
      REQUIRE(info_before.status == 200);

      const std::string arrays = NestedArrays(300000);   // 600 KB
      const std::string objects = NestedObjects(100000);  // 600 KB
      struct Body {
        std::string what;
        std::string text;
        std::string content_type;
      };
      const std::vector<Body> bodies = {
          {"nested arrays", arrays, kJson},
          {"nested objects", objects, kJson},
          {"nested arrays in a field", WithDeepField(arrays), kJson},
          {"nested objects in a field", WithDeepField(objects), kJson},
          {"nested objects in a field, no content type", WithDeepField(objects), ""},
          {"nested arrays in curl's mixed body", "method=x&" + WithDeepField(arrays), kJson},
      };
      for (const std::string target : {"/api/project/save", "/api/project/new",
                                       "/api/project/list", "/api/plugin/extension/interface"}) {
        for (const Body& body : bodies) {
          INFO(target << ": " << body.what);
          Reply reply = Call(port, http::verb::post, target, body.text, body.content_type);
          INFO("error: " << reply.error << "; reply: " << reply.body.substr(0, 400));
          CHECK(reply.status == 400);
          nlohmann::json answer = JsonOf(reply);
          CHECK(answer.value("code", 0) == 10006);
          CHECK_THAT(answer.value("errMsg", ""), Catch::Contains(std::string(kTooDeep)));
        }
      }

      // Still alive, still answering, and nothing changed.
      CHECK(server.Running());
      CHECK(Call(port, http::verb::get, "/healthz").status == 200);
      Reply info_after = Call(port, http::verb::get, "/api/project/info?projectName=victim");
      CHECK(info_after.status == 200);
      CHECK(JsonOf(info_after) == JsonOf(info_before));
      Reply intruder = Call(port, http::verb::get, "/api/project/info?projectName=intruder");
      CHECK(intruder.status == 404);
      Reply list = Call(port, http::verb::get, "/api/project/list");
      CHECK(JsonOf(list).value("total_count", -1) == 1);
    }
  }
}

// JSON parsers that stop at a NUL byte would read `{...}\0<more>` as the object before it and
// act on it; such text is not JSON, so the request is refused and changes nothing.
TEST_CASE("A JSON body with a NUL byte is refused as not JSON and changes nothing",
          "[process][limits]") {
  TestDatabase database(Backend::kSqlite);
  market::testing::ServerProcess server(
      {"--listen", "127.0.0.1:0", "--database", database.url(), "--log-level", "info"});
  INFO("server log: " << server.Log());
  REQUIRE(server.port() > 0);
  const int port = server.port();

  using namespace std::string_literals;
  const std::string body = R"({"projectName":"nulproject","operator":"root"})"s + '\0' +
                           R"({"ignored":true})";
  Reply reply = Call(port, http::verb::post, "/api/project/new", body, "application/json");
  INFO("reply: " << reply.body);
  CHECK(reply.status == 400);
  nlohmann::json answer = JsonOf(reply);
  CHECK(answer.value("code", 0) == 10006);
  CHECK_THAT(answer.value("errMsg", ""), Catch::Contains("not valid JSON"));
  CHECK(Call(port, http::verb::get, "/api/project/info?projectName=nulproject").status == 404);
  CHECK(server.Running());
}
