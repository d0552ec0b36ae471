// The binary as a subprocess: SIGTERM lets a request in flight finish, then the process exits 0.

#include <signal.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/http_client.hpp"
#include "support/server_process.hpp"
#include "support/test_env.hpp"

using market::testing::ServerProcess;

TEST_CASE("SIGTERM finishes the request in flight and exits 0", "[process]") {
  market::testing::TempDir dir;
  ServerProcess server({"--listen", "127.0.0.1:0", "--database",
                        "sqlite:" + (dir.path() / "market.db").string(), "--log-level", "info"});
  INFO("server log: " << server.Log());
  REQUIRE(server.port() > 0);

  market::testing::RawConnection socket(server.port());
  std::string body = R"({"projectName": "inflight", "operator": "root"})";
  std::string head =
      "POST /api/project/new HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n";
  // Headers and half the body, then SIGTERM: the request is in flight.
  REQUIRE(socket.Write(head + body.substr(0, 10)));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  REQUIRE(kill(server.pid(), SIGTERM) == 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  REQUIRE(socket.Write(body.substr(10)));

  std::string response = socket.ReadAll();  // until the server closes
  INFO("response: " << response);
  CHECK(response.starts_with("HTTP/1.1 200"));
  std::size_t json_start = response.find("\r\n\r\n");
  REQUIRE(json_start != std::string::npos);
  auto parsed = nlohmann::json::parse(response.substr(json_start + 4), nullptr, false);
  REQUIRE_FALSE(parsed.is_discarded());
  CHECK(parsed["code"] == 10000);

  auto status = server.Wait(std::chrono::seconds(60));
  REQUIRE(status.has_value());
  INFO("server log: " << server.Log());
  CHECK(WIFEXITED(*status));
  CHECK(WEXITSTATUS(*status) == 0);
}

TEST_CASE("bad configuration stops the binary with a message naming the key", "[process]") {
  ServerProcess server({"--max-connections", "none"}, {}, {}, ServerProcess::Start::kNoWait);
  auto status = server.Wait(std::chrono::seconds(60));
  REQUIRE(status.has_value());
  CHECK(WIFEXITED(*status));
  CHECK(WEXITSTATUS(*status) == 2);
  CHECK_THAT(server.Log(), Catch::Contains("--max-connections"));
}
