#pragma once
// What the fault tests drive: the market-server binary as a child process, a throwaway
// PostgreSQL cluster the test may stop and restart, a small HTTP/1.1 client with timeouts (a
// hung server must fail a test, not hang it), a load generator and /proc helpers.

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

#include "support/test_env.hpp"

namespace market::fault {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// The market-server binary: $MARKET_SERVER_BIN, else the one this build made.
std::string ServerBinary();

// market-server as a child process; stdout and stderr go to `log_file`.
class ServerProcess {
 public:
  ServerProcess(std::vector<std::string> args, std::filesystem::path log_file,
                std::vector<std::pair<std::string, std::string>> env = {});
  ~ServerProcess();  // SIGKILL when still running
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  pid_t pid() const { return pid_; }
  int port() const { return port_; }
  std::string Log() const;
  void Signal(int signal_number) const;
  // The exit status (waitpid's) once the process ended within `timeout`.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  bool Running();
  // VmRSS of the process in KiB (0 when it cannot be read).
  long RssKib() const;

 private:
  std::filesystem::path log_file_;
  pid_t pid_ = -1;
  int port_ = 0;
  bool reaped_ = false;
};

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

struct Reply {
  int status = 0;     // 0: no answer (error says why)
  std::string error;  // transport error
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  std::chrono::milliseconds elapsed{0};

  bool answered() const { return status != 0; }
  int Code() const;             // the envelope's code, -1 when the body is not one
  nlohmann::json Json() const;  // discarded json when the body is not JSON
};

// One keep-alive HTTP/1.1 connection over a plain socket with send and receive timeouts;
// reconnects on the next request after the server closed it.
class HttpConn {
 public:
  explicit HttpConn(int port, std::chrono::milliseconds timeout = 15s);
  ~HttpConn();
  HttpConn(const HttpConn&) = delete;
  HttpConn& operator=(const HttpConn&) = delete;
  HttpConn(HttpConn&& other) noexcept;

  Reply Send(const std::string& method, const std::string& target, const std::string& body = "",
             const std::string& content_type = "",
             const std::vector<std::pair<std::string, std::string>>& headers = {});
  Reply Get(const std::string& target,
            const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    return Send("GET", target, "", "", headers);
  }
  Reply PostJson(const std::string& target, const nlohmann::json& body,
                 const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    return Send("POST", target, body.dump(), "application/json", headers);
  }
  bool Connect();  // connects now (true when connected)
  bool connected() const { return fd_ >= 0; }
  int reconnects() const { return reconnects_; }
  void Close();

 private:
  int port_;
  std::chrono::milliseconds timeout_;
  int fd_ = -1;
  int reconnects_ = -1;  // the first connect is not a reconnect
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
  using Op = std::function<std::pair<std::string, Reply>(int, int, HttpConn&)>;

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

// Polls `ready` every `step` until it holds or `timeout` passes.
bool WaitFor(const std::function<bool()>& ready, std::chrono::milliseconds timeout,
             std::chrono::milliseconds step = 100ms);

std::string ReadFile(const std::filesystem::path& path);

// Runs `argv` with `input` on its standard input (never on a command line: it may be a secret).
struct CommandResult {
  int status = -1;  // the exit code, -1 when it did not exit normally
  std::string out;
  std::string err;
};
CommandResult RunCommand(const std::vector<std::string>& argv, const std::string& input = "");
std::string UrlEncode(std::string_view text);

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
