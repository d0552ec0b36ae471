// The binary's logs: with --log-format json every line is a JSON object, the access line carries
// the request id and the route, and no secret from the request reaches the log.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "server_child.hpp"
#include "support/test_env.hpp"

namespace {

using market::server::testing::Child;
using market::server::testing::Spawn;
using market::server::testing::WaitForPort;

namespace net = boost::asio;
using tcp = net::ip::tcp;

// One request on its own connection, with headers that hold secrets; returns the status line.
std::string Send(int port, const std::string& target) {
  net::io_context io;
  tcp::socket socket(io);
  socket.connect(
      tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
  std::string request = "GET " + target +
                        " HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: trace-me-123\r\n"
                        "Authorization: Basic c2VjcmV0LXZhbHVl\r\nConnection: close\r\n\r\n";
  net::write(socket, net::buffer(request));
  std::string response;
  boost::system::error_code ec;
  net::read(socket, net::dynamic_buffer(response), ec);
  return response.substr(0, response.find("\r\n"));
}

// Runs the server with `args`, sends one request, stops it; returns everything it logged.
std::string RunOnce(const std::vector<std::string>& extra_args) {
  market::testing::TempDir dir;
  std::vector<std::string> args = {"--listen",    "127.0.0.1:0",
                                   "--database",  "sqlite:" + (dir.path() / "market.db").string(),
                                   "--log-level", "info"};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  Child child = Spawn(args);
  std::string log;
  int port = WaitForPort(child.stderr_fd, log);
  INFO("server log: " << log);
  REQUIRE(port > 0);
  CHECK(Send(port, "/api/project/info?projectName=nope&password=hunter2") ==
        "HTTP/1.1 404 Not Found");
  REQUIRE(kill(child.pid, SIGTERM) == 0);
  int status = 0;
  REQUIRE(waitpid(child.pid, &status, 0) == child.pid);
  char buffer[4096];
  for (ssize_t n; (n = read(child.stderr_fd, buffer, sizeof buffer)) > 0;) {
    log.append(buffer, static_cast<std::size_t>(n));
  }
  close(child.stderr_fd);
  CHECK(WIFEXITED(status));
  return log;
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
