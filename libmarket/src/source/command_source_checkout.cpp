#include "market/command_source_checkout.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "log.hpp"
#include "process/process.hpp"

namespace market {

namespace {

using SteadyClock = std::chrono::steady_clock;

// git asks this helper for the username and the password; it answers from its own
// environment, which only the git child gets.
constexpr std::string_view kAskPassScript = R"(#!/bin/sh
case "$1" in
  [Uu]sername*) printf '%s\n' "$MARKET_SOURCE_USERNAME" ;;
  *) printf '%s\n' "$MARKET_SOURCE_PASSWORD" ;;
esac
)";

std::int64_t TreeSize(const std::filesystem::path& root) {
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

bool IsFullCommitId(std::string_view ref) {
  return (ref.size() == 40 || ref.size() == 64) && std::all_of(ref.begin(), ref.end(), [](char c) {
           return std::isxdigit(static_cast<unsigned char>(c)) != 0;
         });
}

// "https://user:pass@host/x" -> "https://host/x" with user and pass moved out, so that a
// credential written into the URL never reaches argv or the log.
void MoveUrlCredentials(SourceSpec& spec) {
  auto scheme = spec.url.find("://");
  if (scheme == std::string::npos) return;
  auto host_start = scheme + 3;
  auto slash = spec.url.find('/', host_start);
  auto at = spec.url.rfind('@', slash == std::string::npos ? std::string::npos : slash);
  if (at == std::string::npos || at < host_start) return;
  std::string userinfo = spec.url.substr(host_start, at - host_start);
  spec.url.erase(host_start, at - host_start + 1);
  auto colon = userinfo.find(':');
  std::string user = userinfo.substr(0, colon);
  std::string pass = colon == std::string::npos ? std::string() : userinfo.substr(colon + 1);
  if (spec.username.empty()) spec.username = user;
  if (spec.password.empty()) spec.password = pass;
}

class CommandSourceCheckout final : public SourceCheckout {
 public:
  explicit CommandSourceCheckout(CommandCheckoutOptions options) : options_(std::move(options)) {}

  // SourceCheckout
  Result<void> Checkout(const SourceSpec& source, const std::filesystem::path& dest,
                        const CheckoutLimits& limits, const LogLineFn& log,
                        std::stop_token stop) override;

 private:
  struct Run {
    const std::filesystem::path* dest;
    const CheckoutLimits* limits;
    SteadyClock::time_point deadline;
    const LogLineFn* log;
    std::stop_token stop;
  };
  Result<void> Step(const Run& run, process::Spec spec, std::string_view what) const;
  Result<void> Git(const SourceSpec& source, const Run& run) const;
  Result<void> Svn(const SourceSpec& source, const Run& run) const;

  CommandCheckoutOptions options_;
};

Result<void> CommandSourceCheckout::Step(const Run& run, process::Spec spec,
                                         std::string_view what) const {
  auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(run.deadline - SteadyClock::now());
  if (left.count() <= 0) {
    return Fail(Errc::kInternal,
                fmt::format("checkout timed out after {} s", run.limits->timeout.count()));
  }
  spec.timeout = left;
  const auto* dest = run.dest;
  const auto max_bytes = run.limits->max_bytes;
  spec.watchdog = [dest, max_bytes]() -> std::string {
    if (TreeSize(*dest) > max_bytes) {
      return fmt::format("checkout exceeds the size limit of {} bytes", max_bytes);
    }
    return {};
  };
  auto outcome = process::Run(spec, *run.log, run.stop);
  if (!outcome) return std::unexpected(outcome.error());
  if (outcome->cancelled) return Fail(Errc::kInternal, "cancelled");
  if (outcome->timed_out) {
    return Fail(Errc::kInternal,
                fmt::format("checkout timed out after {} s", run.limits->timeout.count()));
  }
  if (!outcome->Succeeded()) {
    return Fail(Errc::kInternal, fmt::format("{} failed: {}", what, outcome->Describe()));
  }
  return {};
}

Result<void> CommandSourceCheckout::Git(const SourceSpec& source, const Run& run) const {
  auto dir = process::PrivateDir::Create("market-git-");
  if (!dir) return std::unexpected(dir.error());
  const auto askpass = dir->path() / "askpass";
  if (auto ok = process::WriteNewFile(askpass, kAskPassScript, 0700); !ok) {
    return std::unexpected(ok.error());
  }
  process::Spec base;
  base.env = {
      {"GIT_TERMINAL_PROMPT", "0"},
      {"GIT_ASKPASS", askpass.string()},
      {"SSH_ASKPASS", askpass.string()},
      {"GIT_SSH_COMMAND", "ssh -o BatchMode=yes"},
      // ext:: and fd:: would run commands named by the URL.
      {"GIT_ALLOW_PROTOCOL", "http:https:git:ssh:file"},
      {"MARKET_SOURCE_USERNAME", source.username},
      {"MARKET_SOURCE_PASSWORD", source.password},
  };
  base.unset_env = {"GIT_DIR", "GIT_WORK_TREE", "GIT_CONFIG_PARAMETERS"};
  // No credential helper may store or offer credentials.
  const std::vector<std::string> git{options_.git_path, "-c", "credential.helper=", "-c",
                                     "advice.detachedHead=false"};
  const std::string dest = run.dest->string();

  if (IsFullCommitId(source.ref)) {
    // A commit cannot be named by --branch: fetch exactly that commit, shallow.
    auto init = base;
    init.argv = git;
    for (const char* a : {"init", "-q"}) init.argv.push_back(a);
    init.argv.push_back(dest);
    if (auto ok = Step(run, std::move(init), "git init"); !ok) return ok;
    auto fetch = base;
    fetch.argv = git;
    for (const char* a : {"-C"}) fetch.argv.push_back(a);
    fetch.argv.push_back(dest);
    for (const char* a : {"fetch", "-q", "--depth", "1", "--"}) fetch.argv.push_back(a);
    fetch.argv.push_back(source.url);
    fetch.argv.push_back(source.ref);
    if (auto ok = Step(run, std::move(fetch), "git fetch"); !ok) return ok;
    auto checkout = base;
    checkout.argv = git;
    checkout.argv.push_back("-C");
    checkout.argv.push_back(dest);
    for (const char* a : {"checkout", "-q", "FETCH_HEAD"}) checkout.argv.push_back(a);
    if (auto ok = Step(run, std::move(checkout), "git checkout"); !ok) return ok;
  } else {
    auto clone = base;
    clone.argv = git;
    for (const char* a : {"clone", "-q", "--depth", "1"}) clone.argv.push_back(a);
    if (!source.ref.empty()) {
      clone.argv.push_back("--branch");
      clone.argv.push_back(source.ref);
    }
    clone.argv.push_back("--");
    clone.argv.push_back(source.url);
    clone.argv.push_back(dest);
    if (auto ok = Step(run, std::move(clone), "git clone"); !ok) return ok;
  }

  process::Spec head = base;
  head.argv = {options_.git_path, "-C", dest, "rev-parse", "HEAD"};
  head.timeout = std::chrono::seconds(30);
  if (auto rev = process::RunCapture(head, {}, run.stop); rev && rev->outcome.Succeeded()) {
    std::string commit = rev->output;
    while (!commit.empty() && std::isspace(static_cast<unsigned char>(commit.back()))) {
      commit.pop_back();
    }
    (*run.log)(fmt::format("checked out commit {}", commit));
  }
  // The build gets the files, like `svn export`; history would only grow the context.
  std::error_code ec;
  std::filesystem::remove_all(*run.dest / ".git", ec);
  return {};
}

Result<void> CommandSourceCheckout::Svn(const SourceSpec& source, const Run& run) const {
  auto dir = process::PrivateDir::Create("market-svn-");
  if (!dir) return std::unexpected(dir.error());
  process::Spec spec;
  // A private config dir: nothing is read from or cached into the server user's ~/.subversion.
  spec.argv = {options_.svn_path,   "export",          "-q",
               "--non-interactive", "--no-auth-cache", "--config-dir",
               dir->path().string()};
  if (!source.ref.empty()) {
    spec.argv.push_back("-r");
    spec.argv.push_back(source.ref);
  }
  if (!source.username.empty()) {
    spec.argv.push_back("--username");
    spec.argv.push_back(source.username);
  }
  if (!source.password.empty()) {
    spec.argv.push_back("--password-from-stdin");  // svn 1.10+
    spec.stdin_data = source.password + "\n";
  }
  spec.argv.push_back("--");
  spec.argv.push_back(source.url);
  spec.argv.push_back(run.dest->string());
  return Step(run, std::move(spec), "svn export");
}

Result<void> CommandSourceCheckout::Checkout(const SourceSpec& source_in,
                                             const std::filesystem::path& dest,
                                             const CheckoutLimits& limits, const LogLineFn& log,
                                             std::stop_token stop) {
  SourceSpec source = source_in;
  MoveUrlCredentials(source);
  if (source.url.empty() || source.url.front() == '-') {
    return Fail(Errc::kInvalid, fmt::format("bad source url: {}", source.url));
  }
  std::error_code ec;
  if (std::filesystem::exists(dest, ec) && !std::filesystem::is_empty(dest, ec)) {
    return Fail(Errc::kInternal, fmt::format("checkout folder {} is not empty", dest.string()));
  }
  std::filesystem::remove(dest, ec);  // git and svn create it themselves
  std::filesystem::create_directories(dest.parent_path(), ec);
  if (ec)
    return Fail(Errc::kInternal, fmt::format("cannot create {}: {}", dest.string(), ec.message()));

  Run run{&dest, &limits, SteadyClock::now() + limits.timeout, &log, stop};
  log(fmt::format("checking out {} {}{}", source.type, source.url,
                  source.ref.empty() ? std::string() : " at " + source.ref));
  Result<void> done;
  if (source.type == "git") {
    done = Git(source, run);
  } else if (source.type == "svn") {
    done = Svn(source, run);
  } else {
    return Fail(Errc::kInvalid, fmt::format("unknown source type: {}", source.type));
  }
  if (!done) return done;
  // The watchdog samples; a fast checkout can finish between two looks.
  if (auto size = TreeSize(dest); size > limits.max_bytes) {
    return Fail(Errc::kInternal,
                fmt::format("checkout exceeds the size limit of {} bytes", limits.max_bytes));
  }
  return {};
}

}  // namespace

SourceCheckoutPtr MakeCommandSourceCheckout(CommandCheckoutOptions options) {
  return std::make_unique<CommandSourceCheckout>(std::move(options));
}

}  // namespace market
