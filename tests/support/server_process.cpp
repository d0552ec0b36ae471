#include "support/server_process.hpp"

// The listener below needs Catch's reporter interfaces.
#define CATCH_CONFIG_EXTERNAL_INTERFACES
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <stdexcept>
#include <thread>

#ifndef MARKET_SERVER_BINARY
#error "MARKET_SERVER_BINARY must name the market-server binary"
#endif

extern char** environ;

namespace market::testing {

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Whether an assertion of the running test case failed: a failing test then prints the tail of
// its server's log (ctest --output-on-failure shows it), a passing one stays quiet.
std::atomic<bool> g_test_failed{false};

class FailureListener : public Catch::TestEventListenerBase {
 public:
  using TestEventListenerBase::TestEventListenerBase;
  void testCaseStarting(const Catch::TestCaseInfo& info) override {
    g_test_failed = false;
    TestEventListenerBase::testCaseStarting(info);
  }
  bool assertionEnded(const Catch::AssertionStats& stats) override {
    if (!stats.assertionResult.isOk()) g_test_failed = true;
    return TestEventListenerBase::assertionEnded(stats);
  }
};

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
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

int ExitCodeOf(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

CATCH_REGISTER_LISTENER(FailureListener)

std::string ServerBinary() {
  const char* env = std::getenv("MARKET_SERVER_BIN");
  return env != nullptr && *env != '\0' ? env : MARKET_SERVER_BINARY;
}

// ---- ServerProcess ----

ServerProcess::ServerProcess(std::vector<std::string> args, std::filesystem::path log_file,
                             std::vector<std::pair<std::string, std::string>> env, Start start)
    : log_file_(log_file.empty() ? dir_.path() / "server.log" : std::move(log_file)) {
  // A log file may be shared by runs one after the other: this run's lines start here.
  std::error_code ec;
  const auto offset = std::filesystem::exists(log_file_, ec) ? std::filesystem::file_size(log_file_, ec) : 0;
  std::string binary = ServerBinary();
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    int fd = ::open(log_file_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (fd < 0 || devnull < 0) ::_exit(126);
    ::dup2(devnull, STDIN_FILENO);
    ::dup2(fd, STDOUT_FILENO);
    ::dup2(fd, STDERR_FILENO);
    for (const auto& [name, value] : env) ::setenv(name.c_str(), value.c_str(), 1);
    args.insert(args.begin(), binary);
    std::vector<char*> argv = Pointers(args);
    ::execv(binary.c_str(), argv.data());
    ::_exit(127);
  }
  if (start == Start::kNoWait) return;
  const std::regex listening(R"(listening on 127\.0\.0\.1:(\d+))");
  // Generous: a sanitizer build starts slowly and runs its migrations slowly.
  auto deadline = Clock::now() + 60s;
  while (Clock::now() < deadline) {
    std::string log = Log();
    log.erase(0, std::min<std::size_t>(offset, log.size()));
    std::smatch match;
    if (std::regex_search(log, match, listening)) {
      port_ = std::stoi(match[1]);
      return;
    }
    if (!Running()) {
      throw std::runtime_error("market-server exited before listening; its log:\n" + log);
    }
    std::this_thread::sleep_for(20ms);
  }
  std::string log = Log();
  ::kill(pid_, SIGKILL);
  Wait(10s);
  throw std::runtime_error("market-server did not listen within 60 s; its log:\n" + log);
}

ServerProcess::~ServerProcess() {
  if (g_test_failed || std::uncaught_exceptions() > 0) {
    std::string log = Log();
    if (log.size() > 12000) log = "...\n" + log.substr(log.size() - 12000);
    std::fprintf(stderr, "---- market-server log (%s) ----\n%s---- end of log ----\n",
                 log_file_.c_str(), log.c_str());
  }
  if (pid_ > 0 && !reaped_) {
    ::kill(pid_, SIGTERM);
    if (!Wait(10s)) {
      ::kill(pid_, SIGKILL);
      Wait(30s);
    }
  }
}

std::string ServerProcess::url() const { return "http://127.0.0.1:" + std::to_string(port_); }

std::string ServerProcess::Log() const { return ReadFileOrEmpty(log_file_); }

void ServerProcess::Signal(int signal_number) const {
  if (!reaped_) ::kill(pid_, signal_number);
}

std::optional<int> ServerProcess::Wait(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      return status;
    }
    if (r < 0 || Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(20ms);
  }
}

bool ServerProcess::Running() {
  if (reaped_) return false;
  return !Wait(0ms).has_value();
}

long ServerProcess::RssKib() const {
  std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return 0;
}

// ---- RunProgram ----

RunResult RunProgram(const std::vector<std::string>& argv, const std::string& input,
                     const std::map<std::string, std::string>& env,
                     std::chrono::milliseconds timeout) {
  std::vector<std::string> argv_strings = argv;
  std::vector<std::string> env_strings = MakeEnvironment(env);
  int in[2], out[2], err[2];
  REQUIRE(::pipe2(in, O_CLOEXEC) == 0);
  REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
  REQUIRE(::pipe2(err, O_CLOEXEC) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(in[0], STDIN_FILENO);
    ::dup2(out[1], STDOUT_FILENO);
    ::dup2(err[1], STDERR_FILENO);
    std::vector<char*> args = Pointers(argv_strings);
    std::vector<char*> envp = Pointers(env_strings);
    ::execvpe(args[0], args.data(), envp.data());
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  // The input is small (a pipeline file, a password): it fits the pipe, so write it all, then
  // close. A program that exits without reading it must not kill the test with SIGPIPE.
  ::signal(SIGPIPE, SIG_IGN);
  std::size_t written = 0;
  while (written < input.size()) {
    ssize_t n = ::write(in[1], input.data() + written, input.size() - written);
    if (n <= 0) break;
    written += static_cast<std::size_t>(n);
  }
  ::close(in[1]);

  RunResult result;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_count = 2;
  const auto deadline = Clock::now() + timeout;
  while (open_count > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    int ready = ::poll(fds, 2, static_cast<int>(std::max<long>(left.count(), 0)));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      for (pollfd& fd : fds) {
        if (fd.fd >= 0) ::close(fd.fd);
      }
      FAIL(argv[0] << " did not finish in time; its output: " << result.out << result.err);
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buffer[8192];
      ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n > 0) {
        sinks[i]->append(buffer, static_cast<std::size_t>(n));
      } else {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_count;
      }
    }
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  result.status = ExitCodeOf(status);
  return result;
}

}  // namespace market::testing
