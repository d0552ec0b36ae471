#include "cli_harness.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <regex>

#include "support/ports.hpp"

namespace market::cli::testing {

std::string CliBinary() {
  const char* value = std::getenv("MARKET_CLI_BIN");
  return value != nullptr && *value != '\0' ? value : MARKET_CLI_BINARY;
}

ServerProcess::ServerProcess(const std::vector<std::string>& extra)
    : market::testing::ServerProcess([&] {
        const auto dir = market::testing::TempDir::path();
        std::vector<std::string> args = {"--listen",
                                         "127.0.0.1:0",
                                         "--database",
                                         "sqlite:" + (dir / "market.db").string(),
                                         "--workspace",
                                         (dir / "workspace").string(),
                                         "--log-level",
                                         "info",
                                         "--build-workers",
                                         "1"};
        args.insert(args.end(), extra.begin(), extra.end());
        return args;
      }()) {}

RunResult RunMarket(const std::vector<std::string>& args,
                    const std::map<std::string, std::string>& env, const std::string& input) {
  std::vector<std::string> argv = {CliBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  return market::testing::RunProgram(argv, input, env);
}

RunResult RunAgainst(const ServerProcess& server, const std::vector<std::string>& args,
                     const std::string& input) {
  return RunMarket(
      args, {{"MARKET_SERVER", server.url()}, {"MARKET_OPERATOR", "tester"}, {"MARKET_TOKEN", ""}},
      input);
}

OneRequestServer::OneRequestServer(std::string reply_body) : reply_body_(std::move(reply_body)) {
  listen_fd_ = market::testing::ListenLoopback(port_, 4);
  thread_ = std::thread([this] {
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return;
    // Headers, then Content-Length bytes of body.
    char buffer[4096];
    std::size_t wanted = std::string::npos;
    while (wanted == std::string::npos || request_.size() < wanted) {
      ssize_t n = read(fd, buffer, sizeof buffer);
      if (n <= 0) break;
      request_.append(buffer, static_cast<std::size_t>(n));
      std::size_t end = request_.find("\r\n\r\n");
      if (wanted == std::string::npos && end != std::string::npos) {
        std::smatch match;
        std::string head = request_.substr(0, end);
        std::size_t body = 0;
        if (std::regex_search(head, match,
                              std::regex(R"(Content-Length: (\d+))", std::regex::icase))) {
          body = std::stoul(match[1]);
        }
        wanted = end + 4 + body;
      }
    }
    std::string reply =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
        "Content-Length: " +
        std::to_string(reply_body_.size()) + "\r\n\r\n" + reply_body_;
    if (write(fd, reply.data(), reply.size()) < 0) request_ += "\n[reply not written]";
    close(fd);
  });
}

OneRequestServer::~OneRequestServer() {
  shutdown(listen_fd_, SHUT_RDWR);  // wakes accept when no client came
  if (thread_.joinable()) thread_.join();
  close(listen_fd_);
}

std::string OneRequestServer::url() const { return "http://127.0.0.1:" + std::to_string(port_); }

std::string OneRequestServer::Request() {
  if (thread_.joinable()) thread_.join();
  return request_;
}

}  // namespace market::cli::testing
