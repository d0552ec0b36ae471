// The git/svn checkout against real repositories made by the test, and a small HTTP server
// that demands Basic auth, to see where credentials go; the sandbox of checkouts (no host
// configuration, no ssh unless allowed, no loopback or denied addresses, no links followed)
// down to builds of the real BuildService from a `git daemon` on loopback.

#include "market/command_source_checkout.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "base64.hpp"
#include "market/build_service.hpp"
#include "market/plugin_registry.hpp"
#include "market/testing/fake_clock.hpp"
#include "market/testing/fake_image_builder.hpp"
#include "market/testing/fake_registry.hpp"
#include "process/process.hpp"
#include "source/context_paths.hpp"
#include "support/git_server.hpp"
#include "libmarket/source/shell_for_git.hpp"
#include "support/test_env.hpp"
#include "support/test_stores.hpp"

namespace market {
namespace {

using namespace std::chrono_literals;

using market::testing::ReadFile;
using market::testing::Sh;

// A repository with two commits on main, a tag v1 on the first, a branch "feature".
struct GitRepo {
  GitRepo() {
    Sh("git init -q -b main work && cd work && echo one > file.txt && git add . && "
       "git commit -q -m one && git tag v1 && git rev-parse HEAD > ../first && "
       "echo two > file.txt && git commit -q -am two && git checkout -q -b feature && "
       "echo feature > file.txt && git commit -q -am feature && git checkout -q main && "
       "cd .. && git clone -q --bare work repo.git",
       dir.path());
    first_commit = ReadFile(dir.path() / "first");
    first_commit.erase(first_commit.find_last_not_of("\n") + 1);
    url = "file://" + (dir.path() / "repo.git").string();
  }
  testing::TempDir dir;
  std::string url;
  std::string first_commit;
};

SourceSpec Source(std::string type, std::string url, std::string ref = "",
                  std::string username = "", std::string password = "") {
  SourceSpec s;
  s.type = std::move(type);
  s.url = std::move(url);
  s.ref = std::move(ref);
  s.checkout_as = "src";
  s.username = std::move(username);
  s.password = std::move(password);
  return s;
}

// The tests' repositories are on disk (file://) or served on loopback.
CommandCheckoutOptions TestOptions() {
  CommandCheckoutOptions o;
  o.allow_file_urls = true;
  o.allow_networks = {"127.0.0.0/8"};
  return o;
}

struct Fixture {
  SourceCheckoutPtr checkout = MakeCommandSourceCheckout(TestOptions());
  testing::TempDir out;
  CheckoutLimits limits{.timeout = 60s, .max_bytes = 10 << 20};
  std::vector<std::string> log;
  LogLineFn Log() {
    return [this](std::string_view l) { log.emplace_back(l); };
  }
  std::string AllLog() const {
    std::string s;
    for (const auto& l : log) s += l + "\n";
    return s;
  }
};

TEST_CASE("git: default branch, branch, tag and commit, shallow, without .git", "[checkout]") {
  GitRepo repo;
  Fixture f;
  struct Case {
    std::string ref;
    std::string content;
  };
  for (const auto& c : {Case{"", "two\n"}, Case{"feature", "feature\n"}, Case{"v1", "one\n"},
                        Case{repo.first_commit, "one\n"}}) {
    SourceSpec spec = Source("git", repo.url, c.ref, "", "");
    auto dest = f.out.path() / ("ref-" + std::to_string(c.ref.size()) + c.content.substr(0, 2));
    auto ok = f.checkout->Checkout(spec, dest, f.limits, f.Log(), {});
    INFO(c.ref << "\n" << f.AllLog());
    REQUIRE(ok);
    CHECK(ReadFile(dest / "file.txt") == c.content);
    CHECK_FALSE(std::filesystem::exists(dest / ".git"));
  }
  CHECK(f.AllLog().find("checked out commit " + repo.first_commit) != std::string::npos);
}

TEST_CASE("git: an unknown branch fails with the tool's words in the log", "[checkout]") {
  GitRepo repo;
  Fixture f;
  SourceSpec spec = Source("git", repo.url, "nope", "", "");
  auto ok = f.checkout->Checkout(spec, f.out.path() / "x", f.limits, f.Log(), {});
  REQUIRE_FALSE(ok);
  CHECK(ok.error().message.find("git clone failed") != std::string::npos);
  CHECK(f.AllLog().find("nope") != std::string::npos);
}

TEST_CASE("git: the size limit stops the checkout", "[checkout]") {
  GitRepo repo;
  Sh("cd work && head -c 300000 /dev/urandom > big.bin && git add big.bin && "
     "git commit -q -m big && git push -q ../repo.git main",
     repo.dir.path());
  Fixture f;
  f.limits.max_bytes = 100000;
  SourceSpec spec = Source("git", repo.url, "", "", "");
  auto ok = f.checkout->Checkout(spec, f.out.path() / "x", f.limits, f.Log(), {});
  REQUIRE_FALSE(ok);
  CHECK(ok.error().message.find("size limit") != std::string::npos);
}

// Accepts connections and never answers: a server that hangs.
struct SilentServer {
  SilentServer() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd, 16) == 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
  }
  ~SilentServer() { ::close(fd); }
  int fd = -1;
  int port = 0;
};

TEST_CASE("git: the time limit stops a checkout that hangs", "[checkout]") {
  SilentServer server;
  Fixture f;
  f.limits.timeout = 1s;
  SourceSpec spec =
      Source("git", "http://127.0.0.1:" + std::to_string(server.port) + "/r.git", "", "", "");
  auto start = std::chrono::steady_clock::now();
  auto ok = f.checkout->Checkout(spec, f.out.path() / "x", f.limits, f.Log(), {});
  REQUIRE_FALSE(ok);
  CHECK(ok.error().message.find("timed out") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - start < 30s);
}

// Answers 401 with a Basic challenge until a request carries credentials; records them and
// what the command lines of all processes held at that moment.
class AuthServer {
 public:
  explicit AuthServer(std::string password) : password_(std::move(password)) {
    thread_ = std::jthread([this](std::stop_token st) { Serve(st); });
  }
  ~AuthServer() {
    thread_.request_stop();
    ::shutdown(server_.fd, SHUT_RDWR);
  }
  int port() const { return server_.port; }
  std::string authorization() {
    std::lock_guard lock(mu_);
    return authorization_;
  }
  bool password_on_a_command_line() const { return password_seen_on_cmdline_; }

 private:
  void Serve(std::stop_token st) {
    while (!st.stop_requested()) {
      int c = ::accept(server_.fd, nullptr, nullptr);
      if (c < 0) return;
      std::string request;
      char buf[4096];
      while (request.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::read(c, buf, sizeof buf);
        if (n <= 0) break;
        request.append(buf, static_cast<std::size_t>(n));
      }
      ScanCommandLines();
      std::string response;
      auto pos = request.find("\nAuthorization: Basic ");
      if (pos == std::string::npos) pos = request.find("\nauthorization: Basic ");
      if (pos == std::string::npos) {
        response =
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\n"
            "Content-Length: 0\r\nConnection: close\r\n\r\n";
      } else {
        auto start = pos + std::string("\nAuthorization: Basic ").size();
        std::lock_guard lock(mu_);
        authorization_ = request.substr(start, request.find("\r\n", start) - start);
        response = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      }
      [[maybe_unused]] auto n = ::write(c, response.data(), response.size());
      ::close(c);
    }
  }
  void ScanCommandLines() {
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator("/proc", ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
      std::string cmdline = testing::ReadFileOrEmpty(it->path() / "cmdline");
      if (cmdline.find(password_) != std::string::npos) password_seen_on_cmdline_ = true;
    }
  }

  std::string password_;
  SilentServer server_;
  std::mutex mu_;
  std::string authorization_;
  std::atomic<bool> password_seen_on_cmdline_{false};
  std::jthread thread_;
};

TEST_CASE("git: credentials go through askpass, never argv, URL or log", "[checkout]") {
  const std::string password = "Askpass-Only-" + std::to_string(::getpid());
  AuthServer server(password);
  Fixture f;
  SourceSpec spec = Source("git", "http://127.0.0.1:" + std::to_string(server.port()) + "/r.git",
                           "", "deploy", password);
  auto ok = f.checkout->Checkout(spec, f.out.path() / "x", f.limits, f.Log(), {});
  REQUIRE_FALSE(ok);  // the server has no repository
  CHECK(server.authorization() == Base64Encode("deploy:" + password));
  CHECK_FALSE(server.password_on_a_command_line());
  CHECK(f.AllLog().find(password) == std::string::npos);
  CHECK(ok.error().message.find(password) == std::string::npos);
}

TEST_CASE("git through a mirror: credentials through askpass, kept nowhere", "[checkout][mirror]") {
  const std::string password = "Mirror-Askpass-" + std::to_string(::getpid());
  AuthServer server(password);
  testing::TempDir mirrors;
  CommandCheckoutOptions options = TestOptions();
  options.mirror_dir = mirrors.path() / "git-mirrors";
  Fixture f;
  f.checkout = MakeCommandSourceCheckout(options);
  SourceSpec spec = Source("git", "http://127.0.0.1:" + std::to_string(server.port()) + "/r.git",
                           "", "deploy", password);
  auto ok = f.checkout->Checkout(spec, f.out.path() / "x", f.limits, f.Log(), {});
  REQUIRE_FALSE(ok);  // the server has no repository
  CHECK(ok.error().message.find("git fetch failed") != std::string::npos);
  CHECK(server.authorization() == Base64Encode("deploy:" + password));
  CHECK_FALSE(server.password_on_a_command_line());
  CHECK(f.AllLog().find(password) == std::string::npos);
  CHECK(ok.error().message.find(password) == std::string::npos);
  // The mirror was made before the fetch; neither a file nor a name under it holds the password.
  REQUIRE(std::filesystem::exists(options.mirror_dir));
  int files = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(options.mirror_dir)) {
    CHECK(e.path().string().find(password) == std::string::npos);
    if (e.is_regular_file()) {
      ++files;
      CHECK(ReadFile(e.path()).find(password) == std::string::npos);
    }
  }
  CHECK(files > 0);
}

TEST_CASE("git: a password written into the URL is moved out of it", "[checkout]") {
  const std::string password = "In-Url-" + std::to_string(::getpid());
  AuthServer server(password);
  Fixture f;
  SourceSpec spec = Source(
      "git", "http://deploy:" + password + "@127.0.0.1:" + std::to_string(server.port()) + "/r.git",
      "", "", "");
  auto ok = f.checkout->Checkout(spec, f.out.path() / "x", f.limits, f.Log(), {});
  REQUIRE_FALSE(ok);
  CHECK(server.authorization() == Base64Encode("deploy:" + password));
  CHECK_FALSE(server.password_on_a_command_line());
  CHECK(f.AllLog().find(password) == std::string::npos);

  // A URL that cannot be read is refused without quoting it: it may hold the password.
  SourceSpec unreadable = Source("git", "http://deploy:" + password + "@127.0.0.1:8o/r.git", "",
                                 "", "");
  auto refused = f.checkout->Checkout(unreadable, f.out.path() / "y", f.limits, f.Log(), {});
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::kInvalid);
  CHECK(refused.error().message.find(password) == std::string::npos);
}

TEST_CASE("svn: export of a revision, password from stdin", "[checkout]") {
  testing::TempDir dir;
  Sh("svnadmin create repo && mkdir tree && echo first > tree/a.txt && "
     "svn import -q -m one tree file://$PWD/repo/trunk && "
     "svn checkout -q file://$PWD/repo/trunk wc && echo second > wc/a.txt && "
     "svn commit -q -m two wc",
     dir.path());
  const std::string url = "file://" + (dir.path() / "repo/trunk").string();
  Fixture f;
  SourceSpec latest = Source("svn", url, "", "u", "Svn-Stdin-pw");
  REQUIRE(f.checkout->Checkout(latest, f.out.path() / "latest", f.limits, f.Log(), {}));
  CHECK(ReadFile(f.out.path() / "latest/a.txt") == "second\n");
  SourceSpec first = Source("svn", url, "1", "", "");
  REQUIRE(f.checkout->Checkout(first, f.out.path() / "first", f.limits, f.Log(), {}));
  CHECK(ReadFile(f.out.path() / "first/a.txt") == "first\n");
  CHECK(f.AllLog().find("Svn-Stdin-pw") == std::string::npos);
}

TEST_CASE("Unknown source types and option-like URLs are refused", "[checkout]") {
  Fixture f;
  SourceSpec hg = Source("hg", "https://example.com/r", "", "", "");
  auto a = f.checkout->Checkout(hg, f.out.path() / "a", f.limits, f.Log(), {});
  REQUIRE_FALSE(a);
  CHECK(a.error().code == Errc::kInvalid);
  SourceSpec dash = Source("git", "--upload-pack=touch /tmp/x", "", "", "");
  auto b = f.checkout->Checkout(dash, f.out.path() / "b", f.limits, f.Log(), {});
  REQUIRE_FALSE(b);
  CHECK(b.error().code == Errc::kInvalid);
}


// ---- The sandbox of checkouts ----

LogLineFn NoLog() {
  return [](std::string_view) {};
}

void WriteScript(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path) << text;
  std::filesystem::permissions(path, std::filesystem::perms::owner_all);
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

bool Has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// Whether anything connected to the listening socket (accept without waiting).
bool AnyoneConnected(int listening_fd) {
  int flags = ::fcntl(listening_fd, F_GETFL);
  ::fcntl(listening_fd, F_SETFL, flags | O_NONBLOCK);
  int c = ::accept(listening_fd, nullptr, nullptr);
  if (c >= 0) ::close(c);
  return c >= 0;
}

// Sets environment variables of this process for one test, as a careless service account's
// environment would hold them.
class ScopedEnv {
 public:
  ScopedEnv(std::vector<std::pair<std::string, std::string>> vars) {
    for (auto& [name, value] : vars) {
      const char* old = ::getenv(name.c_str());
      saved_.push_back({name, old ? std::optional<std::string>(old) : std::nullopt});
      ::setenv(name.c_str(), value.c_str(), 1);
    }
  }
  ~ScopedEnv() {
    for (auto& [name, value] : saved_) {
      if (value) {
        ::setenv(name.c_str(), value->c_str(), 1);
      } else {
        ::unsetenv(name.c_str());
      }
    }
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

TEST_CASE("Local files are no source unless the embedder allows them", "[checkout][sandbox]") {
  GitRepo repo;
  testing::TempDir out;
  auto checkout = MakeCommandSourceCheckout();
  CheckoutLimits limits{.timeout = 30s, .max_bytes = 1 << 20};
  for (const std::string& url : {repo.url, (repo.dir.path() / "repo.git").string()}) {
    INFO(url);
    auto r = checkout->Checkout(Source("git", url), out.path() / "x", limits, NoLog(), {});
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::kInvalid);
    CHECK(r.error().message.find("local files") != std::string::npos);
  }
  CHECK_FALSE(std::filesystem::exists(out.path() / "x"));
}

TEST_CASE("Sources on loopback, link-local or denied networks are refused before git runs",
          "[checkout][sandbox]") {
  SilentServer server;
  testing::TempDir out;
  auto checkout = MakeCommandSourceCheckout({.deny_networks = {"203.0.113.0/24"}});
  CheckoutLimits limits{.timeout = 30s, .max_bytes = 1 << 20};
  const std::string port = std::to_string(server.port);
  struct Case {
    std::string type;
    std::string url;
    std::string says;
  };
  for (const Case& c : {
           Case{"git", "http://127.0.0.1:" + port + "/r.git",
                "127.0.0.1 is a loopback address (source-allow-networks can allow it)"},
           Case{"git", "http://localhost:" + port + "/r.git", "is a loopback address"},
           Case{"git", "http://[::ffff:127.0.0.1]:" + port + "/r", "127.0.0.1 is a loopback"},
           Case{"git", "git://127.0.0.1:" + port + "/r.git", "127.0.0.1 is a loopback"},
           Case{"git", "http://169.254.169.254/latest/meta-data",
                "169.254.169.254 is a link-local address"},
           Case{"git", "https://203.0.113.5/r.git",
                "203.0.113.5 is in a denied network (203.0.113.0/24)"},
           Case{"svn", "svn://127.0.0.1:" + port + "/r", "127.0.0.1 is a loopback"},
           Case{"svn", "http://127.0.0.1:" + port + "/svn/r", "127.0.0.1 is a loopback"},
       }) {
    INFO(c.url);
    auto r = checkout->Checkout(Source(c.type, c.url), out.path() / "x", limits, NoLog(), {});
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::kInvalid);
    CHECK(r.error().message.rfind("source " + c.url + ": ", 0) == 0);
    CHECK(r.error().message.find(c.says) != std::string::npos);
  }
  CHECK_FALSE(AnyoneConnected(server.fd));
}

TEST_CASE("A git server on loopback is reached when 127.0.0.0/8 is allowed",
          "[checkout][sandbox]") {
  GitRepo repo;
  testing::GitServer daemon(repo.dir.path());
  testing::TempDir out;
  CheckoutLimits limits{.timeout = 60s, .max_bytes = 10 << 20};
  const SourceSpec spec = Source("git", daemon.Url("repo.git"));

  auto refused = MakeCommandSourceCheckout()->Checkout(spec, out.path() / "a", limits, NoLog(), {});
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message.find("loopback") != std::string::npos);

  auto allowed = MakeCommandSourceCheckout({.allow_networks = {"127.0.0.0/8"}});
  auto ok = allowed->Checkout(spec, out.path() / "b", limits, NoLog(), {});
  REQUIRE(ok);
  CHECK(ReadFile(out.path() / "b/file.txt") == "two\n");
}

TEST_CASE("git over http connects to the checked addresses only, and follows no redirect",
          "[checkout][sandbox]") {
  testing::TempDir dir;
  // A git that records its arguments: where curl is pinned.
  const auto args = dir.path() / "args";
  const auto env = dir.path() / "env";
  WriteScript(dir.path() / "git",
              "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done >> " + args.string() +
                  "\nenv > " + env.string() + "\nexit 1\n");
  auto recording = MakeCommandSourceCheckout({.git_path = (dir.path() / "git").string(),
                                              .allow_networks = {"127.0.0.0/8", "::1/128"}});
  CheckoutLimits limits{.timeout = 30s, .max_bytes = 1 << 20};
  REQUIRE_FALSE(
      recording->Checkout(Source("git", "http://localhost:4567/r.git"), dir.path() / "x", limits,
                          NoLog(), {}));
  auto seen = Lines(ReadFile(args));
  INFO(ReadFile(args));
  bool pinned = false;
  for (const std::string& a : seen) {
    if (a.rfind("http.curloptResolve=localhost:4567:", 0) == 0) {
      pinned = a.find("127.0.0.1") != std::string::npos || a.find("[::1]") != std::string::npos;
    }
  }
  CHECK(pinned);
  CHECK(Has(seen, "http.followRedirects=false"));
  CHECK(Has(seen, "protocol.file.allow=never"));
  CHECK(Has(seen, "core.hooksPath=/dev/null"));
  // git's environment names no configuration of the host or the service account.
  auto environment = Lines(ReadFile(env));
  INFO(ReadFile(env));
  CHECK(Has(environment, "GIT_CONFIG_NOSYSTEM=1"));
  CHECK(Has(environment, "GIT_CONFIG_GLOBAL=/dev/null"));
  CHECK(Has(environment, "GIT_ALLOW_PROTOCOL=http:https:git"));
  const auto home = std::find_if(environment.begin(), environment.end(),
                                 [](const std::string& l) { return l.starts_with("HOME="); });
  REQUIRE(home != environment.end());
  const char* own_home = ::getenv("HOME");
  CHECK(*home != std::string("HOME=") + (own_home ? own_home : ""));
  CHECK(home->find("market-git-") != std::string::npos);

  // A real git answered with a redirect to another loopback server: it does not go there.
  SilentServer target;
  SilentServer redirector;
  std::jthread answer([&] {
    int c = ::accept(redirector.fd, nullptr, nullptr);
    if (c < 0) return;
    char buf[4096];
    [[maybe_unused]] auto n = ::read(c, buf, sizeof buf);
    std::string response = fmt::format(
        "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{}/r.git/info/refs?service=git-upload-"
        "pack\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        target.port);
    [[maybe_unused]] auto w = ::write(c, response.data(), response.size());
    ::close(c);
  });
  auto real = MakeCommandSourceCheckout({.allow_networks = {"127.0.0.0/8"}});
  auto r = real->Checkout(
      Source("git", fmt::format("http://127.0.0.1:{}/r.git", redirector.port)),
      dir.path() / "y", limits, NoLog(), {});
  answer.join();
  REQUIRE_FALSE(r);
  CHECK_FALSE(AnyoneConnected(target.fd));
}

TEST_CASE("git reads none of the service account's or the host's git configuration",
          "[checkout][sandbox]") {
  GitRepo repo;
  testing::TempDir home;
  const std::string hook_ran = (home.path() / "hook-ran").string();
  std::filesystem::create_directories(home.path() / "hooks");
  WriteScript(home.path() / "hooks/post-checkout", "#!/bin/sh\ntouch " + hook_ran + "\n");
  const std::string config = "[url \"file:///nonexistent/\"]\n\tinsteadOf = file://\n[core]\n"
                             "\thooksPath = " + (home.path() / "hooks").string() + "\n";
  std::ofstream(home.path() / ".gitconfig") << config;
  std::filesystem::create_directories(home.path() / "xdg/git");
  std::ofstream(home.path() / "xdg/git/config") << config;
  ScopedEnv env({{"HOME", home.path().string()},
                 {"XDG_CONFIG_HOME", (home.path() / "xdg").string()},
                 {"GIT_CONFIG_COUNT", "1"},
                 {"GIT_CONFIG_KEY_0", "url.file:///nonexistent/.insteadOf"},
                 {"GIT_CONFIG_VALUE_0", "file://"}});

  // The planted configuration does break a git that reads it.
  process::Spec plain;
  plain.argv = {"git", "ls-remote", "--", repo.url};
  plain.env = {{"HOME", home.path().string()}};
  auto control = process::Run(plain, {}, {});
  REQUIRE(control);
  REQUIRE_FALSE(control->Succeeded());

  Fixture f;
  auto ok = f.checkout->Checkout(Source("git", repo.url), f.out.path() / "x", f.limits, f.Log(),
                                 {});
  INFO(f.AllLog());
  REQUIRE(ok);
  CHECK(ReadFile(f.out.path() / "x/file.txt") == "two\n");
  CHECK_FALSE(std::filesystem::exists(hook_ran));
}

TEST_CASE("ssh sources: refused when off, when on, ssh uses only the configured files",
          "[checkout][sandbox]") {
  testing::TempDir dir;
  CheckoutLimits limits{.timeout = 30s, .max_bytes = 1 << 20};
  struct Case {
    std::string type;
    std::string url;
  };
  const std::vector<Case> cases = {{"git", "ssh://git@127.0.0.1:2222/r.git"},
                                   {"git", "git@127.0.0.1:team/r.git"},
                                   {"svn", "svn+ssh://127.0.0.1/r"}};
  auto off = MakeCommandSourceCheckout({.allow_networks = {"127.0.0.0/8"}});
  for (const Case& c : cases) {
    INFO(c.url);
    auto r = off->Checkout(Source(c.type, c.url), dir.path() / "x", limits, NoLog(), {});
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::kInvalid);
    CHECK(r.error().message == "ssh sources are disabled (ssh-sources)");
  }

  const auto args = dir.path() / "ssh-args";
  WriteScript(dir.path() / "ssh", "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > " +
                                      args.string() + "\nexit 255\n");
  const std::string known_hosts = (dir.path() / "known_hosts").string();
  const std::string identity = (dir.path() / "id_ed25519").string();
  std::ofstream(known_hosts) << "";
  auto on = MakeCommandSourceCheckout({.ssh_path = (dir.path() / "ssh").string(),
                                       .allow_ssh = true,
                                       .ssh_known_hosts_file = known_hosts,
                                       .ssh_identity_file = identity,
                                       .allow_networks = {"127.0.0.0/8"}});
  for (const Case& c : cases) {
    INFO(c.url);
    std::filesystem::remove(args);
    auto r = on->Checkout(Source(c.type, c.url), dir.path() / "y", limits, NoLog(), {});
    REQUIRE_FALSE(r);  // the fake ssh fails
    auto seen = Lines(ReadFile(args));
    INFO(ReadFile(args));
    REQUIRE_FALSE(seen.empty());
    for (const char* want : {"-F", "/dev/null", "BatchMode=yes", "StrictHostKeyChecking=yes",
                             "GlobalKnownHostsFile=/dev/null", "IdentitiesOnly=yes",
                             "IdentityAgent=none", "-i"}) {
      CHECK(Has(seen, want));
    }
    CHECK(Has(seen, "UserKnownHostsFile=" + known_hosts));
    CHECK(Has(seen, identity));
    CHECK(std::any_of(seen.begin(), seen.end(), [](const std::string& a) {
      return a.find("127.0.0.1") != std::string::npos;
    }));
  }
}

TEST_CASE("A checkout never writes through a link a repository checked out before",
          "[checkout][sandbox]") {
  // The planted repository: "sub" links to a folder outside the build context.
  testing::TempDir outside;
  testing::TempDir dir;
  Sh("git init -q -b main work && cd work && ln -s " + outside.path().string() +
         " sub && git add sub && git commit -q -m planted && cd .. && "
         "git clone -q --bare work planted.git",
     dir.path());
  GitRepo other;
  Fixture f;
  const auto context = f.out.path() / "context";
  std::filesystem::create_directories(context);
  REQUIRE(f.checkout->Checkout(Source("git", "file://" + (dir.path() / "planted.git").string()),
                               context / "a", f.limits, f.Log(), {}));
  REQUIRE(std::filesystem::is_symlink(context / "a/sub"));

  for (const char* rel : {"a/sub", "a/sub/x", "a/sub/x/y"}) {
    INFO(rel);
    auto ready = source::PrepareCheckoutFolder(context, rel);
    REQUIRE_FALSE(ready);
    CHECK(ready.error().message.find("'a/sub' is a symbolic link") != std::string::npos);
  }
  // The checkout itself refuses a destination that is a link, too.
  auto direct = f.checkout->Checkout(Source("git", other.url), context / "a/sub", f.limits,
                                     f.Log(), {});
  REQUIRE_FALSE(direct);
  CHECK(direct.error().message.find("symbolic link") != std::string::npos);
  CHECK(std::filesystem::is_empty(outside.path()));
}

// ---- The same, through a build of the real BuildService ----

struct BuildFixture {
  explicit BuildFixture(std::int64_t context_bytes = 2LL << 30) : db(testing::Backend::kSqlite) {
    auto opened = db.Open();
    REQUIRE(opened);
    stores = std::move(*opened);
    BuildServiceOptions options;
    options.checkout_limits.max_bytes = context_bytes;
    options.workers = 1;
    options.workspace = workspace.path() / "ws";
    options.poll_interval = 50ms;
    BuildDependencies deps{stores.projects.get(), stores.builds.get(), plugins.get(), &builder,
                           checkout.get(),        &registry,           &clock};
    service = std::make_unique<BuildService>(deps, options);
    service->Start();
  }
  ~BuildFixture() { service->Stop(); }

  // Why a project stored as is cannot be built: the build request's refusal (a pipeline that
  // does not render is refused when it is requested), or else the finished build's reason.
  std::string Refusal(const std::string& name, DockerfileType type, Pipeline pipeline) {
    Insert(name, type, std::move(pipeline));
    auto queued = service->Enqueue(name, "v1", "alice");
    if (!queued) {
      CHECK(queued.error().code == Errc::kInvalid);
      return queued.error().message;
    }
    Build done = Wait(queued->id);
    CHECK(done.state == BuildState::kFailed);
    return done.reason;
  }

  // Stored as is (no save-time validation), as a project saved before a rule existed.
  void Insert(const std::string& name, DockerfileType type, Pipeline pipeline) {
    Project p;
    p.name = name;
    p.creator = p.last_modify_operator = "alice";
    p.create_time = p.last_modify_time = clock.Now();
    p.cluster = "team";
    p.define_type = type;
    p.pipeline = std::move(pipeline);
    REQUIRE(stores.projects->Insert(p));
  }

  Build Wait(std::int64_t id) {
    auto deadline = std::chrono::steady_clock::now() + 60s;
    for (;;) {
      auto b = stores.builds->Get(id);
      REQUIRE(b);
      if (IsFinished(b->state)) return *b;
      REQUIRE(std::chrono::steady_clock::now() < deadline);
      std::this_thread::sleep_for(20ms);
    }
  }

  Build Run(const std::string& name, DockerfileType type, Pipeline pipeline) {
    Insert(name, type, std::move(pipeline));
    auto queued = service->Enqueue(name, "v1", "alice");
    INFO((queued ? std::string() : queued.error().message));
    REQUIRE(queued);
    return Wait(queued->id);
  }

  testing::TestDatabase db;
  Stores stores;
  testing::FakeClock clock;
  std::unique_ptr<PluginRegistry> plugins = MakeBuiltinPluginRegistry();
  testing::FakeImageBuilder builder;
  testing::FakeRegistry registry{"registry.test:5000"};
  SourceCheckoutPtr checkout = MakeCommandSourceCheckout({.allow_networks = {"127.0.0.0/8"}});
  testing::TempDir workspace;
  std::unique_ptr<BuildService> service;
};

PluginInstance SourceEntry(const std::string& url, const std::string& checkout_as) {
  return PluginInstance{"download_executable_source",
                        {{"source_type", std::string("git")},
                         {"source_url", url},
                         {"checkoutAs", checkout_as},
                         {"containerPath", "/opt/" + std::to_string(checkout_as.size())}}};
}

TEST_CASE("Build: overlapping checkoutAs spellings never reach git", "[checkout][sandbox]") {
  testing::TempDir outside;
  testing::TempDir repos;
  Sh("git init -q -b main work && cd work && ln -s " + outside.path().string() +
         " sub && echo x > f && git add . && git commit -q -m planted && cd .. && "
         "git clone -q --bare work planted.git && git clone -q --bare work other.git",
     repos.path());
  testing::GitServer daemon(repos.path());
  BuildFixture f;
  int n = 0;
  for (const char* second : {"a/sub/x", "./a/sub", "a//sub", "a/sub/", "a/."}) {
    INFO(second);
    std::string refusal = f.Refusal(
        "overlap" + std::to_string(n++), DockerfileType::kEdit,
        {PluginInstance{"static_dockerfile", {{"dockerfile", std::string("FROM busybox:1")}}},
         SourceEntry(daemon.Url("planted.git"), "a"),
         SourceEntry(daemon.Url("other.git"), second)});
    CHECK(refusal.find("checkoutAs") != std::string::npos);
  }
  CHECK(f.builder.Calls().empty());
  CHECK(std::filesystem::is_empty(outside.path()));
}

TEST_CASE("Build: a repository's Dockerfile that is a link is refused", "[checkout][sandbox]") {
  testing::TempDir repos;
  Sh("git init -q -b main work && cd work && ln -s /etc/passwd Dockerfile && mkdir docker && "
     "echo 'FROM busybox:1' > real && ln -s ../real docker/Dockerfile && ln -s docker linked && "
     "git add . && git commit -q -m links && cd .. && git clone -q --bare work links.git",
     repos.path());
  testing::GitServer daemon(repos.path());
  BuildFixture f;
  struct Case {
    std::string path;
    std::string says;
  };
  int n = 0;
  for (const Case& c : {Case{"", "the Dockerfile Dockerfile of the checkout: 'Dockerfile' is a "
                                 "symbolic link"},
                        Case{"docker/Dockerfile", "'docker/Dockerfile' is a symbolic link"},
                        Case{"linked/x", "'linked' is a symbolic link"},
                        Case{"docker", "'docker' is not a regular file"}}) {
    INFO(c.path);
    PluginInstance entry{"download_dockerfile",
                         {{"sourceType", std::string("git")},
                          {"sourceUrl", daemon.Url("links.git")},
                          {"checkoutAs", std::string("repo")}}};
    if (!c.path.empty()) entry.attributes["dockerfilePath"] = c.path;
    Build done = f.Run("links" + std::to_string(n++), DockerfileType::kDownload, {entry});
    CHECK(done.state == BuildState::kFailed);
    CHECK(done.reason.find(c.says) != std::string::npos);
  }
  CHECK(f.builder.Calls().empty());
}

TEST_CASE("Build: the checkouts together stay within the context's size limit",
          "[checkout][sandbox]") {
  // Two repositories of 600 KB each: either fits in 1 MB, both do not.
  testing::TempDir repos;
  Sh("git init -q -b main work && cd work && head -c 614400 /dev/zero > blob && git add . && "
     "git commit -q -m blob && cd .. && git clone -q --bare work one.git && "
     "git clone -q --bare work two.git",
     repos.path());
  testing::GitServer daemon(repos.path());
  BuildFixture f(1 << 20);
  PluginInstance dockerfile{"static_dockerfile", {{"dockerfile", std::string("FROM busybox:1")}}};

  Build one = f.Run("budget-one", DockerfileType::kEdit,
                    {dockerfile, SourceEntry(daemon.Url("one.git"), "one")});
  CHECK(one.state == BuildState::kSucceeded);

  Build both = f.Run("budget-both", DockerfileType::kEdit,
                     {dockerfile, SourceEntry(daemon.Url("one.git"), "one"),
                      SourceEntry(daemon.Url("two.git"), "two")});
  CHECK(both.state == BuildState::kFailed);
  CHECK(both.reason.find("checking out two failed") != std::string::npos);
  CHECK(both.reason.find("build-context-bytes") != std::string::npos);
  CHECK(f.builder.Calls().size() == 1);  // only the first build reached the builder
}

}  // namespace
}  // namespace market
