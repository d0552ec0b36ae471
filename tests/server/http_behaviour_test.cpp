// Connection behaviour: keep-alive, request ids, header timeout (slow loris), connection limit,
// health probes, authentication.

#include <catch2/catch.hpp>

#include <fstream>
#include <set>
#include <thread>

#include "auth.hpp"
#include "server_harness.hpp"

namespace market::server::testing {
TEST_CASE("keep-alive: many requests on one connection, each with its own request id", "[http]") {
  TestServer server;
  TestClient client(server.port());
  std::set<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    Reply reply = client.Get("/healthz");
    CHECK(reply.status == 200);
    CHECK(reply.Header("connection") != "close");
    ids.insert(reply.Header("x-request-id"));
  }
  CHECK(ids.size() == 5);
  Reply given = client.Get("/api/project/list", {{"X-Request-Id", "abc-123"}});
  CHECK(given.Header("x-request-id") == "abc-123");
  std::string unsafe_id = "bad id with spaces and <html>";
  Reply unsafe = client.Get("/api/project/list", {{"X-Request-Id", unsafe_id}});
  CHECK(unsafe.Header("x-request-id") != unsafe_id);
  CHECK_FALSE(unsafe.Header("x-request-id").empty());
  Reply too_long = client.Get("/api/project/list", {{"X-Request-Id", std::string(200, 'a')}});
  CHECK(too_long.Header("x-request-id").size() < 200);
}

TEST_CASE("a malformed request gets 400 and the connection is closed", "[http]") {
  TestServer server;
  std::string response =
      market::testing::Exchange(server.port(), "GET /healthz HTTP/1.1\r\nHost: x\r\nBad\x01Name: 1\r\n\r\n");
  CHECK(response.starts_with("HTTP/1.1 400"));
  CHECK_THAT(response, Catch::Contains("10006"));
}

TEST_CASE("a slow-loris client is cut off", "[http]") {
  // header-timeout is 2 s in the harness: the whole header must arrive within it.
  TestServer server;
  market::testing::RawConnection socket(server.port());
  REQUIRE(socket.Write("GET /healthz HTTP/1.1\r\nHost: x\r\n"));
  bool cut = false;
  auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start < std::chrono::seconds(20)) {
    if (!socket.Write("X-Slow: a\r\n") || socket.Readable(std::chrono::milliseconds(0))) {
      cut = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  CHECK(cut);
  // The server still serves others.
  TestClient client(server.port());
  CHECK(client.Get("/healthz").status == 200);
}

TEST_CASE("an idle keep-alive connection is closed after the idle timeout", "[http]") {
  TestServer server(market::testing::Backend::kSqlite,
                    [](ServerConfig& config) { config.idle_timeout = std::chrono::seconds(1); });
  TestClient client(server.port());
  CHECK(client.Get("/healthz").status == 200);
  CHECK(client.ClosedByServer(std::chrono::seconds(10)));
}

TEST_CASE("connections over max-connections are refused", "[http]") {
  TestServer server(market::testing::Backend::kSqlite,
                    [](ServerConfig& config) { config.max_connections = 2; });
  TestClient first(server.port());
  TestClient second(server.port());
  CHECK(first.Get("/healthz").status == 200);
  CHECK(second.Get("/healthz").status == 200);
  TestClient third(server.port());
  CHECK(third.ClosedByServer(std::chrono::seconds(10)));
  // Existing connections keep working.
  CHECK(first.Get("/healthz").status == 200);
}

TEST_CASE("health and readiness", "[http]") {
  TestServer server;
  TestClient client(server.port());
  Reply health = client.Get("/healthz");
  CHECK(health.status == 200);
  CHECK(health.Json()["status"] == "ok");
  Reply ready = client.Get("/readyz");
  CHECK(ready.status == 200);
  CHECK(ready.Json()["checks"]["database"] == "ok");
  CHECK(ready.Json()["checks"]["registry"] == "not configured");
}

TEST_CASE("with authentication on, the identity is the operator", "[http][auth]") {
  market::testing::TempDir dir;
  std::string users = (dir.path() / "users").string();
  {
    auto hash = HashPassword("pa55word");
    REQUIRE(hash);
    std::ofstream(users) << "# users\ndave:" << *hash << ":developer\n";
  }
  TestServer server(market::testing::Backend::kSqlite, [&](ServerConfig& config) {
    config.auth = true;
    config.auth_users_file = users;
  });
  TestClient client(server.port());
  Reply anonymous = client.PostJson("/api/project/new", {{"projectName", "a"}, {"operator", "x"}});
  CHECK(anonymous.status == 401);
  CHECK(anonymous.Code() == 10018);
  // No credentials: a Bearer challenge, so that a browser shows no login dialog of its own.
  CHECK_THAT(anonymous.Header("www-authenticate"), Catch::StartsWith("Bearer"));
  Reply wrong = client.PostJson("/api/project/new", {{"projectName", "a"}, {"operator", "x"}},
                                {{"Authorization", "Basic ZGF2ZTpub3BlCg=="}});
  CHECK(wrong.status == 401);
  CHECK_THAT(wrong.Header("www-authenticate"), Catch::StartsWith("Basic"));  // it sent Basic
  // dave:pa55word
  Headers auth = {{"Authorization", "Basic ZGF2ZTpwYTU1d29yZA=="}};
  // Naming another operator is for admins only.
  Reply spoofed = client.PostJson("/api/project/new", {{"projectName", "a"}, {"operator", "x"}}, auth);
  CHECK(spoofed.Code() == 10019);
  Reply created = client.PostJson("/api/project/new", {{"projectName", "a"}}, auth);
  CHECK(created.Code() == 10000);
  Reply info = client.Get("/api/project/info?projectName=a", auth);
  CHECK(info.Json()["content"]["creator"] == "dave");
  CHECK(client.Get("/healthz").status == 200);  // probes need no credentials
}

}  // namespace market::server::testing
