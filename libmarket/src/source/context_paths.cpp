#include "source/context_paths.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>
#include <vector>

namespace market::source {

namespace {

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

std::vector<std::string_view> Components(std::string_view rel) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (start < rel.size()) {
    std::size_t end = rel.find('/', start);
    if (end == std::string_view::npos) end = rel.size();
    if (end > start) out.push_back(rel.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// "a/b" of "a/b/c" for component 1: what a message names.
std::string Prefix(const std::vector<std::string_view>& parts, std::size_t last) {
  std::string out;
  for (std::size_t i = 0; i <= last; ++i) {
    if (i > 0) out += '/';
    out += parts[i];
  }
  return out;
}

Error SysError(std::string_view what, const std::string& path) {
  return Error{Errc::kInternal, fmt::format("{} {}: {}", what, path, std::strerror(errno))};
}

// What `name` in `dir` is, without following it: an error naming it when it is a symbolic link
// or not a directory, nullopt for a real directory; `missing` is set when it does not exist.
std::optional<Error> NotRealDirectory(int dir, const std::vector<std::string_view>& parts,
                                      std::size_t i, bool& missing) {
  const std::string name(parts[i]);
  struct stat st {};
  missing = false;
  if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) {
      missing = true;
      return std::nullopt;
    }
    return SysError("cannot inspect", Prefix(parts, i));
  }
  if (S_ISLNK(st.st_mode)) {
    return Error{Errc::kInvalid, fmt::format("'{}' is a symbolic link", Prefix(parts, i))};
  }
  if (!S_ISDIR(st.st_mode)) {
    return Error{Errc::kInvalid, fmt::format("'{}' is not a directory", Prefix(parts, i))};
  }
  return std::nullopt;
}

// Opens component i of `parts` below `dir`, refusing to follow it. ELOOP and ENOTDIR cover a
// link or a file put there between the look and the open.
Result<Fd> OpenDirectory(int dir, const std::vector<std::string_view>& parts, std::size_t i) {
  const std::string name(parts[i]);
  int fd = ::openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ELOOP || errno == ENOTDIR) {
      return Fail(Errc::kInvalid,
                  fmt::format("'{}' is a symbolic link or not a directory", Prefix(parts, i)));
    }
    return std::unexpected(SysError("cannot open", Prefix(parts, i)));
  }
  return Fd(fd);
}

Result<Fd> OpenContext(const std::filesystem::path& context) {
  int fd = ::open(context.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return std::unexpected(SysError("cannot open the build context", context.string()));
  return Fd(fd);
}

}  // namespace

std::expected<std::string, std::string> NormalizeContextPath(std::string_view path) {
  if (path.empty()) return std::unexpected("is empty");
  if (path.front() == '/') {
    return std::unexpected("must be relative to the build context, not absolute");
  }
  for (char c : path) {
    if (c == '\\') return std::unexpected("must not contain '\\'");
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return std::unexpected("must not contain control characters");
    }
  }
  std::string out;
  for (std::string_view part : Components(path)) {
    if (part == "..") return std::unexpected("must stay inside the build context ('..')");
    if (part == ".") {
      return std::unexpected("must name its folder plainly (no '.' component, as in './a')");
    }
    if (!out.empty()) out += '/';
    out += part;
  }
  if (out.empty()) return std::unexpected("is empty");
  return out;
}

bool ContextPathsOverlap(std::string_view a, std::string_view b) {
  auto inside = [](std::string_view inner, std::string_view outer) {
    return inner.size() > outer.size() && inner.starts_with(outer) && inner[outer.size()] == '/';
  };
  return a == b || inside(a, b) || inside(b, a);
}

namespace {

// Opens the folder holding the last of `parts`, one real directory at a time from the context,
// never through a link; a missing folder is made when `create`, else an error.
Result<Fd> OpenParent(const std::filesystem::path& context,
                      const std::vector<std::string_view>& parts, bool create) {
  MARKET_ASSIGN_OR_RETURN(Fd current, OpenContext(context));
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    bool missing = false;
    if (auto bad = NotRealDirectory(current.get(), parts, i, missing)) return std::unexpected(*bad);
    if (missing && !create) {
      return Fail(Errc::kInvalid, fmt::format("'{}' does not exist", Prefix(parts, i)));
    }
    if (missing) {
      const std::string name(parts[i]);
      if (::mkdirat(current.get(), name.c_str(), 0755) != 0 && errno != EEXIST) {
        return std::unexpected(SysError("cannot create", Prefix(parts, i)));
      }
    }
    MARKET_ASSIGN_OR_RETURN(auto next, OpenDirectory(current.get(), parts, i));
    current = std::move(next);
  }
  return current;
}

}  // namespace

Result<void> PrepareCheckoutFolder(const std::filesystem::path& context, std::string_view rel) {
  const std::vector<std::string_view> parts = Components(rel);
  if (parts.empty()) return Fail(Errc::kInvalid, "the checkout folder is empty");
  MARKET_ASSIGN_OR_RETURN(Fd current, OpenParent(context, parts, true));
  const std::size_t last = parts.size() - 1;
  bool missing = false;
  if (auto bad = NotRealDirectory(current.get(), parts, last, missing)) {
    return std::unexpected(*bad);
  }
  if (missing) return {};
  // An empty real directory (a repository may hold one) is removed; rmdir neither follows a
  // link nor removes anything that has entries.
  const std::string name(parts[last]);
  if (::unlinkat(current.get(), name.c_str(), AT_REMOVEDIR) != 0) {
    if (errno == ENOTEMPTY || errno == EEXIST) {
      return Fail(Errc::kInvalid, fmt::format("'{}' already exists and is not empty", rel));
    }
    return std::unexpected(SysError("cannot remove", std::string(rel)));
  }
  return {};
}

Result<void> CheckRegularFile(const std::filesystem::path& context, std::string_view rel) {
  const std::vector<std::string_view> parts = Components(rel);
  if (parts.empty()) return Fail(Errc::kInvalid, "the file name is empty");
  MARKET_ASSIGN_OR_RETURN(Fd current, OpenParent(context, parts, false));
  const std::size_t last = parts.size() - 1;
  const std::string name(parts[last]);
  struct stat st {};
  if (::fstatat(current.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return Fail(Errc::kInvalid, fmt::format("'{}' does not exist", rel));
    return std::unexpected(SysError("cannot inspect", std::string(rel)));
  }
  if (S_ISLNK(st.st_mode)) {
    return Fail(Errc::kInvalid, fmt::format("'{}' is a symbolic link", rel));
  }
  if (!S_ISREG(st.st_mode)) {
    return Fail(Errc::kInvalid, fmt::format("'{}' is not a regular file", rel));
  }
  return {};
}

std::int64_t TreeBytes(const std::filesystem::path& root) {
  std::int64_t total = 0;
  std::error_code ec;
  std::filesystem::recursive_directory_iterator it(
      root, std::filesystem::directory_options::skip_permission_denied, ec);
  for (; !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code sec;
    auto st = it->symlink_status(sec);
    if (!sec && std::filesystem::is_regular_file(st)) {
      auto n = it->file_size(sec);
      if (!sec) total += static_cast<std::int64_t>(n);
    }
  }
  return total;
}

}  // namespace market::source
