#include "fault/fault_support.hpp"

#include "base64.hpp"
#include "support/ports.hpp"

// The listener below needs Catch's reporter interfaces.
#define CATCH_CONFIG_EXTERNAL_INTERFACES
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>

#ifndef MARKET_SERVER_BINARY
#error "MARKET_SERVER_BINARY must name the market-server binary"
#endif

namespace market::fault {

namespace {

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

constexpr const char* kPgBin = "/usr/lib/postgresql/15/bin";

std::string Lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

std::string Trim(std::string text) {
  while (!text.empty() && (text.back() == ' ' || text.back() == '\r' || text.back() == '\n' ||
                           text.back() == '\t')) {
    text.pop_back();
  }
  std::size_t start = 0;
  while (start < text.size() && (text[start] == ' ' || text[start] == '\t')) ++start;
  return text.substr(start);
}

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

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Reads more bytes into `buffer`; false on EOF, error or timeout (`error` says which).
bool ReadMore(int fd, std::string& buffer, std::string& error) {
  char chunk[16384];
  for (;;) {
    ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n > 0) {
      buffer.append(chunk, static_cast<std::size_t>(n));
      return true;
    }
    if (n == 0) {
      error = "connection closed by the server";
      return false;
    }
    if (errno == EINTR) continue;
    error = (errno == EAGAIN || errno == EWOULDBLOCK)
                ? "timed out waiting for the answer"
                : std::string("recv: ") + std::strerror(errno);
    return false;
  }
}

struct ParsedHead {
  int status = 0;
  std::map<std::string, std::string> headers;
};

ParsedHead ParseHead(const std::string& head) {
  ParsedHead parsed;
  std::istringstream in(head);
  std::string line;
  std::getline(in, line);
  if (line.size() >= 12) parsed.status = std::atoi(line.substr(9, 3).c_str());
  while (std::getline(in, line)) {
    line = Trim(line);
    if (line.empty()) continue;
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    parsed.headers[Lower(line.substr(0, colon))] = Trim(line.substr(colon + 1));
  }
  return parsed;
}

// Decodes a complete chunked body at the start of `data`; nullopt while incomplete.
std::optional<std::string> Dechunk(const std::string& data) {
  std::string out;
  std::size_t pos = 0;
  for (;;) {
    auto eol = data.find("\r\n", pos);
    if (eol == std::string::npos) return std::nullopt;
    std::size_t size = std::strtoul(data.substr(pos, eol - pos).c_str(), nullptr, 16);
    pos = eol + 2;
    if (size == 0) {
      if (data.find("\r\n", pos) == std::string::npos) return std::nullopt;
      return out;
    }
    if (data.size() < pos + size + 2) return std::nullopt;
    out.append(data, pos, size);
    pos += size + 2;
  }
}

}  // namespace

CATCH_REGISTER_LISTENER(FailureListener)

std::string ServerBinary() {
  const char* env = std::getenv("MARKET_SERVER_BIN");
  return env != nullptr && *env != '\0' ? env : MARKET_SERVER_BINARY;
}

std::string ReadFile(const std::filesystem::path& path) {
  return market::testing::ReadFileOrEmpty(path);
}

bool WaitFor(const std::function<bool()>& ready, std::chrono::milliseconds timeout,
             std::chrono::milliseconds step) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    if (ready()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(step);
  }
}

std::string UrlEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

CommandResult RunCommand(const std::vector<std::string>& argv, const std::string& input) {
  market::testing::TempDir dir;
  const auto in_file = dir.path() / "in";
  const auto out_file = dir.path() / "out";
  const auto err_file = dir.path() / "err";
  std::ofstream(in_file, std::ios::binary) << input;
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    int in = ::open(in_file.c_str(), O_RDONLY);
    int out = ::open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int err = ::open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(in, STDIN_FILENO);
    ::dup2(out, STDOUT_FILENO);
    ::dup2(err, STDERR_FILENO);
    std::vector<std::string> copy = argv;
    std::vector<char*> args;
    for (std::string& arg : copy) args.push_back(arg.data());
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  CommandResult result;
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = ReadFile(out_file);
  result.err = ReadFile(err_file);
  return result;
}

// ---- ServerProcess ----

ServerProcess::ServerProcess(std::vector<std::string> args, std::filesystem::path log_file,
                             std::vector<std::pair<std::string, std::string>> env)
    : log_file_(std::move(log_file)) {
  std::string binary = ServerBinary();
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    int fd = ::open(log_file_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd < 0) ::_exit(126);
    ::dup2(fd, STDOUT_FILENO);
    ::dup2(fd, STDERR_FILENO);
    ::close(fd);
    for (const auto& [name, value] : env) ::setenv(name.c_str(), value.c_str(), 1);
    std::vector<char*> argv;
    argv.push_back(binary.data());
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    ::execv(binary.c_str(), argv.data());
    ::_exit(127);
  }
  const std::regex listening(R"(listening on 127\.0\.0\.1:(\d+))");
  // Generous: a sanitizer build starts slowly and runs its migrations slowly.
  auto deadline = Clock::now() + 60s;
  while (Clock::now() < deadline) {
    std::string log = Log();
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
    ::kill(pid_, SIGKILL);
    Wait(30s);
  }
}

std::string ServerProcess::Log() const { return ReadFile(log_file_); }

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
  std::string pid_file = ReadFile(dir_.path() / "pg" / "data" / "postmaster.pid");
  pid_t postmaster = static_cast<pid_t>(std::stol(pid_file.substr(0, pid_file.find('\n'))));
  std::vector<pid_t> pids{postmaster};
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string stat = ReadFile(entry.path() / "stat");
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

// ---- Reply, HttpConn ----

int Reply::Code() const {
  auto json = Json();
  if (!json.is_object() || !json.contains("code") || !json["code"].is_number_integer()) return -1;
  return json["code"].get<int>();
}

nlohmann::json Reply::Json() const { return nlohmann::json::parse(body, nullptr, false); }

HttpConn::HttpConn(int port, std::chrono::milliseconds timeout) : port_(port), timeout_(timeout) {}

HttpConn::~HttpConn() { Close(); }

HttpConn::HttpConn(HttpConn&& other) noexcept
    : port_(other.port_), timeout_(other.timeout_), fd_(other.fd_), reconnects_(other.reconnects_) {
  other.fd_ = -1;
}

void HttpConn::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool HttpConn::Connect() {
  if (fd_ >= 0) return true;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout_.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout_.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port_));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return false;
  }
  fd_ = fd;
  ++reconnects_;
  return true;
}

Reply HttpConn::Send(const std::string& method, const std::string& target, const std::string& body,
                     const std::string& content_type,
                     const std::vector<std::pair<std::string, std::string>>& headers) {
  Reply reply;
  auto start = Clock::now();
  auto finish = [&](Reply& r) -> Reply {
    r.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    return std::move(r);
  };
  if (!Connect()) {
    reply.error = std::string("connect: ") + std::strerror(errno);
    return finish(reply);
  }
  std::string request = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  for (const auto& [name, value] : headers) request += name + ": " + value + "\r\n";
  if (!content_type.empty()) request += "Content-Type: " + content_type + "\r\n";
  if (!body.empty() || method == "POST" || method == "PUT") {
    request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  request += "\r\n" + body;
  if (!WriteAll(fd_, request)) {
    reply.error = std::string("send: ") + std::strerror(errno);
    Close();
    return finish(reply);
  }
  std::string data;
  std::size_t head_end;
  while ((head_end = data.find("\r\n\r\n")) == std::string::npos) {
    if (!ReadMore(fd_, data, reply.error)) {
      Close();
      return finish(reply);
    }
  }
  ParsedHead head = ParseHead(data.substr(0, head_end));
  std::string rest = data.substr(head_end + 4);
  bool close_after = Lower(head.headers["connection"]) == "close";
  if (auto it = head.headers.find("content-length"); it != head.headers.end()) {
    std::size_t length = std::strtoul(it->second.c_str(), nullptr, 10);
    while (rest.size() < length) {
      if (!ReadMore(fd_, rest, reply.error)) {
        Close();
        return finish(reply);
      }
    }
    reply.body = rest.substr(0, length);
  } else if (Lower(head.headers["transfer-encoding"]).find("chunked") != std::string::npos) {
    std::optional<std::string> decoded;
    while (!(decoded = Dechunk(rest))) {
      if (!ReadMore(fd_, rest, reply.error)) {
        Close();
        return finish(reply);
      }
    }
    reply.body = *decoded;
  } else {
    std::string ignored;
    while (ReadMore(fd_, rest, ignored)) {
    }
    reply.body = rest;
    close_after = true;
  }
  reply.status = head.status;
  reply.headers = std::move(head.headers);
  if (close_after) Close();
  return finish(reply);
}

// ---- Load ----

Load::Load(int port, int threads, Op op, std::chrono::milliseconds timeout,
           std::chrono::milliseconds pause) {
  for (int t = 0; t < threads; ++t) {
    threads_.emplace_back([this, t, port, op, timeout, pause] {
      HttpConn conn(port, timeout);
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
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof addr;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 16) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &length) != 0) {
    throw std::runtime_error("git http server: cannot listen");
  }
  port_ = ntohs(addr.sin_port);
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
  ParsedHead head = ParseHead("HTTP/1.1 000 x\r\n" + data.substr(data.find("\r\n") + 2, head_end));
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
