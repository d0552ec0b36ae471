// The binary's logs: with --log-format json every line is a JSON object, the access line carries
// the request id and the route, and no secret from the request reaches the log.

#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <regex>
#include <sstream>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <nlohmann/json.hpp>

#include "support/test_env.hpp"

#ifndef MARKET_SERVER_BINARY
#error "MARKET_SERVER_BINARY must name the market-server binary"
#endif

namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;

struct Child {
  pid_t pid = -1;
  int stderr_fd = -1;
};

Child Spawn(const std::vector<std::string>& args) {
  int pipe_fds[2];
  REQUIRE(pipe(pipe_fds) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(pipe_fds[1], STDERR_FILENO);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    std::vector<char*> argv;
    std::string binary = MARKET_SERVER_BINARY;
    argv.push_back(binary.data());
    std::vector<std::string> copy = args;
    for (std::string& arg : copy) argv.push_back(arg.data());
    argv.push_back(nullptr);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  close(pipe_fds[1]);
  return Child{pid, pipe_fds[0]};
}

int WaitForPort(int fd, std::string& log) {
  std::regex listening(R"(listening on 127\.0\.0\.1:(\d+))");
  char buffer[4096];
  for (;;) {
    ssize_t n = read(fd, buffer, sizeof buffer);
    if (n <= 0) return -1;
    log.append(buffer, static_cast<std::size_t>(n));
    std::smatch match;
    if (std::regex_search(log, match, listening)) return std::stoi(match[1]);
  }
}

// One request on its own connection, with headers that hold secrets; returns the status line.
std::string Send(int port, const std::string& target) {
  net::io_context io;
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
  std::string request = "GET " + target +
                        " HTTP/1.1\r\nHost: x\r\nX-Request-Id: trace-me-123\r\n"
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
  std::vector<std::string> args = {"--listen", "127.0.0.1:0", "--database",
                                   "sqlite:" + (dir.path() / "market.db").string(),
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
  std::regex access(R"([^\n]* info \[\d+\] \[rid=trace-me-123\] 127\.0\.0\.1:\d+ GET /api/project/info 404 [0-9.]+ms \d+B route=/api/project/info\n)");
  CHECK(std::regex_search(log, access));
}
