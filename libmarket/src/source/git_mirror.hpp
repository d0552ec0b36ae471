#pragma once
// Bare repositories in the service's workspace that git checkouts fetch into, one per repository
// URL and owner of the credentials, so that a rebuild downloads only the objects it lacks.
//
// Layout of the mirror folder: <key>/ a bare repository, <key>.lock the flock that one checkout
// holds while it fetches and writes its files, <key>/market-complete the marker of a mirror no
// checkout is changing (its time is the mirror's last use). A mirror without the marker and
// without a holder of its lock was left by a process that was killed; it is made again.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "market/error.hpp"
#include "market/image_builder.hpp"

namespace market::source {

// The folder name of a mirror: hex SHA-256 of the URL (credentials already moved out of it), the
// username and a slow salted hash (PBKDF2) of the password. Two passwords for one URL give two
// mirrors, no credentials give a mirror of their own; the password cannot be read back from it.
std::string GitMirrorKey(std::string_view url, std::string_view username,
                         std::string_view password);

// An exclusive flock on a lock file, released when the object goes. flock locks belong to an open
// file, so they exclude threads of one process as well as other processes sharing the workspace.
class MirrorLock {
 public:
  // Waits until the lock is free, `deadline` passes (kInternal "timed out") or `stop` is
  // requested (kInternal "cancelled").
  static Result<MirrorLock> Acquire(const std::filesystem::path& file,
                                    std::chrono::steady_clock::time_point deadline,
                                    std::stop_token stop, const std::function<void()>& on_wait);
  // Empty when another holder has it.
  static std::optional<MirrorLock> TryAcquire(const std::filesystem::path& file);
  MirrorLock(MirrorLock&& other) noexcept;
  MirrorLock& operator=(MirrorLock&&) = delete;
  MirrorLock(const MirrorLock&) = delete;
  ~MirrorLock();
  // Removes the lock file while it is held; a waiter on the old file notices and opens anew.
  void RemoveFile();

 private:
  MirrorLock(int fd, std::filesystem::path file) : fd_(fd), file_(std::move(file)) {}
  int fd_ = -1;
  std::filesystem::path file_;
};

// How the mirror runs git. `args` follow git and its fixed settings (the caller's sandbox:
// environment, askpass, -c settings, network). `watched` is the folder whose growth the
// checkout's size limit bounds during the run. `interrupted` tells a run that was killed
// (timeout, stop, size limit) from one that ended by itself.
struct GitMirrorRunner {
  std::function<Result<void>(std::vector<std::string> args, std::string_view what,
                             const std::filesystem::path& watched, bool* interrupted)>
      run;
  // git's standard output, trimmed; kInternal when git fails.
  std::function<Result<std::string>(std::vector<std::string> args)> capture;
};

struct GitMirrorCheckout {
  std::filesystem::path mirror_dir;
  std::string url;  // without credentials
  std::string username;
  std::string password;              // only for the key: git gets it through askpass
  std::string ref;                   // branch, tag, full commit id or empty (the remote's HEAD)
  std::filesystem::path dest;        // does not exist yet; made here without a .git
  std::filesystem::path index_file;  // a private place for the index git writes the files with
  std::chrono::steady_clock::time_point deadline;
  std::stop_token stop;
  const LogLineFn* log = nullptr;
};

// Fetches `ref` from the remote into the mirror (always: the remote checks access on every
// checkout, and a failed fetch fails the checkout whatever the mirror holds), then writes the
// fetched commit's files into `dest`. Returns the commit id. The mirror's lock is held
// throughout; a broken mirror is made again once.
Result<std::string> CheckoutThroughMirror(const GitMirrorCheckout& checkout,
                                          const GitMirrorRunner& git);

// Removes whole mirrors, least recently used first, until those under `mirror_dir` hold at
// most `max_bytes` together. A mirror whose lock is held (in use) is left alone. What it removes
// goes to the service's log: a build's log has no business with other projects' mirrors.
void EvictGitMirrors(const std::filesystem::path& mirror_dir, std::int64_t max_bytes);

}  // namespace market::source
