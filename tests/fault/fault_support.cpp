#include "fault/fault_support.hpp"

#include "base64.hpp"
#include "support/ports.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace market::fault {

using market::testing::Dechunk;
using market::testing::Lower;
using market::testing::MessageHead;
using market::testing::ParseHead;
using market::testing::ReadMore;
using market::testing::Trim;
using market::testing::WriteAll;

namespace {

constexpr const char* kPgBin = "/usr/lib/postgresql/15/bin";

// Runs a shell command; throws with its output when it fails.
std::string Shell(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("cannot run " + command);
  char buffer[512];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) out += buffer;
  int status = ::pclose(pipe);
  if (status != 0) throw std::runtime_error("command failed: " + command + "\n" + out);
  return out;
}

std::string AsPostgres(const std::string& command) {
  return ::geteuid() == 0 ? "runuser -u postgres -- " + command : command;
}

}  // namespace

// ---- PgCluster ----

bool PgCluster::Available() {
  return std::filesystem::exists(std::string(kPgBin) + "/initdb") &&
         std::filesystem::exists("/usr/bin/psql");
}

PgCluster::PgCluster() {
  port_ = market::testing::FreeLoopbackPort();
  const auto pg = dir_.path() / "pg";
  std::filesystem::create_directories(pg);
  std::filesystem::permissions(dir_.path(), std::filesystem::perms(0755));
  if (::geteuid() == 0) Shell("chown postgres " + pg.string());
  Shell(AsPostgres(std::string(kPgBin) + "/initdb -D " + (pg / "data").string() +
                   " -A trust -U postgres -E UTF8"));
  Start();
}

PgCluster::~PgCluster() {
  if (frozen_) Thaw();
  if (running_) {
    try {
      Stop("immediate");
    } catch (const std::exception&) {
      // The folder goes anyway; a cluster left behind would only hold a free port.
    }
  }
}

std::string PgCluster::Url() const {
  return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/postgres";
}

void PgCluster::Start() {
  const auto pg = dir_.path() / "pg";
  Shell(AsPostgres(std::string(kPgBin) + "/pg_ctl -D " + (pg / "data").string() + " -l " +
                   (pg / "server.log").string() + " -w -t 60 -o \"-p " + std::to_string(port_) +
                   " -k " + pg.string() +
                   " -c listen_addresses=127.0.0.1 -c max_connections=100 -c fsync=off\" start"));
  running_ = true;
}

void PgCluster::Stop(const std::string& mode) {
  Shell(AsPostgres(std::string(kPgBin) + "/pg_ctl -D " + (dir_.path() / "pg" / "data").string() +
                   " -m " + mode + " -w -t 60 stop"));
  running_ = false;
}

void PgCluster::Freeze() {
  SignalAll(SIGSTOP);
  frozen_ = true;
}

void PgCluster::Thaw() {
  SignalAll(SIGCONT);
  frozen_ = false;
}

void PgCluster::SignalAll(int signal_number) {
  // The postmaster's PID is the first line of postmaster.pid; the backends are its children.
  std::string pid_file = ReadFileOrEmpty(dir_.path() / "pg" / "data" / "postmaster.pid");
  pid_t postmaster = static_cast<pid_t>(std::stol(pid_file.substr(0, pid_file.find('\n'))));
  std::vector<pid_t> pids{postmaster};
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string stat = ReadFileOrEmpty(entry.path() / "stat");
    // pid (comm) state ppid ...: comm may hold spaces, so parse after the last ')'.
    auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 1));
    std::string state;
    long ppid = 0;
    rest >> state >> ppid;
    if (ppid == postmaster) pids.push_back(static_cast<pid_t>(std::stol(name)));
  }
  // Children first on SIGSTOP, so none sees its parent stopped while it still runs.
  for (auto it = pids.rbegin(); it != pids.rend(); ++it) ::kill(*it, signal_number);
}

std::string PgCluster::Query(const std::string& sql) const {
  return Trim(Shell("psql -h 127.0.0.1 -p " + std::to_string(port_) +
                    " -U postgres -d postgres -Atc \"" + sql + "\""));
}

void ExpectCleanStop(ServerProcess& server) {
  server.Signal(SIGTERM);
  auto status = server.Wait(60s);
  REQUIRE(status.has_value());
  CHECK(WIFEXITED(*status));
  CHECK(WEXITSTATUS(*status) == 0);
}

// ---- Load ----

Load::Load(int port, int threads, Op op, std::chrono::milliseconds timeout,
           std::chrono::milliseconds pause) {
  for (int t = 0; t < threads; ++t) {
    threads_.emplace_back([this, t, port, op, timeout, pause] {
      HttpClient conn(port, timeout);
      for (int i = 0; !stop_; ++i) {
        Sample sample;
        sample.thread = t;
        sample.start = Clock::now();
        auto [what, reply] = op(t, i, conn);
        sample.what = std::move(what);
        sample.reply = std::move(reply);
        bool failed = !sample.reply.answered();
        {
          std::lock_guard lock(mu_);
          samples_.push_back(std::move(sample));
        }
        // A refused connect would otherwise spin: the server is down or stopping.
        if (failed) std::this_thread::sleep_for(20ms);
        if (pause.count() > 0) std::this_thread::sleep_for(pause);
      }
    });
  }
}

Load::~Load() { Stop(); }

void Load::Stop() {
  stop_ = true;
  for (auto& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
}

std::vector<Load::Sample> Load::Samples() {
  std::lock_guard lock(mu_);
  return samples_;
}

// ---- GitHttpServer ----

GitHttpServer::GitHttpServer(std::string user, std::string password)
    : user_(std::move(user)), password_(std::move(password)) {
  const std::string dir = dir_.path().string();
  Shell("cd " + dir +
        " && git init -q -b main work && cd work && echo served-over-http > file.txt && "
        "git add file.txt && git -c user.name=fault -c user.email=fault@example.com commit -q "
        "-m one && cd .. && git clone -q --bare work repo.git");
  listen_fd_ = market::testing::ListenLoopback(port_, 16);
  thread_ = std::thread([this] { Serve(); });
}

GitHttpServer::~GitHttpServer() {
  stop_ = true;
  thread_.join();
  ::close(listen_fd_);
}

std::string GitHttpServer::Url() const {
  return "http://127.0.0.1:" + std::to_string(port_) + "/repo.git";
}

void GitHttpServer::Serve() {
  while (!stop_) {
    pollfd fd{listen_fd_, POLLIN, 0};
    if (::poll(&fd, 1, 100) <= 0) continue;
    int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    Handle(client);
    ::close(client);
  }
}

void GitHttpServer::Handle(int client) {
  timeval tv{10, 0};
  ::setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string data, error;
  std::size_t head_end;
  while ((head_end = data.find("\r\n\r\n")) == std::string::npos) {
    if (!ReadMore(client, data, error)) return;
  }
  std::string request_line = data.substr(0, data.find("\r\n"));
  MessageHead head = ParseHead("HTTP/1.1 000 x\r\n" + data.substr(data.find("\r\n") + 2, head_end));
  std::string body = data.substr(head_end + 4);
  if (auto it = head.headers.find("content-length"); it != head.headers.end()) {
    std::size_t length = std::strtoul(it->second.c_str(), nullptr, 10);
    while (body.size() < length) {
      if (!ReadMore(client, body, error)) return;
    }
  } else if (Lower(head.headers["transfer-encoding"]).find("chunked") != std::string::npos) {
    std::optional<std::string> decoded;
    while (!(decoded = Dechunk(body))) {
      if (!ReadMore(client, body, error)) return;
    }
    body = *decoded;
  }
  if (head.headers["authorization"] != "Basic " + market::Base64Encode(user_ + ":" + password_)) {
    ++refused_;
    WriteAll(client,
             "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\n"
             "Content-Length: 0\r\nConnection: close\r\n\r\n");
    return;
  }
  ++authorized_;
  std::istringstream line(request_line);
  std::string method, target;
  line >> method >> target;
  auto question = target.find('?');
  std::string path = target.substr(0, question);
  std::string query = question == std::string::npos ? "" : target.substr(question + 1);

  // git http-backend as CGI: the body through a file, the answer through a pipe.
  const auto body_file = dir_.path() / ("body-" + std::to_string(authorized_.load()));
  std::ofstream(body_file, std::ios::binary) << body;
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return;
  pid_t pid = ::fork();
  if (pid == 0) {
    int in = ::open(body_file.c_str(), O_RDONLY);
    ::dup2(in, STDIN_FILENO);
    ::dup2(out[1], STDOUT_FILENO);
    ::setenv("GIT_PROJECT_ROOT", dir_.path().c_str(), 1);
    ::setenv("GIT_HTTP_EXPORT_ALL", "1", 1);
    ::setenv("REQUEST_METHOD", method.c_str(), 1);
    ::setenv("PATH_INFO", path.c_str(), 1);
    ::setenv("QUERY_STRING", query.c_str(), 1);
    ::setenv("CONTENT_TYPE", head.headers["content-type"].c_str(), 1);
    ::setenv("CONTENT_LENGTH", std::to_string(body.size()).c_str(), 1);
    ::setenv("REMOTE_USER", user_.c_str(), 1);
    ::setenv("REMOTE_ADDR", "127.0.0.1", 1);
    if (!head.headers["content-encoding"].empty()) {
      ::setenv("HTTP_CONTENT_ENCODING", head.headers["content-encoding"].c_str(), 1);
    }
    if (!head.headers["git-protocol"].empty()) {
      ::setenv("GIT_PROTOCOL", head.headers["git-protocol"].c_str(), 1);
    }
    ::execlp("git", "git", "http-backend", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(out[1]);
  std::string cgi;
  char buffer[16384];
  for (ssize_t n; (n = ::read(out[0], buffer, sizeof buffer)) > 0;) {
    cgi.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(out[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  std::filesystem::remove(body_file);

  std::size_t split = cgi.find("\r\n\r\n");
  std::size_t skip = 4;
  if (split == std::string::npos) {
    split = cgi.find("\n\n");
    skip = 2;
  }
  if (split == std::string::npos) {
    WriteAll(client,
             "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n"
             "Connection: close\r\n\r\n");
    return;
  }
  std::string cgi_head = cgi.substr(0, split);
  std::string cgi_body = cgi.substr(split + skip);
  std::string status_line = "200 OK";
  std::string response_headers;
  std::istringstream lines(cgi_head);
  for (std::string h; std::getline(lines, h);) {
    h = Trim(h);
    if (h.empty()) continue;
    if (Lower(h).rfind("status:", 0) == 0) {
      status_line = Trim(h.substr(7));
    } else {
      response_headers += h + "\r\n";
    }
  }
  WriteAll(client, "HTTP/1.1 " + status_line + "\r\n" + response_headers +
                       "Content-Length: " + std::to_string(cgi_body.size()) +
                       "\r\nConnection: close\r\n\r\n" + cgi_body);
}

}  // namespace market::fault
