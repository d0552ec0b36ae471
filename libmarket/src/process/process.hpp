#pragma once
// A small subprocess runner for the build tools (buildah, git, svn): argv without a shell,
// merged output streamed line by line, a timeout, and the whole process group killed on stop.
// A child never sees the server's environment (database URL, registry password): only the
// variables of kInheritedEnv and what its Spec gives it.

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "market/error.hpp"

namespace market::process {

// The server's variables a child inherits: the command search path, the locale, the time
// zone, the temporary folder and the operator's proxy settings. Nothing else.
inline constexpr std::string_view kInheritedEnv[] = {
    "PATH",       "LANG",        "LC_ALL",   "LC_CTYPE",   "TZ",       "TMPDIR",
    "http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
};

struct Spec {
  std::vector<std::string> argv;  // argv[0] is looked up in PATH when it has no '/'
  // Added to (or replacing) the kInheritedEnv variables; how secrets and HOME reach a child.
  std::vector<std::pair<std::string, std::string>> env;
  std::filesystem::path cwd;              // empty: the caller's
  std::chrono::milliseconds timeout{0};   // 0: none
  std::optional<std::string> stdin_data;  // written then closed; otherwise stdin is /dev/null
  // Called about every `watch_interval` while the child runs; a non-empty answer kills the
  // child and becomes the outcome's kill_reason (e.g. "checkout exceeds 2 GiB").
  std::function<std::string()> watchdog;
  std::chrono::milliseconds watch_interval{1000};
  // How long a stopped child gets between SIGTERM and SIGKILL.
  std::chrono::milliseconds kill_grace{3000};
  // Set: the child joins this network namespace (a /run/netns/NAME file) before exec, with
  // `resolv_conf` bound over /etc/resolv.conf in a mount namespace of its own, so its name
  // lookups go to a server it can reach there. Needs CAP_SYS_ADMIN.
  std::filesystem::path network_namespace;
  std::filesystem::path resolv_conf;
};

struct Outcome {
  int exit_code = -1;  // when it exited
  int signal = 0;      // when a signal ended it
  bool timed_out = false;
  bool cancelled = false;   // the stop token was requested
  std::string kill_reason;  // the watchdog's answer

  bool Succeeded() const {
    return exit_code == 0 && signal == 0 && !timed_out && !cancelled && kill_reason.empty();
  }
  // "exit status 1", "timed out after 300 s", "cancelled", ...
  std::string Describe() const;
};

using LineFn = std::function<void(std::string_view)>;

// Runs the child to its end. Errors only when it cannot be started (kInternal naming argv[0]).
Result<Outcome> Run(const Spec& spec, const LineFn& on_line, std::stop_token stop);

// For short helper commands like `buildah inspect`: stdout is collected; stderr lines go to
// `on_stderr` (may be empty) so warnings cannot corrupt the captured text.
struct Captured {
  Outcome outcome;
  std::string output;
};
Result<Captured> RunCapture(const Spec& spec, const LineFn& on_stderr, std::stop_token stop);

// A child left running while the caller works (slirp4netns serving a build's network). Its
// output is discarded; it dies with the server (PR_SET_PDEATHSIG) and, with its process group,
// when the object goes.
class BackgroundChild {
 public:
  // kInternal naming argv[0] when it cannot be started.
  static Result<BackgroundChild> Start(const Spec& spec);
  BackgroundChild(BackgroundChild&& other) noexcept : pid_(std::exchange(other.pid_, -1)) {}
  BackgroundChild& operator=(BackgroundChild&&) = delete;
  BackgroundChild(const BackgroundChild&) = delete;
  ~BackgroundChild();
  // False once it has exited (it is then reaped); `why` says how ("exit status 1").
  bool Running(std::string* why = nullptr);

 private:
  explicit BackgroundChild(int pid) : pid_(pid) {}
  int pid_ = -1;
};

// A directory only this user can enter (0700), removed with the object: where auth files and
// askpass helpers live while a tool runs.
class PrivateDir {
 public:
  static Result<PrivateDir> Create(std::string_view prefix);
  PrivateDir(PrivateDir&& other) noexcept : path_(std::exchange(other.path_, {})) {}
  PrivateDir& operator=(PrivateDir&&) = delete;
  PrivateDir(const PrivateDir&) = delete;
  ~PrivateDir();
  const std::filesystem::path& path() const { return path_; }

 private:
  explicit PrivateDir(std::filesystem::path path) : path_(std::move(path)) {}
  std::filesystem::path path_;
};

// Creates `path` (which must not exist) with `mode` and writes `content`.
Result<void> WriteNewFile(const std::filesystem::path& path, std::string_view content, int mode);

}  // namespace market::process
