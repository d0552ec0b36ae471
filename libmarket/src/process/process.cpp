#include "process/process.hpp"

#include <algorithm>
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>

namespace market::process {

namespace {

using SteadyClock = std::chrono::steady_clock;

// Closes a descriptor once; -1 means none.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { Close(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      Close();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  int get() const { return fd_; }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

std::string ErrnoText(int err) { return std::strerror(err); }

// PATH lookup happens in the parent: between fork and exec only async-signal-safe calls.
std::optional<std::string> ResolveExecutable(const std::string& name, const std::string& path) {
  if (name.find('/') != std::string::npos) return name;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string dir = path.substr(start, end - start);
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return std::nullopt;
}

// Splits a byte stream into lines; a very long line is delivered in pieces.
class LineSplitter {
 public:
  explicit LineSplitter(const LineFn* fn) : fn_(fn) {}
  void Feed(const char* data, std::size_t n) {
    buffer_.append(data, n);
    std::size_t start = 0;
    for (;;) {
      std::size_t nl = buffer_.find('\n', start);
      if (nl == std::string::npos) break;
      Emit(std::string_view(buffer_).substr(start, nl - start));
      start = nl + 1;
    }
    buffer_.erase(0, start);
    if (buffer_.size() > kMaxLine) {
      Emit(buffer_);
      buffer_.clear();
    }
  }
  void Finish() {
    if (!buffer_.empty()) Emit(buffer_);
    buffer_.clear();
  }

 private:
  static constexpr std::size_t kMaxLine = 64 * 1024;
  void Emit(std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (fn_ != nullptr && *fn_) (*fn_)(line);
  }
  const LineFn* fn_;
  std::string buffer_;
};

struct Stream {
  Fd fd;
  LineSplitter splitter;
};

// What execve gets, made in the parent: between fork and exec only async-signal-safe calls.
struct Exec {
  std::string path;
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::vector<char*> argv;
  std::vector<char*> envp;
  std::string cwd;
  Fd netns;  // the network namespace to join, or -1
  std::string resolv_conf;
};

Result<void> PrepareExec(const Spec& spec, Exec& exec) {
  if (spec.argv.empty()) return Fail(Errc::kInternal, "no command given");
  // The allowlisted part of the server's environment, with spec.env on top.
  std::map<std::string, std::string> env;
  for (std::string_view name : kInheritedEnv) {
    if (const char* value = std::getenv(std::string(name).c_str())) env[std::string(name)] = value;
  }
  for (const auto& [k, v] : spec.env) env[k] = v;
  for (const auto& [k, v] : env) exec.env.push_back(k + "=" + v);
  for (auto& e : exec.env) exec.envp.push_back(e.data());
  exec.envp.push_back(nullptr);

  auto path_it = env.find("PATH");
  auto exe = ResolveExecutable(spec.argv[0], path_it != env.end()
                                                 ? path_it->second
                                                 : std::string("/usr/local/bin:/usr/bin:/bin"));
  if (!exe) return Fail(Errc::kInternal, fmt::format("{}: command not found", spec.argv[0]));
  exec.path = *exe;
  exec.args = spec.argv;
  for (auto& a : exec.args) exec.argv.push_back(a.data());
  exec.argv.push_back(nullptr);
  exec.cwd = spec.cwd.string();
  if (!spec.network_namespace.empty()) {
    exec.netns = Fd(::open(spec.network_namespace.c_str(), O_RDONLY | O_CLOEXEC));
    if (exec.netns.get() < 0) {
      return Fail(Errc::kInternal, fmt::format("network namespace {}: {}",
                                               spec.network_namespace.string(), ErrnoText(errno)));
    }
    exec.resolv_conf = spec.resolv_conf.string();
  }
  return {};
}

// In the child: a mount namespace of its own with `resolv_conf` over /etc/resolv.conf (when
// the host has one), then the network namespace. errno on failure. Async-signal-safe.
int EnterNetworkNamespace(const Exec& exec) {
  if (!exec.resolv_conf.empty()) {
    if (::unshare(CLONE_NEWNS) != 0) return errno;
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return errno;
    if (::mount(exec.resolv_conf.c_str(), "/etc/resolv.conf", nullptr, MS_BIND, nullptr) != 0 &&
        errno != ENOENT) {
      return errno;
    }
  }
  if (::setns(exec.netns.get(), CLONE_NEWNET) != 0) return errno;
  return 0;
}

constexpr int kStageExec = 1;
constexpr int kStageNetns = 2;

// Forks and execs `exec` in a process group of its own with the given standard descriptors.
// Errors when the program cannot be executed (the child reports exec's errno through a pipe).
Result<pid_t> Spawn(const std::string& name, const Exec& exec, int in_fd, int out_fd, int err_fd) {
  int exec_pipe[2];
  if (::pipe2(exec_pipe, O_CLOEXEC) != 0) return Fail(Errc::kInternal, "pipe: " + ErrnoText(errno));
  Fd exec_read(exec_pipe[0]), exec_write(exec_pipe[1]);

  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) return Fail(Errc::kInternal, "fork: " + ErrnoText(errno));
  if (pid == 0) {
    // Child: only async-signal-safe calls from here on. A failure before exec is reported as
    // {stage, errno} through the pipe.
    auto report = [&](int stage, int err) {
      int message[2] = {stage, err};
      [[maybe_unused]] auto n = ::write(exec_write.get(), message, sizeof message);
      ::_exit(127);
    };
    ::setpgid(0, 0);
    // If the server dies (kill -9), the tool dies too: an orphaned `buildah push` would
    // otherwise finish a build the restarted server has already recorded as failed. The
    // forking thread outlives the child (it waits for it, or owns its BackgroundChild), so
    // the signal cannot fire while the child is ours.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the parent died before prctl took effect
    sigset_t all;
    ::sigemptyset(&all);
    ::sigprocmask(SIG_SETMASK, &all, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    ::dup2(in_fd, 0);
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    if (!exec.cwd.empty() && ::chdir(exec.cwd.c_str()) != 0) report(kStageExec, errno);
    if (exec.netns.get() >= 0) {
      if (int err = EnterNetworkNamespace(exec); err != 0) report(kStageNetns, err);
    }
    // Descriptors another thread opened without O_CLOEXEC must not leak into the tool.
    ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
    ::execve(exec.path.c_str(), exec.argv.data(), exec.envp.data());
    report(kStageExec, errno);
  }
  ::setpgid(pid, pid);  // also here, so a kill right after fork reaches the group
  exec_write.Close();

  int message[2] = {0, 0};
  ssize_t got = ::read(exec_read.get(), message, sizeof message);
  if (got == static_cast<ssize_t>(sizeof message)) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (message[0] == kStageNetns) {
      return Fail(Errc::kInternal,
                  fmt::format("{}: entering the network namespace: {}", name, ErrnoText(message[1])));
    }
    return Fail(Errc::kInternal, fmt::format("{}: {}", name, ErrnoText(message[1])));
  }
  return pid;
}

Result<Outcome> RunImpl(const Spec& spec, const LineFn& on_stdout, const LineFn* on_stderr,
                        std::stop_token stop) {
  Exec exec;
  MARKET_RETURN_IF_ERROR(PrepareExec(spec, exec));

  int out_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return Fail(Errc::kInternal, "pipe: " + ErrnoText(errno));
  Fd out_read(out_pipe[0]), out_write(out_pipe[1]);
  Fd err_read, err_write;
  if (on_stderr != nullptr) {
    int err_pipe[2];
    if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
      return Fail(Errc::kInternal, "pipe: " + ErrnoText(errno));
    }
    err_read = Fd(err_pipe[0]);
    err_write = Fd(err_pipe[1]);
  }
  // stdin is a socket when we feed it so that a child that exits early gives EPIPE, not SIGPIPE.
  Fd in_parent, in_child;
  if (spec.stdin_data) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
      return Fail(Errc::kInternal, "socketpair: " + ErrnoText(errno));
    }
    in_parent = Fd(sv[0]);
    in_child = Fd(sv[1]);
  } else {
    in_child = Fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (in_child.get() < 0) return Fail(Errc::kInternal, "/dev/null: " + ErrnoText(errno));
  }
  MARKET_ASSIGN_OR_RETURN(const pid_t pid,
                          Spawn(spec.argv[0], exec, in_child.get(), out_write.get(),
                                err_write.get() >= 0 ? err_write.get() : out_write.get()));
  out_write.Close();
  err_write.Close();
  in_child.Close();

  if (spec.stdin_data) {
    const std::string& data = *spec.stdin_data;
    std::size_t off = 0;
    while (off < data.size()) {
      ssize_t n = ::send(in_parent.get(), data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      off += static_cast<std::size_t>(n);
    }
    in_parent.Close();
  }

  std::vector<Stream> streams;
  streams.push_back(Stream{std::move(out_read), LineSplitter(&on_stdout)});
  if (on_stderr != nullptr) streams.push_back(Stream{std::move(err_read), LineSplitter(on_stderr)});

  Outcome outcome;
  const auto start = SteadyClock::now();
  auto next_watch = start + spec.watch_interval;
  std::optional<SteadyClock::time_point> term_sent;
  bool kill_sent = false;
  bool exited = false;
  std::optional<SteadyClock::time_point> exited_at;
  int status = 0;
  // Output closed but no exit status yet: the child is usually between closing its descriptors
  // and becoming a zombie, so the first checks come soon. A fixed 50 ms sleep here cost each
  // short tool (ip, buildah) up to 50 ms whenever its output ended first.
  useconds_t reap_wait_us = 1000;

  auto begin_kill = [&] {
    if (!term_sent) {
      ::kill(-pid, SIGTERM);
      term_sent = SteadyClock::now();
    }
  };

  char buf[8192];
  for (;;) {
    bool open_streams = false;
    std::vector<pollfd> fds;
    for (auto& s : streams) {
      if (s.fd.get() >= 0) fds.push_back(pollfd{s.fd.get(), POLLIN, 0});
    }
    open_streams = !fds.empty();
    if (exited && !open_streams) break;
    if (open_streams) {
      int r = ::poll(fds.data(), fds.size(), 100);
      if (r > 0) {
        for (auto& s : streams) {
          if (s.fd.get() < 0) continue;
          for (auto& p : fds) {
            if (p.fd != s.fd.get() || p.revents == 0) continue;
            ssize_t n = ::read(s.fd.get(), buf, sizeof buf);
            if (n > 0) {
              s.splitter.Feed(buf, static_cast<std::size_t>(n));
            } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
              s.splitter.Finish();
              s.fd.Close();
            }
          }
        }
      }
    } else {
      ::usleep(reap_wait_us);
      reap_wait_us = std::min<useconds_t>(reap_wait_us * 2, 50 * 1000);
    }

    if (!exited) {
      pid_t w = ::waitpid(pid, &status, WNOHANG);
      if (w == pid) {
        exited = true;
        exited_at = SteadyClock::now();
      }
    }
    const auto now = SteadyClock::now();
    if (exited) {
      // Something the child left behind in its group still holds the pipe: end it, and stop
      // waiting for its output soon after.
      if (open_streams && now - *exited_at > std::chrono::milliseconds(500)) {
        ::kill(-pid, SIGKILL);
        if (now - *exited_at > std::chrono::seconds(2)) {
          for (auto& s : streams) {
            s.splitter.Finish();
            s.fd.Close();
          }
        }
      }
      continue;
    }
    if (stop.stop_requested() && !outcome.cancelled && !outcome.timed_out &&
        outcome.kill_reason.empty()) {
      outcome.cancelled = true;
      begin_kill();
    }
    if (spec.timeout.count() > 0 && now - start > spec.timeout && !term_sent) {
      outcome.timed_out = true;
      begin_kill();
    }
    if (spec.watchdog && now >= next_watch && !term_sent) {
      next_watch = now + spec.watch_interval;
      std::string reason = spec.watchdog();
      if (!reason.empty()) {
        outcome.kill_reason = std::move(reason);
        begin_kill();
      }
    }
    if (term_sent && !kill_sent && now - *term_sent >= spec.kill_grace) {
      ::kill(-pid, SIGKILL);
      kill_sent = true;
    }
  }
  // The leader is gone; make sure nothing of its group outlives a stopped run.
  if (term_sent) ::kill(-pid, SIGKILL);

  if (WIFEXITED(status)) {
    outcome.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    outcome.signal = WTERMSIG(status);
  }
  return outcome;
}

}  // namespace

std::string Outcome::Describe() const {
  if (!kill_reason.empty()) return kill_reason;
  if (cancelled) return "cancelled";
  if (timed_out) return "timed out";
  if (signal != 0) return fmt::format("killed by signal {}", signal);
  return fmt::format("exit status {}", exit_code);
}

Result<BackgroundChild> BackgroundChild::Start(const Spec& spec) {
  Exec exec;
  MARKET_RETURN_IF_ERROR(PrepareExec(spec, exec));
  Fd null_in(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  Fd null_out(::open("/dev/null", O_WRONLY | O_CLOEXEC));
  if (null_in.get() < 0 || null_out.get() < 0) {
    return Fail(Errc::kInternal, "/dev/null: " + ErrnoText(errno));
  }
  MARKET_ASSIGN_OR_RETURN(auto pid,
                          Spawn(spec.argv[0], exec, null_in.get(), null_out.get(), null_out.get()));
  return BackgroundChild(pid);
}

bool BackgroundChild::Running(std::string* why) {
  if (pid_ < 0) return false;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) != pid_) return true;
  Outcome outcome;
  if (WIFEXITED(status)) outcome.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) outcome.signal = WTERMSIG(status);
  if (why != nullptr) *why = outcome.Describe();
  ::kill(-pid_, SIGKILL);  // whatever it left in its group
  pid_ = -1;
  return false;
}

BackgroundChild::~BackgroundChild() {
  if (pid_ < 0) return;
  ::kill(-pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
}

Result<PrivateDir> PrivateDir::Create(std::string_view prefix) {
  std::error_code ec;
  auto base = std::filesystem::temp_directory_path(ec);
  if (ec) base = "/tmp";
  std::string templ = (base / (std::string(prefix) + "XXXXXX")).string();
  if (::mkdtemp(templ.data()) == nullptr) {  // mkdtemp creates it 0700
    return Fail(Errc::kInternal, fmt::format("cannot create a temp dir: {}", ErrnoText(errno)));
  }
  return PrivateDir(templ);
}

PrivateDir::~PrivateDir() {
  if (path_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

Result<void> WriteNewFile(const std::filesystem::path& path, std::string_view content, int mode) {
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, static_cast<mode_t>(mode)));
  if (fd.get() < 0) {
    return Fail(Errc::kInternal,
                fmt::format("cannot create {}: {}", path.string(), ErrnoText(errno)));
  }
  std::size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd.get(), content.data() + off, content.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return Fail(Errc::kInternal,
                  fmt::format("cannot write {}: {}", path.string(), ErrnoText(errno)));
    }
    off += static_cast<std::size_t>(n);
  }
  return {};
}

Result<Outcome> Run(const Spec& spec, const LineFn& on_line, std::stop_token stop) {
  return RunImpl(spec, on_line, nullptr, std::move(stop));
}

Result<Captured> RunCapture(const Spec& spec, const LineFn& on_stderr, std::stop_token stop) {
  Captured captured;
  LineFn collect = [&](std::string_view line) {
    captured.output.append(line);
    captured.output.push_back('\n');
  };
  LineFn err = on_stderr ? on_stderr : LineFn([](std::string_view) {});
  MARKET_ASSIGN_OR_RETURN(auto outcome, RunImpl(spec, collect, &err, std::move(stop)));
  captured.outcome = outcome;
  return captured;
}

}  // namespace market::process
