#pragma once
// Runs the real `market` binary against a real market-server subprocess (a free loopback port,
// a temporary SQLite database), capturing exit codes and output.

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "support/test_env.hpp"

namespace market::cli::testing {

struct RunResult {
  int exit_code = -1;  // 128 + signal when the process was killed
  std::string out;
  std::string err;
};

// The binaries: MARKET_CLI_BIN / MARKET_SERVER_BIN, else the build tree's.
std::string CliBinary();
std::string ServerBinary();

// A market-server on 127.0.0.1:<free port>, stopped with SIGTERM by the destructor.
class ServerProcess {
 public:
  // `extra` flags are appended (e.g. --registry ...).
  explicit ServerProcess(const std::vector<std::string>& extra = {});
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  std::uint16_t port() const { return port_; }
  std::string url() const;
  std::string Log();  // what the server wrote so far (for failure messages)

 private:
  market::testing::TempDir dir_;
  pid_t pid_ = -1;
  int stderr_fd_ = -1;
  std::uint16_t port_ = 0;
  std::mutex mutex_;
  std::string log_;
  std::thread drain_;  // keeps reading the server's log so it never blocks on a full pipe
};

// Runs `market args...` with `env` (names mapped to values; an empty value removes the
// variable) over the test's environment, and `input` on its stdin.
RunResult RunMarket(const std::vector<std::string>& args,
                    const std::map<std::string, std::string>& env = {},
                    const std::string& input = "");

// `market` talking to `server` as operator "tester".
RunResult RunAgainst(const ServerProcess& server, const std::vector<std::string>& args,
                     const std::string& input = "");

// A loopback listener that answers one request with `reply_body` (JSON, HTTP 200) and keeps
// the raw request text, so a test sees exactly what the client sent.
class OneRequestServer {
 public:
  explicit OneRequestServer(std::string reply_body);
  ~OneRequestServer();
  OneRequestServer(const OneRequestServer&) = delete;
  OneRequestServer& operator=(const OneRequestServer&) = delete;

  std::string url() const;
  std::string Request();  // waits for the exchange to end

 private:
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::string reply_body_;
  std::string request_;
  std::thread thread_;
};

}  // namespace market::cli::testing
