// The binary as a subprocess: SIGTERM lets a request in flight finish, then the process exits 0.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <thread>

#include "server_child.hpp"
#include "support/test_env.hpp"

namespace {

using market::server::testing::Child;
using market::server::testing::Spawn;
using market::server::testing::WaitForPort;

namespace net = boost::asio;
using tcp = net::ip::tcp;

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
  socket.connect(
      tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
  std::string body = R"({"projectName": "inflight", "operator": "root"})";
  std::string head =
      "POST /api/project/new HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n";
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
