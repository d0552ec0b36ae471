// The binary as a subprocess: SIGTERM lets a request in flight finish, then the process exits 0.

#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <regex>
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
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

// Reads the child's log until the "listening on HOST:PORT" line; returns the port.
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

}  // namespace

TEST_CASE("SIGTERM finishes the request in flight and exits 0", "[process]") {
  market::testing::TempDir dir;
  Child child = Spawn({"--listen", "127.0.0.1:0", "--database",
                       "sqlite:" + (dir.path() / "market.db").string(), "--log-level", "info"});
  std::string log;
  int port = WaitForPort(child.stderr_fd, log);
  INFO("server log: " << log);
  REQUIRE(port > 0);

  net::io_context io;
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
  std::string body = R"({"projectName": "inflight", "operator": "root"})";
  std::string head = "POST /api/project/new HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  // Headers and half the body, then SIGTERM: the request is in flight.
  net::write(socket, net::buffer(head + body.substr(0, 10)));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  REQUIRE(kill(child.pid, SIGTERM) == 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  net::write(socket, net::buffer(body.substr(10)));

  std::string response;
  boost::system::error_code ec;
  net::read(socket, net::dynamic_buffer(response), ec);  // until the server closes
  INFO("response: " << response);
  CHECK(response.starts_with("HTTP/1.1 200"));
  std::size_t json_start = response.find("\r\n\r\n");
  REQUIRE(json_start != std::string::npos);
  auto parsed = nlohmann::json::parse(response.substr(json_start + 4), nullptr, false);
  REQUIRE_FALSE(parsed.is_discarded());
  CHECK(parsed["code"] == 10000);

  int status = 0;
  REQUIRE(waitpid(child.pid, &status, 0) == child.pid);
  char buffer[4096];
  for (ssize_t n; (n = read(child.stderr_fd, buffer, sizeof buffer)) > 0;) {
    log.append(buffer, static_cast<std::size_t>(n));
  }
  close(child.stderr_fd);
  INFO("server log: " << log);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("bad configuration stops the binary with a message naming the key", "[process]") {
  Child child = Spawn({"--max-connections", "none"});
  std::string log;
  char buffer[4096];
  for (ssize_t n; (n = read(child.stderr_fd, buffer, sizeof buffer)) > 0;) {
    log.append(buffer, static_cast<std::size_t>(n));
  }
  close(child.stderr_fd);
  int status = 0;
  REQUIRE(waitpid(child.pid, &status, 0) == child.pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 2);
  CHECK_THAT(log, Catch::Contains("--max-connections"));
}
