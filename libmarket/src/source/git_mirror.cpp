#include "source/git_mirror.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <thread>
#include <utility>

#include "log.hpp"
#include "sha256.hpp"
#include "source/context_paths.hpp"

namespace market::source {

namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr std::string_view kCompleteMarker = "market-complete";
constexpr std::string_view kCheckoutRef = "refs/market/checkout";
// Slow enough that a guessed password costs something, fast enough for every checkout.
constexpr int kPasswordHashRounds = 100000;

std::string Hex(const unsigned char* bytes, std::size_t size) {
  std::string out;
  for (std::size_t i = 0; i < size; ++i) out += fmt::format("{:02x}", bytes[i]);
  return out;
}

std::string PasswordHash(std::string_view url, std::string_view username,
                         std::string_view password) {
  const std::string salt = fmt::format("market-git-mirror\n{}\n{}", url, username);
  std::array<unsigned char, 32> out{};
  PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                    reinterpret_cast<const unsigned char*>(salt.data()),
                    static_cast<int>(salt.size()), kPasswordHashRounds, EVP_sha256(),
                    static_cast<int>(out.size()), out.data());
  return Hex(out.data(), out.size());
}

bool SameFile(int fd, const std::filesystem::path& file) {
  struct stat open_file {};
  struct stat named {};
  if (::fstat(fd, &open_file) != 0 || ::lstat(file.c_str(), &named) != 0) return false;
  return open_file.st_dev == named.st_dev && open_file.st_ino == named.st_ino;
}

// Opens the lock file and tries the lock once. -1: held by another; -2: the file cannot be
// opened (errno says why).
int TryLockOnce(const std::filesystem::path& file) {
  int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return -2;
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return -1;
  }
  // The previous holder may have removed the file (eviction) after we opened it.
  if (!SameFile(fd, file)) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::int64_t ObjectCount(const GitMirrorRunner& git, const std::filesystem::path& repo) {
  auto text = git.capture({"--git-dir", repo.string(), "count-objects", "-v"});
  if (!text) return 0;
  std::int64_t total = 0;
  std::size_t pos = 0;
  while (pos < text->size()) {
    std::size_t end = text->find('\n', pos);
    if (end == std::string::npos) end = text->size();
    std::string_view line(text->data() + pos, end - pos);
    for (std::string_view name : {"count: ", "in-pack: "}) {
      if (line.starts_with(name)) {
        total += std::strtoll(std::string(line.substr(name.size())).c_str(), nullptr, 10);
      }
    }
    pos = end + 1;
  }
  return total;
}

// The commit the last checkout wrote is still whole (a mirror that never had one is).
bool Healthy(const GitMirrorRunner& git, const std::filesystem::path& repo) {
  auto last = git.capture({"--git-dir", repo.string(), "for-each-ref", "--format=%(objectname)",
                           std::string(kCheckoutRef)});
  if (!last) return false;
  if (last->empty()) return true;
  return git.capture({"--git-dir", repo.string(), "rev-parse", "--verify", "-q", *last + "^{tree}"})
      .has_value();
}

void Touch(const std::filesystem::path& file) {
  std::ofstream(file, std::ios::trunc) << "complete\n";
}

Result<void> MakeMirror(const GitMirrorRunner& git, const std::filesystem::path& repo) {
  // No template: no sample hooks or excludes copied in. Automatic gc never runs, so nothing a
  // checkout needs is pruned under it; eviction removes whole mirrors instead.
  MARKET_RETURN_IF_ERROR(
      git.run({"init", "-q", "--bare", "--template=", repo.string()}, "git init", {}, nullptr));
  for (auto [key, value] : {std::pair{"gc.auto", "0"}, std::pair{"maintenance.auto", "false"},
                            std::pair{"core.logAllRefUpdates", "false"},
                            std::pair{"fetch.writeCommitGraph", "false"}}) {
    MARKET_RETURN_IF_ERROR(
        git.run({"--git-dir", repo.string(), "config", key, value}, "git config", {}, nullptr));
  }
  return {};
}

void RemoveTree(const std::filesystem::path& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

// One fetch and one write of the files. `broken` is set when the mirror itself failed (the
// fetched commit cannot be read, or its files cannot be written from it) rather than the remote.
Result<std::string> FetchAndWrite(const GitMirrorCheckout& c, const GitMirrorRunner& git,
                                  const std::filesystem::path& repo, bool& broken) {
  const auto& log = *c.log;
  const std::filesystem::path marker = repo / kCompleteMarker;
  std::error_code ec;
  bool reused = std::filesystem::exists(marker, ec);
  if (!reused && std::filesystem::exists(repo, ec)) {
    log("git mirror: found incomplete (a checkout was interrupted), making it again");
    RemoveTree(repo);
  } else if (reused && !Healthy(git, repo)) {
    log("git mirror: found broken (its last commit cannot be read), making it again");
    RemoveTree(repo);
    reused = false;
  }
  if (!std::filesystem::exists(repo, ec)) {
    MARKET_RETURN_IF_ERROR(MakeMirror(git, repo));
  }
  // From here until the files are written the mirror is being changed: a process killed in
  // between leaves no marker, and the next checkout makes the mirror again.
  std::filesystem::remove(marker, ec);
  // A failed fetch must not leave an older FETCH_HEAD to be read as this one.
  std::filesystem::remove(repo / "FETCH_HEAD", ec);
  const std::int64_t objects_before = reused ? ObjectCount(git, repo) : 0;

  // By URL, never a configured remote: nothing about the source is stored in the mirror's
  // config, and credentials come from askpass only.
  bool interrupted = false;
  auto fetched = git.run({"--git-dir", repo.string(), "fetch", "-q", "--depth", "1", "--no-tags",
                          "--", c.url, c.ref.empty() ? "HEAD" : c.ref},
                         "git fetch", repo, &interrupted);
  if (!fetched) {
    if (interrupted) return std::unexpected(fetched.error());
    // A fetch that ended by itself was refused by the remote (access, unknown ref) or failed on
    // the mirror's own objects; only the second makes the mirror again.
    if (!Healthy(git, repo)) {
      broken = true;
      return Fail(fetched.error().code, fmt::format("{} (git mirror: its objects cannot be read)",
                                                    fetched.error().message));
    }
    Touch(marker);
    return std::unexpected(fetched.error());
  }
  auto commit = git.capture(
      {"--git-dir", repo.string(), "rev-parse", "--verify", "-q", "FETCH_HEAD^{commit}"});
  if (!commit || commit->empty()) {
    broken = true;
    return Fail(Errc::kInternal, "git mirror: the fetched commit cannot be read");
  }
  // Referenced, so that even a gc run by hand keeps what the checkout reads.
  MARKET_RETURN_IF_ERROR(
      git.run({"--git-dir", repo.string(), "update-ref", std::string(kCheckoutRef), *commit},
              "git update-ref", {}, nullptr));
  const std::int64_t objects_after = ObjectCount(git, repo);
  log(fmt::format("git mirror: {}, fetched {} new objects", reused ? "reused" : "made",
                  std::max<std::int64_t>(0, objects_after - objects_before)));

  if (!std::filesystem::create_directory(c.dest, ec) || ec) {
    return Fail(Errc::kInternal, fmt::format("cannot create {}: {}", c.dest.string(),
                                             ec ? ec.message() : "it exists"));
  }
  // The index goes to a private file: the mirror has no work tree and no index of its own, and
  // the destination gets the files only, as from `svn export`.
  std::filesystem::remove(c.index_file, ec);
  interrupted = false;
  auto written = git.run({"--git-dir", repo.string(), "--work-tree", c.dest.string(), "read-tree",
                          "--reset", "-u", "--index-output=" + c.index_file.string(), *commit},
                         "git read-tree", c.dest, &interrupted);
  if (!written) {
    broken = !interrupted;
    if (interrupted) return std::unexpected(written.error());
    return Fail(written.error().code,
                fmt::format("git mirror: the files cannot be written from it: {}",
                            written.error().message));
  }
  Touch(marker);
  return *commit;
}

}  // namespace

std::string GitMirrorKey(std::string_view url, std::string_view username,
                         std::string_view password) {
  // No credentials at all is an owner of its own, apart from any username with an empty password.
  const bool anonymous = username.empty() && password.empty();
  return Sha256Hex(fmt::format("{}\n{}\n{}", url, anonymous ? "-" : "user:" + std::string(username),
                               anonymous ? "-" : PasswordHash(url, username, password)));
}

Result<MirrorLock> MirrorLock::Acquire(const std::filesystem::path& file,
                                       SteadyClock::time_point deadline, std::stop_token stop,
                                       const std::function<void()>& on_wait) {
  bool waited = false;
  while (true) {
    int fd = TryLockOnce(file);
    if (fd >= 0) return MirrorLock(fd, file);
    if (fd == -2) {
      return Fail(Errc::kInternal,
                  fmt::format("git mirror lock {}: {}", file.string(), std::strerror(errno)));
    }
    if (stop.stop_requested()) return Fail(Errc::kInternal, "cancelled");
    if (SteadyClock::now() >= deadline) {
      return Fail(Errc::kInternal, "timed out waiting for another checkout of the same repository");
    }
    if (!waited && on_wait) on_wait();
    waited = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

std::optional<MirrorLock> MirrorLock::TryAcquire(const std::filesystem::path& file) {
  int fd = TryLockOnce(file);
  if (fd < 0) return std::nullopt;
  return MirrorLock(fd, file);
}

MirrorLock::MirrorLock(MirrorLock&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), file_(std::move(other.file_)) {}

MirrorLock::~MirrorLock() {
  if (fd_ >= 0) ::close(fd_);
}

void MirrorLock::RemoveFile() { ::unlink(file_.c_str()); }

Result<std::string> CheckoutThroughMirror(const GitMirrorCheckout& c, const GitMirrorRunner& git) {
  std::error_code ec;
  std::filesystem::create_directories(c.mirror_dir, ec);
  if (ec) {
    return Fail(Errc::kInternal,
                fmt::format("cannot create {}: {}", c.mirror_dir.string(), ec.message()));
  }
  // Only the service's user may read what private repositories left there.
  std::filesystem::permissions(c.mirror_dir, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace, ec);
  const std::string key = GitMirrorKey(c.url, c.username, c.password);
  const std::filesystem::path repo = c.mirror_dir / key;
  MARKET_ASSIGN_OR_RETURN(
      auto lock, MirrorLock::Acquire(c.mirror_dir / (key + ".lock"), c.deadline, c.stop, [&] {
        (*c.log)("git mirror: waiting for another checkout of this repository");
      }));
  for (int attempt = 0;; ++attempt) {
    bool broken = false;
    auto commit = FetchAndWrite(c, git, repo, broken);
    if (commit || !broken || attempt > 0) return commit;
    (*c.log)(fmt::format("{}; making the mirror again", commit.error().message));
    RemoveTree(repo);
    RemoveTree(c.dest);
  }
}

void EvictGitMirrors(const std::filesystem::path& mirror_dir, std::int64_t max_bytes) {
  struct Mirror {
    std::filesystem::path repo;
    std::filesystem::file_time_type used;  // min(): not complete, first to go
    std::int64_t bytes;
  };
  std::vector<Mirror> mirrors;
  std::int64_t total = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(mirror_dir, ec)) {
    if (!entry.is_directory(ec) || entry.is_symlink(ec)) continue;
    Mirror m{entry.path(), std::filesystem::file_time_type::min(), TreeBytes(entry.path())};
    auto time = std::filesystem::last_write_time(entry.path() / kCompleteMarker, ec);
    if (!ec) m.used = time;
    total += m.bytes;
    mirrors.push_back(std::move(m));
  }
  if (total <= max_bytes) return;
  std::sort(mirrors.begin(), mirrors.end(),
            [](const Mirror& a, const Mirror& b) { return a.used < b.used; });
  for (const Mirror& m : mirrors) {
    if (total <= max_bytes) break;
    auto lock = MirrorLock::TryAcquire(m.repo.string() + ".lock");
    if (!lock) continue;  // in use: its checkout may still read it
    RemoveTree(m.repo);
    lock->RemoveFile();
    total -= m.bytes;
    MARKET_LOG_INFO("git mirror {} removed: least recently used, {} bytes (source-mirror-size {})",
                    m.repo.filename().string(), m.bytes, max_bytes);
  }
}

}  // namespace market::source
