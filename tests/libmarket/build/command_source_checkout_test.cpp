// The git/svn checkout against real repositories made by the test, and a small HTTP server
// that demands Basic auth, to see where credentials go.

#include "market/command_source_checkout.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "buildah/base64.hpp"
#include "process/process.hpp"
#include "support/test_env.hpp"

namespace market {
namespace {

using namespace std::chrono_literals;

std::string Sh(const std::string& script, const std::filesystem::path& cwd = {}) {
  process::Spec spec;
  spec.argv = {"sh", "-ec", script};
  spec.cwd = cwd;
  spec.env = {{"GIT_AUTHOR_NAME", "t"},
              {"GIT_AUTHOR_EMAIL", "t@example.com"},
              {"GIT_COMMITTER_NAME", "t"},
              {"GIT_COMMITTER_EMAIL", "t@example.com"}};
  std::string out;
  auto r = process::Run(spec, [&](std::string_view l) { out += std::string(l) + "\n"; }, {});
  REQUIRE(r);
  INFO(out);
  REQUIRE(r->Succeeded());
  return out;
}

std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

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

struct Fixture {
  SourceCheckoutPtr checkout = MakeCommandSourceCheckout();
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
      std::ifstream in(it->path() / "cmdline", std::ios::binary);
      std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
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

}  // namespace
}  // namespace market
