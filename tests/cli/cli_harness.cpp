#include "cli_harness.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <regex>

extern char** environ;

namespace market::cli::testing {

namespace {

std::string EnvOr(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

// The current environment with `changes` applied, as execve wants it.
std::vector<std::string> MakeEnvironment(const std::map<std::string, std::string>& changes) {
  std::map<std::string, std::string> merged;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    std::string text = *entry;
    std::size_t eq = text.find('=');
    if (eq != std::string::npos) merged[text.substr(0, eq)] = text.substr(eq + 1);
  }
  for (const auto& [name, value] : changes) {
    if (value.empty()) {
      merged.erase(name);
    } else {
      merged[name] = value;
    }
  }
  std::vector<std::string> out;
  for (const auto& [name, value] : merged) out.push_back(name + "=" + value);
  return out;
}

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

int ExitCodeOf(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

std::string CliBinary() { return EnvOr("MARKET_CLI_BIN", MARKET_CLI_BINARY); }
std::string ServerBinary() { return EnvOr("MARKET_SERVER_BIN", MARKET_SERVER_BINARY); }

ServerProcess::ServerProcess(const std::vector<std::string>& extra) {
  std::vector<std::string> args = {ServerBinary(),
                                   "--listen",
                                   "127.0.0.1:0",
                                   "--database",
                                   "sqlite:" + (dir_.path() / "market.db").string(),
                                   "--workspace",
                                   (dir_.path() / "workspace").string(),
                                   "--log-level",
                                   "info",
                                   "--build-workers",
                                   "1"};
  args.insert(args.end(), extra.begin(), extra.end());
  int fds[2];
  REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
  pid_ = fork();
  REQUIRE(pid_ >= 0);
  if (pid_ == 0) {
    dup2(fds[1], STDERR_FILENO);
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, STDIN_FILENO);
    std::vector<char*> argv = Pointers(args);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(fds[1]);
  stderr_fd_ = fds[0];

  // The server logs "listening on 127.0.0.1:PORT" once it accepts connections.
  const std::regex listening(R"(listening on 127\.0\.0\.1:(\d+))");
  char buffer[4096];
  for (;;) {
    ssize_t n = read(stderr_fd_, buffer, sizeof buffer);
    if (n <= 0) break;
    log_.append(buffer, static_cast<std::size_t>(n));
    std::smatch match;
    if (std::regex_search(log_, match, listening)) {
      port_ = static_cast<std::uint16_t>(std::stoi(match[1]));
      break;
    }
  }
  INFO("server " << args[0] << " log: " << log_);
  REQUIRE(port_ != 0);
  drain_ = std::thread([this] {
    char chunk[4096];
    for (ssize_t n; (n = read(stderr_fd_, chunk, sizeof chunk)) > 0;) {
      std::lock_guard lock(mutex_);
      log_.append(chunk, static_cast<std::size_t>(n));
    }
  });
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  if (drain_.joinable()) drain_.join();  // the pipe closes when the server exits
  if (stderr_fd_ >= 0) close(stderr_fd_);
}

std::string ServerProcess::url() const { return "http://127.0.0.1:" + std::to_string(port_); }

std::string ServerProcess::Log() {
  std::lock_guard lock(mutex_);
  return log_;
}

RunResult RunMarket(const std::vector<std::string>& args,
                    const std::map<std::string, std::string>& env, const std::string& input) {
  std::vector<std::string> argv_strings = {CliBinary()};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<std::string> env_strings = MakeEnvironment(env);
  int in[2], out[2], err[2];
  REQUIRE(pipe2(in, O_CLOEXEC) == 0);
  REQUIRE(pipe2(out, O_CLOEXEC) == 0);
  REQUIRE(pipe2(err, O_CLOEXEC) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(in[0], STDIN_FILENO);
    dup2(out[1], STDOUT_FILENO);
    dup2(err[1], STDERR_FILENO);
    std::vector<char*> argv = Pointers(argv_strings);
    std::vector<char*> envp = Pointers(env_strings);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  close(err[1]);
  // The input is small (a pipeline file): it fits the pipe, so write it all, then close.
  std::size_t written = 0;
  signal(SIGPIPE, SIG_IGN);  // a client that exits without reading stdin must not kill the test
  while (written < input.size()) {
    ssize_t n = write(in[1], input.data() + written, input.size() - written);
    if (n <= 0) break;
    written += static_cast<std::size_t>(n);
  }
  close(in[1]);

  RunResult result;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_count = 2;
  while (open_count > 0) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buffer[8192];
      ssize_t n = read(fds[i].fd, buffer, sizeof buffer);
      if (n > 0) {
        sinks[i]->append(buffer, static_cast<std::size_t>(n));
      } else {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_count;
      }
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = ExitCodeOf(status);
  return result;
}

RunResult RunAgainst(const ServerProcess& server, const std::vector<std::string>& args,
                     const std::string& input) {
  return RunMarket(
      args, {{"MARKET_SERVER", server.url()}, {"MARKET_OPERATOR", "tester"}, {"MARKET_TOKEN", ""}},
      input);
}

OneRequestServer::OneRequestServer(std::string reply_body) : reply_body_(std::move(reply_body)) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(listen_fd_ >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  REQUIRE(listen(listen_fd_, 4) == 0);
  socklen_t length = sizeof address;
  REQUIRE(getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length) == 0);
  port_ = ntohs(address.sin_port);
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
