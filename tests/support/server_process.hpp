#pragma once
// Programs the tests run as child processes: market-server kept running, and any program run to
// its end with its output collected.

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "support/test_env.hpp"

namespace market::testing {

// The market-server binary: $MARKET_SERVER_BIN, else the one this build made.
std::string ServerBinary();

// market-server as a child process, its stdout and stderr appended to a log file (a file never
// blocks the server as a full pipe would). The constructor returns once the server logged
// "listening on 127.0.0.1:PORT" in this run, and throws std::runtime_error with the log when it
// exits first or takes over a minute. A failing test prints the tail of the log. The destructor
// stops a server still running: SIGTERM, then SIGKILL after 10 s.
class ServerProcess {
 public:
  enum class Start { kListening, kNoWait };  // kNoWait: a start-up that is expected to fail

  // `log_file` empty: a file of its own. `env` is set in the child's environment.
  explicit ServerProcess(std::vector<std::string> args, std::filesystem::path log_file = {},
                         std::vector<std::pair<std::string, std::string>> env = {},
                         Start start = Start::kListening);
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  pid_t pid() const { return pid_; }
  int port() const { return port_; }
  std::string url() const;  // http://127.0.0.1:PORT
  std::string Log() const;  // the whole log file
  void Signal(int signal_number) const;
  // The exit status (waitpid's) once the process ended within `timeout`.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  bool Running();
  // VmRSS of the process in KiB (0 when it cannot be read).
  long RssKib() const;

 private:
  TempDir dir_;
  std::filesystem::path log_file_;
  pid_t pid_ = -1;
  int port_ = 0;
  bool reaped_ = false;
};

struct RunResult {
  int status = -1;  // the exit code; 128 + the signal when a signal ended the process
  std::string out;
  std::string err;
};

// Runs `argv` (argv[0] looked up in PATH) to its end with `input` on its standard input (never on
// a command line: it may be a secret), the test's environment changed by `env` (an empty value
// removes the variable), and collects both outputs. Fails the test after `timeout`.
RunResult RunProgram(const std::vector<std::string>& argv, const std::string& input = "",
                     const std::map<std::string, std::string>& env = {},
                     std::chrono::milliseconds timeout = std::chrono::minutes(5));

}  // namespace market::testing
