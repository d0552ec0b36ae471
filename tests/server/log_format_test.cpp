// The binary's logs: with --log-format json every line is a JSON object, the access line carries
// the request id and the route, and no secret from the request reaches the log.

#include <signal.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "support/http_client.hpp"
#include "support/server_process.hpp"
#include "support/test_env.hpp"

namespace {

// One request on its own connection, with headers that hold secrets; returns the status line.
std::string Send(int port, const std::string& target) {
  std::string response = market::testing::Exchange(
      port, "GET " + target +
                " HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: trace-me-123\r\n"
                "Authorization: Basic c2VjcmV0LXZhbHVl\r\nConnection: close\r\n\r\n");
  return response.substr(0, response.find("\r\n"));
}

// Runs the server with `args`, sends one request, stops it; returns everything it logged.
std::string RunOnce(const std::vector<std::string>& extra_args) {
  market::testing::TempDir dir;
  std::vector<std::string> args = {"--listen",    "127.0.0.1:0",
                                   "--database",  "sqlite:" + (dir.path() / "market.db").string(),
                                   "--log-level", "info"};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  market::testing::ServerProcess server(args);
  INFO("server log: " << server.Log());
  REQUIRE(server.port() > 0);
  CHECK(Send(server.port(), "/api/project/info?projectName=nope&password=hunter2") ==
        "HTTP/1.1 404 Not Found");
  REQUIRE(kill(server.pid(), SIGTERM) == 0);
  auto status = server.Wait(std::chrono::seconds(60));
  REQUIRE(status.has_value());
  CHECK(WIFEXITED(*status));
  return server.Log();
}

}  // namespace

TEST_CASE("log-format json writes one JSON object a line with the request id", "[process][log]") {
  std::string log = RunOnce({"--log-format", "json"});
  INFO("server log: " << log);
  CHECK(log.find("hunter2") == std::string::npos);
  CHECK(log.find("c2VjcmV0") == std::string::npos);

  std::istringstream lines(log);
  std::string line;
  std::regex iso_utc(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)");
  int parsed_lines = 0;
  bool saw_access = false;
  bool saw_core = false;
  while (std::getline(lines, line)) {
    INFO("line: " << line);
    nlohmann::json entry = nlohmann::json::parse(line, nullptr, false);
    REQUIRE_FALSE(entry.is_discarded());
    ++parsed_lines;
    REQUIRE(entry.contains("time"));
    CHECK(std::regex_match(entry["time"].get<std::string>(), iso_utc));
    CHECK(entry["level"].is_string());
    CHECK(entry["msg"].is_string());
    CHECK(entry["logger"].is_string());
    if (entry["logger"] == "core") saw_core = true;
    if (entry.value("request_id", "") == "trace-me-123" && entry.contains("status")) {
      saw_access = true;
      CHECK(entry["level"] == "info");
      CHECK(entry["method"] == "GET");
      CHECK(entry["path"] == "/api/project/info");
      CHECK(entry["route"] == "/api/project/info");
      CHECK(entry["status"] == 404);
      CHECK(entry["duration_ms"].is_number());
      CHECK(entry["bytes"].get<std::int64_t>() > 0);
      CHECK(entry["client"].get<std::string>().starts_with("127.0.0.1:"));
    }
  }
  CHECK(parsed_lines >= 3);
  CHECK(saw_access);
  CHECK(saw_core);  // libmarket's lines come through the same formatter
}

TEST_CASE("text logs carry the request id and the route on the access line", "[process][log]") {
  std::string log = RunOnce({});
  INFO("server log: " << log);
  CHECK(log.find("hunter2") == std::string::npos);
  CHECK(log.find("c2VjcmV0") == std::string::npos);
  std::regex access(
      R"([^\n]* info \[\d+\] \[rid=trace-me-123\] 127\.0\.0\.1:\d+ GET /api/project/info 404 [0-9.]+ms \d+B route=/api/project/info\n)");
  CHECK(std::regex_search(log, access));
}
