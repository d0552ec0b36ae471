#include "market/command_source_checkout.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <optional>
#include <stdexcept>

#include "buildah/build_sandbox.hpp"
#include "log.hpp"
#include "market/network_rules.hpp"
#include "market/validation.hpp"
#include "process/process.hpp"
#include "source/context_paths.hpp"
#include "source/git_mirror.hpp"
#include "source/source_url.hpp"
#include "uri.hpp"

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

std::string SizeLimitText(std::int64_t max_bytes) {
  return fmt::format(
      "checkout exceeds the size limit of {} bytes (what build-context-bytes leaves for it)",
      max_bytes);
}

// "https://user:pass@host/x" -> "https://host/x" with user and pass moved out, so that a
// credential written into the URL never reaches argv or the log. The attributes win over the URL.
// A URL that cannot be read is refused without quoting it: it may hold a password.
Result<void> MoveUrlCredentials(SourceSpec& spec) {
  if (spec.url.find("://") == std::string::npos) return {};
  auto split = SplitUriCredentials(spec.url);
  if (!split) return Fail(Errc::kInvalid, "bad source url: it " + split.error().message);
  spec.url = std::move(split->url);
  if (spec.username.empty()) spec.username = std::move(split->user);
  if (spec.password.empty()) spec.password = std::move(split->password);
  return {};
}

// One word for sh -c (GIT_SSH_COMMAND is run by a shell).
std::string ShellQuote(std::string_view word) {
  std::string out = "'";
  for (char c : word) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

// ssh with none of the service account's configuration, keys, agent or known hosts: -F /dev/null
// drops ~/.ssh/config and /etc/ssh/ssh_config; ssh finds ~/.ssh through the password database,
// not HOME, so the default identities are switched off by name. The paths hold no whitespace
// or quotes (checked at construction), so the words survive both sh and svn's tokenizer.
std::string SshCommand(const CommandCheckoutOptions& o, bool for_shell) {
  auto word = [&](std::string_view w) { return for_shell ? ShellQuote(w) : std::string(w); };
  std::string cmd = word(o.ssh_path);
  cmd += " -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes";
  cmd += " -o " + word("UserKnownHostsFile=" +
                       (o.ssh_known_hosts_file.empty() ? "/dev/null" : o.ssh_known_hosts_file));
  cmd += " -o GlobalKnownHostsFile=/dev/null -o IdentitiesOnly=yes -o IdentityAgent=none";
  cmd += " -o ProxyCommand=none -o ControlMaster=no -o ControlPath=none";
  if (o.ssh_identity_file.empty()) {
    cmd += " -o IdentityFile=none";
  } else {
    cmd += " -i " + word(o.ssh_identity_file);
  }
  return cmd;
}

// An address as curl's resolve list takes it: "1.2.3.4", "[::1]".
std::string CurlAddress(const sockaddr* addr) {
  char text[INET6_ADDRSTRLEN] = {};
  if (addr->sa_family == AF_INET) {
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(addr)->sin_addr, text, sizeof text);
    return text;
  }
  ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr, text,
              sizeof text);
  return fmt::format("[{}]", text);
}

IpRange ToRange(const sockaddr* addr) {
  IpRange r;
  if (addr->sa_family == AF_INET) {
    const auto& a = reinterpret_cast<const sockaddr_in*>(addr)->sin_addr;
    std::memcpy(r.bytes.data(), &a, 4);
    r.prefix = 32;
  } else {
    const auto& a = reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr;
    std::memcpy(r.bytes.data(), &a, 16);
    r.v6 = true;
    r.prefix = 128;
  }
  return r;
}

std::vector<IpRange> ParseNetworks(std::string_view field, const std::vector<std::string>& list) {
  std::vector<IpRange> out;
  for (const std::string& text : list) {
    auto ranges = ParseIpRanges(field, text);
    if (!ranges) throw std::invalid_argument(ranges.error().message);
    out.insert(out.end(), ranges->begin(), ranges->end());
  }
  return out;
}

class CommandSourceCheckout final : public SourceCheckout {
 public:
  explicit CommandSourceCheckout(CommandCheckoutOptions options) : options_(std::move(options)) {
    rules_.deny = ParseNetworks("build-deny-networks", options_.deny_networks);
    rules_.allow = ParseNetworks("source-allow-networks", options_.allow_networks);
    for (const std::string* path : {&options_.ssh_known_hosts_file, &options_.ssh_identity_file}) {
      if (path->find_first_of(" \t\n\"'\\") != std::string::npos) {
        throw std::invalid_argument("ssh files: '" + *path +
                                    "' holds whitespace, quotes or a backslash");
      }
    }
  }

  // SourceCheckout
  Result<void> Checkout(const SourceSpec& source, const std::filesystem::path& dest,
                        const CheckoutLimits& limits, const LogLineFn& log,
                        std::stop_token stop) override;

 private:
  // Where a source may be fetched from, as the check found it.
  struct Destination {
    std::vector<std::string> git_pins;  // git -c settings: the addresses curl must use
    bool needs_network_sandbox = false;
  };
  struct Run {
    const std::filesystem::path* dest;
    const CheckoutLimits* limits;
    SteadyClock::time_point deadline;
    const LogLineFn* log;
    std::stop_token stop;
    const BuildSandbox* sandbox;  // null: the host's network
  };
  // Runs one tool. The checkout's size limit bounds how much `watched` grows meanwhile (empty:
  // nothing to watch); `interrupted`, when given, tells a kill (time, stop, size) from an end.
  Result<void> Step(const Run& run, process::Spec spec, std::string_view what,
                    const std::filesystem::path& watched, bool* interrupted = nullptr) const;
  // The URL's transport allowed and every address of its host allowed.
  Result<Destination> CheckDestination(const SourceSpec& source) const;
  // The tool's spec joins the run's sandbox, if any, with `private_dir` holding its resolver.
  static Result<void> UseSandbox(const Run& run, const std::filesystem::path& private_dir,
                                 process::Spec& spec);
  Result<void> Git(const SourceSpec& source, const Run& run,
                   const std::vector<std::string>& pins) const;
  // Without mirrors: a shallow clone straight into the destination.
  Result<void> GitClone(const SourceSpec& source, const Run& run, const process::Spec& base,
                        const std::vector<std::string>& git) const;
  Result<void> Svn(const SourceSpec& source, const Run& run) const;

  CommandCheckoutOptions options_;
  NetworkRules rules_;
};

Result<void> CommandSourceCheckout::Step(const Run& run, process::Spec spec, std::string_view what,
                                         const std::filesystem::path& watched,
                                         bool* interrupted) const {
  auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(run.deadline - SteadyClock::now());
  if (left.count() <= 0) {
    return Fail(Errc::kInternal,
                fmt::format("checkout timed out after {} s", run.limits->timeout.count()));
  }
  spec.timeout = left;
  if (!watched.empty()) {
    const auto max_bytes = run.limits->max_bytes;
    const std::int64_t before = source::TreeBytes(watched);
    spec.watchdog = [watched, before, max_bytes]() -> std::string {
      if (source::TreeBytes(watched) - before > max_bytes) {
        return SizeLimitText(max_bytes);
      }
      return {};
    };
  }
  MARKET_ASSIGN_OR_RETURN(auto outcome, process::Run(spec, *run.log, run.stop));
  if (interrupted != nullptr) {
    *interrupted = outcome.cancelled || outcome.timed_out || !outcome.kill_reason.empty() ||
                   outcome.signal != 0;
  }
  if (outcome.cancelled) return Fail(Errc::kInternal, "cancelled");
  if (outcome.timed_out) {
    return Fail(Errc::kInternal,
                fmt::format("checkout timed out after {} s", run.limits->timeout.count()));
  }
  if (!outcome.Succeeded()) {
    return Fail(Errc::kInternal, fmt::format("{} failed: {}", what, outcome.Describe()));
  }
  return {};
}

Result<void> CommandSourceCheckout::UseSandbox(const Run& run,
                                              const std::filesystem::path& private_dir,
                                              process::Spec& spec) {
  if (run.sandbox == nullptr) return {};
  const auto resolv = private_dir / "resolv.conf";
  if (!std::filesystem::exists(resolv)) {
    auto text = fmt::format("nameserver {}\n", BuildSandbox::kDnsServer);
    if (auto ok = process::WriteNewFile(resolv, text, 0600); !ok) return ok;
  }
  spec.network_namespace = run.sandbox->NetworkNamespace();
  spec.resolv_conf = resolv;
  return {};
}

Result<CommandSourceCheckout::Destination> CommandSourceCheckout::CheckDestination(
    const SourceSpec& source) const {
  auto refuse = [&](std::string_view why) {
    return Fail(Errc::kInvalid, fmt::format("source {}: {}", source.url, why));
  };
  auto endpoint = source::ParseSourceEndpoint(source.url);
  if (!endpoint) return refuse("no host and port can be read from it");
  const std::string& scheme = endpoint->scheme;
  if (scheme == "file") {
    if (options_.allow_file_urls) return Destination{};
    return refuse("local files (file:// or a path) cannot be checked out");
  }
  const bool git = source.type == "git";
  const bool known = scheme == "http" || scheme == "https" || endpoint->ssh ||
                     (git && scheme == "git") || (!git && scheme == "svn");
  if (!known || (git && scheme == "svn+ssh") || (!git && scheme != "svn+ssh" && endpoint->ssh)) {
    return refuse(fmt::format("{} checkouts do not use {}://", source.type, scheme));
  }
  if (endpoint->ssh && !options_.allow_ssh) {
    return Fail(Errc::kInvalid, "ssh sources are disabled (ssh-sources)");
  }

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  if (int rc = ::getaddrinfo(endpoint->host.c_str(), nullptr, &hints, &list); rc != 0) {
    return refuse(fmt::format("cannot resolve {}: {}", endpoint->host, ::gai_strerror(rc)));
  }
  std::vector<std::string> addresses;
  std::string refusal;
  bool all_allowed = true;  // every address in allow_networks
  for (const addrinfo* a = list; a != nullptr && refusal.empty(); a = a->ai_next) {
    if (a->ai_family != AF_INET && a->ai_family != AF_INET6) continue;
    const IpRange address = ToRange(a->ai_addr);
    refusal = rules_.Refusal(address);
    all_allowed = all_allowed && std::any_of(rules_.allow.begin(), rules_.allow.end(),
                                             [&](const IpRange& r) { return r.Contains(address); });
    std::string text = CurlAddress(a->ai_addr);
    if (std::find(addresses.begin(), addresses.end(), text) == addresses.end()) {
      addresses.push_back(std::move(text));
    }
  }
  ::freeaddrinfo(list);
  // Any refused address refuses the source: the tool may pick any of them.
  if (!refusal.empty()) {
    return refuse(fmt::format("{} (source-allow-networks can allow it)", refusal));
  }
  if (addresses.empty()) return refuse(fmt::format("{} has no IP address", endpoint->host));

  Destination destination;
  const bool git_http = git && (scheme == "http" || scheme == "https");
  const bool is_literal = ParseIpRange("", endpoint->host).has_value();
  if (git_http && !is_literal) {
    // curl would resolve the name again; a second answer (DNS rebinding) could be a denied
    // address. It connects to the addresses checked here instead (git >= 2.37).
    destination.git_pins.push_back("-c");
    destination.git_pins.push_back(fmt::format("http.curloptResolve={}:{}:{}", endpoint->host,
                                               endpoint->port, fmt::join(addresses, ",")));
  }
  destination.needs_network_sandbox = options_.network_sandbox && !git_http && !all_allowed;
  return destination;
}

Result<void> CommandSourceCheckout::Git(const SourceSpec& source, const Run& run,
                                        const std::vector<std::string>& pins) const {
  MARKET_ASSIGN_OR_RETURN(auto dir, process::PrivateDir::Create("market-git-"));
  const auto askpass = dir.path() / "askpass";
  MARKET_RETURN_IF_ERROR(process::WriteNewFile(askpass, kAskPassScript, 0700));
  process::Spec base;
  // Nothing of the host's or the service account's git configuration: no /etc/gitconfig, no
  // ~/.gitconfig or $XDG_CONFIG_HOME/git/config (insteadOf, sshCommand, hooks, credential
  // helpers...). Everything the child needs is named here, for the process runner passes only
  // a short allowlist of the server's environment.
  base.env = {
      {"HOME", dir.path().string()},
      {"XDG_CONFIG_HOME", dir.path().string()},
      {"GIT_CONFIG_NOSYSTEM", "1"},
      {"GIT_CONFIG_GLOBAL", "/dev/null"},
      {"GIT_TERMINAL_PROMPT", "0"},
      {"GIT_ASKPASS", askpass.string()},
      {"SSH_ASKPASS", askpass.string()},
      {"GIT_SSH_COMMAND", SshCommand(options_, true)},
      {"GIT_SSH_VARIANT", "ssh"},
      // ext:: and fd:: would run commands named by the URL.
      {"GIT_ALLOW_PROTOCOL", std::string("http:https:git") + (options_.allow_ssh ? ":ssh" : "") +
                                 (options_.allow_file_urls ? ":file" : "")},
      {"MARKET_SOURCE_USERNAME", source.username},
      {"MARKET_SOURCE_PASSWORD", source.password},
  };
  if (auto ok = UseSandbox(run, dir.path(), base); !ok) return ok;
  // No credential helper may store or offer credentials; no hook runs; a redirect is an error
  // (its target was not checked).
  std::vector<std::string> git{options_.git_path,
                               "-c",
                               "credential.helper=",
                               "-c",
                               "advice.detachedHead=false",
                               "-c",
                               "core.hooksPath=/dev/null",
                               "-c",
                               "http.followRedirects=false",
                               "-c",
                               options_.allow_file_urls ? "protocol.file.allow=always"
                                                        : "protocol.file.allow=never"};
  git.insert(git.end(), pins.begin(), pins.end());

  std::string commit;
  if (options_.mirror_dir.empty()) {
    MARKET_RETURN_IF_ERROR(GitClone(source, run, base, git));
    process::Spec head = base;
    head.argv = git;
    for (const char* a : {"-C"}) head.argv.push_back(a);
    head.argv.push_back(run.dest->string());
    for (const char* a : {"rev-parse", "HEAD"}) head.argv.push_back(a);
    head.timeout = std::chrono::seconds(30);
    if (auto rev = process::RunCapture(head, {}, run.stop); rev && rev->outcome.Succeeded()) {
      commit = rev->output;
    }
    // The build gets the files, like `svn export`; history would only grow the context.
    std::error_code ec;
    std::filesystem::remove_all(*run.dest / ".git", ec);
  } else {
    source::GitMirrorRunner runner;
    runner.run = [&](std::vector<std::string> args, std::string_view what,
                     const std::filesystem::path& watched, bool* interrupted) {
      auto spec = base;
      spec.argv = git;
      spec.argv.insert(spec.argv.end(), args.begin(), args.end());
      return Step(run, std::move(spec), what, watched, interrupted);
    };
    runner.capture = [&](std::vector<std::string> args) -> Result<std::string> {
      auto spec = base;
      spec.argv = git;
      spec.argv.insert(spec.argv.end(), args.begin(), args.end());
      spec.timeout = std::chrono::seconds(60);
      MARKET_ASSIGN_OR_RETURN(auto captured, process::RunCapture(spec, {}, run.stop));
      if (!captured.outcome.Succeeded()) {
        return Fail(Errc::kInternal, fmt::format("git failed: {}", captured.outcome.Describe()));
      }
      std::string out = std::move(captured.output);
      while (!out.empty() && std::isspace(static_cast<unsigned char>(out.back()))) out.pop_back();
      return out;
    };
    source::GitMirrorCheckout mirror{.mirror_dir = options_.mirror_dir,
                                     .url = source.url,
                                     .username = source.username,
                                     .password = source.password,
                                     .ref = source.ref,
                                     .dest = *run.dest,
                                     .index_file = dir.path() / "index",
                                     .deadline = run.deadline,
                                     .stop = run.stop,
                                     .log = run.log};
    MARKET_ASSIGN_OR_RETURN(commit, source::CheckoutThroughMirror(mirror, runner));
  }
  while (!commit.empty() && std::isspace(static_cast<unsigned char>(commit.back()))) {
    commit.pop_back();
  }
  if (!commit.empty()) (*run.log)(fmt::format("checked out commit {}", commit));
  return {};
}

Result<void> CommandSourceCheckout::GitClone(const SourceSpec& source, const Run& run,
                                             const process::Spec& base,
                                             const std::vector<std::string>& git) const {
  const std::string dest = run.dest->string();
  if (IsFullCommitId(source.ref)) {
    // A commit cannot be named by --branch: fetch exactly that commit, shallow.
    auto init = base;
    init.argv = git;
    for (const char* a : {"init", "-q"}) init.argv.push_back(a);
    init.argv.push_back(dest);
    if (auto ok = Step(run, std::move(init), "git init", *run.dest); !ok) return ok;
    auto fetch = base;
    fetch.argv = git;
    for (const char* a : {"-C"}) fetch.argv.push_back(a);
    fetch.argv.push_back(dest);
    for (const char* a : {"fetch", "-q", "--depth", "1", "--"}) fetch.argv.push_back(a);
    fetch.argv.push_back(source.url);
    fetch.argv.push_back(source.ref);
    if (auto ok = Step(run, std::move(fetch), "git fetch", *run.dest); !ok) return ok;
    auto checkout = base;
    checkout.argv = git;
    checkout.argv.push_back("-C");
    checkout.argv.push_back(dest);
    for (const char* a : {"checkout", "-q", "FETCH_HEAD"}) checkout.argv.push_back(a);
    return Step(run, std::move(checkout), "git checkout", *run.dest);
  }
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
  return Step(run, std::move(clone), "git clone", *run.dest);
}

Result<void> CommandSourceCheckout::Svn(const SourceSpec& source, const Run& run) const {
  MARKET_ASSIGN_OR_RETURN(auto dir, process::PrivateDir::Create("market-svn-"));
  process::Spec spec;
  spec.env = {{"HOME", dir.path().string()}};
  if (auto ok = UseSandbox(run, dir.path(), spec); !ok) return ok;
  // A private config dir: nothing is read from or cached into the server user's ~/.subversion.
  spec.argv = {
      options_.svn_path,   "export",          "-q",
      "--non-interactive", "--no-auth-cache", "--config-dir",
      dir.path().string(), "--config-option", "config:tunnels:ssh=" + SshCommand(options_, false)};
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
  return Step(run, std::move(spec), "svn export", *run.dest);
}

Result<void> CommandSourceCheckout::Checkout(const SourceSpec& source_in,
                                             const std::filesystem::path& dest,
                                             const CheckoutLimits& limits, const LogLineFn& log,
                                             std::stop_token stop) {
  SourceSpec source = source_in;
  MARKET_RETURN_IF_ERROR(MoveUrlCredentials(source));
  if (source.url.empty() || source.url.front() == '-') {
    return Fail(Errc::kInvalid, fmt::format("bad source url: {}", source.url));
  }
  if (source.type != "git" && source.type != "svn") {
    return Fail(Errc::kInvalid, fmt::format("unknown source type: {}", source.type));
  }
  MARKET_ASSIGN_OR_RETURN(auto destination, CheckDestination(source));
  // The caller made the folders above `dest` without following links (PrepareCheckoutFolder
  // from the build context); `dest` itself must not be a link or hold anything.
  std::error_code ec;
  std::filesystem::create_directories(dest.parent_path(), ec);
  if (ec) {
    return Fail(Errc::kInternal,
                fmt::format("cannot create {}: {}", dest.parent_path().string(), ec.message()));
  }
  if (auto ok = source::PrepareCheckoutFolder(dest.parent_path(), dest.filename().string()); !ok) {
    return Fail(ok.error().code, fmt::format("checkout folder {}: {}", dest.string(),
                                             ok.error().message));
  }

  std::optional<BuildSandbox> sandbox;
  if (destination.needs_network_sandbox) {
    SandboxOptions sandbox_options;
    sandbox_options.deny = rules_.deny;
    sandbox_options.ip_path = options_.ip_path;
    sandbox_options.slirp_path = options_.slirp_path;
    auto made = BuildSandbox::Create(sandbox_options);
    if (!made) {
      return Fail(Errc::kInternal,
                  fmt::format("the checkout's network cannot be made: {}", made.error().message));
    }
    sandbox.emplace(std::move(*made));
  }
  Run run{&dest, &limits, SteadyClock::now() + limits.timeout, &log, stop,
          sandbox ? &*sandbox : nullptr};
  log(fmt::format("checking out {} {}{}{}", source.type, source.url,
                  source.ref.empty() ? std::string() : " at " + source.ref,
                  sandbox ? " (in a network of its own)" : ""));
  Result<void> done;
  if (source.type == "git") {
    done = Git(source, run, destination.git_pins);
  } else {
    done = Svn(source, run);
  }
  if (!done) return done;
  if (source.type == "git" && !options_.mirror_dir.empty()) {
    source::EvictGitMirrors(options_.mirror_dir, options_.mirror_max_bytes);
  }
  // The watchdog samples; a fast checkout can finish between two looks.
  if (auto size = source::TreeBytes(dest); size > limits.max_bytes) {
    return Fail(Errc::kInternal,
                SizeLimitText(limits.max_bytes));
  }
  return {};
}

}  // namespace

SourceCheckoutPtr MakeCommandSourceCheckout(CommandCheckoutOptions options) {
  return std::make_unique<CommandSourceCheckout>(std::move(options));
}

}  // namespace market
