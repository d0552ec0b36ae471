#include "server_child.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <regex>

#ifndef MARKET_SERVER_BINARY
#error "MARKET_SERVER_BINARY must name the market-server binary"
#endif

namespace market::server::testing {

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

}  // namespace market::server::testing
