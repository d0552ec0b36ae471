#pragma once
// Runs the real `market` binary against a real market-server subprocess (a free loopback port,
// a temporary SQLite database), capturing exit codes and output.

#include <cstdint>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "support/server_process.hpp"
#include "support/test_env.hpp"

namespace market::cli::testing {

using market::testing::RunResult;

// The `market` binary: MARKET_CLI_BIN, else the build tree's.
std::string CliBinary();

// A market-server on 127.0.0.1:<free port> with a temporary SQLite database and workspace.
class ServerProcess : private market::testing::TempDir, public market::testing::ServerProcess {
 public:
  // `extra` flags are appended (e.g. --registry ...).
  explicit ServerProcess(const std::vector<std::string>& extra = {});
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
  int port_ = 0;
  std::string reply_body_;
  std::string request_;
  std::thread thread_;
};

}  // namespace market::cli::testing
