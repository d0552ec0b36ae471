#pragma once
// What the fault tests drive besides tests/support's server process and HTTP client: a throwaway
// PostgreSQL cluster the test may stop and restart, a load generator and a git server.

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "support/http_client.hpp"
#include "support/ports.hpp"
#include "support/server_process.hpp"
#include "support/test_env.hpp"

namespace market::fault {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

using market::testing::HttpClient;
using market::testing::ReadFileOrEmpty;
using market::testing::Reply;
using market::testing::RunProgram;
using market::testing::RunResult;
using market::testing::ServerBinary;
using market::testing::ServerProcess;
using market::testing::UrlEncode;
using market::testing::WaitFor;

// A PostgreSQL 15 cluster of its own on a free loopback port (initdb + pg_ctl, as the postgres
// account when running as root), so a test can stop and restart it.
class PgCluster {
 public:
  PgCluster();   // initdb and start; throws std::runtime_error when that fails
  ~PgCluster();  // immediate stop
  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;

  static bool Available();  // the PostgreSQL 15 binaries are installed
  std::string Url() const;
  void Start();
  void Stop(const std::string& mode = "fast");
  // SIGSTOP / SIGCONT to the postmaster and every backend: the server hangs with its TCP
  // connections up (the kernel still acknowledges), as a hung or swapped-out host does.
  // The destructor thaws a frozen cluster before stopping it.
  void Freeze();
  void Thaw();
  // One value from psql -Atc `sql` (throws when psql fails).
  std::string Query(const std::string& sql) const;

 private:
  void SignalAll(int signal_number);

  market::testing::TempDir dir_;
  int port_ = 0;
  bool running_ = false;
  bool frozen_ = false;
};

// A few client threads, each on its own keep-alive connection, running `op` in a loop and
// recording every outcome.
class Load {
 public:
  struct Sample {
    int thread = 0;
    std::string what;
    Clock::time_point start;
    Reply reply;
  };
  // `op(thread, iteration, conn)` makes one request and says what it was.
  using Op = std::function<std::pair<std::string, Reply>(int, int, HttpClient&)>;

  Load(int port, int threads, Op op, std::chrono::milliseconds timeout = 15s,
       std::chrono::milliseconds pause = 0ms);
  ~Load();  // stops
  void Stop();
  std::vector<Sample> Samples();  // a copy

 private:
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<Sample> samples_;
  std::vector<std::thread> threads_;
};

// SIGTERM to `server`, then checks that it exits with status 0 within 60 s.
void ExpectCleanStop(ServerProcess& server);

// A git repository served over smart HTTP (git http-backend as CGI) behind HTTP Basic auth, on
// a free loopback port. Requests without the right credentials get 401.
class GitHttpServer {
 public:
  GitHttpServer(std::string user, std::string password);
  ~GitHttpServer();
  GitHttpServer(const GitHttpServer&) = delete;
  GitHttpServer& operator=(const GitHttpServer&) = delete;

  std::string Url() const;  // http://127.0.0.1:PORT/repo.git
  int authorized_requests() const { return authorized_; }
  int refused_requests() const { return refused_; }

 private:
  void Serve();
  void Handle(int client);

  std::string user_;
  std::string password_;
  market::testing::TempDir dir_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<int> authorized_{0};
  std::atomic<int> refused_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace market::fault
