// The subprocess runner: argv without a shell, environment, streaming, timeout, group kill.

#include "process/process.hpp"

#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <thread>

#include "support/test_env.hpp"

namespace market::process {
namespace {

using namespace std::chrono_literals;

struct Lines {
  std::vector<std::string> lines;
  LineFn Fn() {
    return [this](std::string_view l) { lines.emplace_back(l); };
  }
};

TEST_CASE("Run streams merged output line by line and reports the exit status", "[process]") {
  Lines out;
  Spec spec;
  spec.argv = {"sh", "-c", "echo one; echo two >&2; printf 'no newline'; exit 3"};
  auto r = Run(spec, out.Fn(), {});
  REQUIRE(r);
  CHECK(r->exit_code == 3);
  CHECK_FALSE(r->Succeeded());
  CHECK(r->Describe() == "exit status 3");
  CHECK(out.lines == std::vector<std::string>{"one", "two", "no newline"});
}

TEST_CASE("A child that closes its output before it exits is waited for", "[process]") {
  // Once the output has ended the runner checks for the exit status in growing steps: the
  // status, a stop request and a timeout still reach a child that runs on without output.
  SECTION("its exit status") {
    Lines out;
    Spec spec;
    spec.argv = {"sh", "-c", "echo before; exec >&- 2>&-; sleep 0.3; exit 4"};
    auto r = Run(spec, out.Fn(), {});
    REQUIRE(r);
    CHECK(r->exit_code == 4);
    CHECK(out.lines == std::vector<std::string>{"before"});
  }
  SECTION("a stop request") {
    std::stop_source stop;
    Lines out;
    Spec spec;
    spec.argv = {"sh", "-c", "echo before; exec >&- 2>&-; sleep 60"};
    std::jthread canceller([&] {
      std::this_thread::sleep_for(300ms);
      stop.request_stop();
    });
    auto r = Run(spec, out.Fn(), stop.get_token());
    REQUIRE(r);
    CHECK(r->cancelled);
    CHECK(out.lines == std::vector<std::string>{"before"});
  }
  SECTION("a timeout") {
    Spec spec;
    spec.argv = {"sh", "-c", "exec >&- 2>&-; sleep 60"};
    spec.timeout = 300ms;
    auto r = Run(spec, [](std::string_view) {}, {});
    REQUIRE(r);
    CHECK(r->timed_out);
  }
}

TEST_CASE("Arguments reach the program verbatim, no shell involved", "[process]") {
  Lines out;
  Spec spec;
  spec.argv = {"printf", "%s\\n", "$HOME; rm -rf /", "a b"};
  auto r = Run(spec, out.Fn(), {});
  REQUIRE(r);
  CHECK(r->Succeeded());
  CHECK(out.lines == std::vector<std::string>{"$HOME; rm -rf /", "a b"});
}

TEST_CASE("Environment: only the allowlist and the spec's, working dir and stdin", "[process]") {
  testing::TempDir dir;
  // The server's own variables (a database URL, a registry password) never reach a child;
  // the allowlisted ones (the locale, the time zone, proxies) do.
  ::setenv("MARKET_PROCESS_TEST_SERVER_SECRET", "secret", 1);
  ::setenv("MARKET_REGISTRY_PASSWORD", "registry-secret", 1);
  ::setenv("https_proxy", "http://proxy.example:3128", 1);
  ::setenv("TZ", "UTC", 1);
  Lines out;
  Spec spec;
  spec.argv = {"sh", "-c",
               "echo \"$MARKET_X|${MARKET_PROCESS_TEST_SERVER_SECRET-unset}|"
               "${MARKET_REGISTRY_PASSWORD-unset}|$https_proxy|${TZ-unset}\";"
               " pwd; read line; echo \"got $line\""};
  spec.env = {{"MARKET_X", "from spec"}};
  spec.cwd = dir.path();
  spec.stdin_data = "password-line\n";
  auto r = Run(spec, out.Fn(), {});
  ::unsetenv("MARKET_PROCESS_TEST_SERVER_SECRET");
  ::unsetenv("MARKET_REGISTRY_PASSWORD");
  ::unsetenv("https_proxy");
  REQUIRE(r);
  CHECK(r->Succeeded());
  REQUIRE(out.lines.size() == 3);
  CHECK(out.lines[0] == "from spec|unset|unset|http://proxy.example:3128|UTC");
  CHECK(out.lines[1] == std::filesystem::canonical(dir.path()).string());
  CHECK(out.lines[2] == "got password-line");
}

TEST_CASE("A background child runs until its object goes, and says how it ended", "[process]") {
  testing::TempDir dir;
  const auto marker = dir.path() / "alive";
  Spec spec;
  spec.argv = {"sh", "-c", "echo $$ > \"$1.tmp\"; mv \"$1.tmp\" \"$1\"; exec sleep 30", "sh",
               marker.string()};
  pid_t pid = -1;
  {
    auto child = BackgroundChild::Start(spec);
    REQUIRE(child);
    for (int i = 0; i < 100 && !std::filesystem::exists(marker); ++i) ::usleep(20 * 1000);
    REQUIRE(std::filesystem::exists(marker));
    CHECK(child->Running());
    std::ifstream(marker) >> pid;
    REQUIRE(pid > 0);
    CHECK(::kill(pid, 0) == 0);
  }
  // Gone with its object (killed and reaped).
  CHECK(::kill(pid, 0) != 0);

  Spec failing;
  failing.argv = {"sh", "-c", "exit 3"};
  auto child = BackgroundChild::Start(failing);
  REQUIRE(child);
  std::string why;
  for (int i = 0; i < 200 && child->Running(&why); ++i) ::usleep(10 * 1000);
  CHECK(why == "exit status 3");
  CHECK_FALSE(child->Running());
}

TEST_CASE("A missing program is an error, not an outcome", "[process]") {
  Spec spec;
  spec.argv = {"market-no-such-program-xyz"};
  auto r = Run(spec, {}, {});
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("not found") != std::string::npos);
}

TEST_CASE("A child joins a network namespace and sees its own resolver file", "[process]") {
  if (::geteuid() != 0) {
    WARN("skipped: joining a network namespace needs root");
    return;
  }
  testing::TempDir dir;
  std::ofstream(dir.path() / "resolv.conf") << "nameserver 192.0.2.53\n";
  const std::string netns = "mt-proc-" + std::to_string(::getpid());
  Spec ip;
  ip.argv = {"ip", "netns", "add", netns};
  REQUIRE(Run(ip, {}, {}));
  Spec spec;
  spec.argv = {"sh", "-c", "cat /etc/resolv.conf; ip -o link show | wc -l"};
  spec.network_namespace = "/run/netns/" + netns;
  spec.resolv_conf = dir.path() / "resolv.conf";
  Lines out;
  auto r = Run(spec, out.Fn(), {});
  ip.argv = {"ip", "netns", "delete", netns};
  (void)Run(ip, {}, {});
  REQUIRE(r);
  REQUIRE(r->Succeeded());
  REQUIRE(out.lines.size() == 2);
  CHECK(out.lines[0] == "nameserver 192.0.2.53");
  CHECK(out.lines[1] == "1");  // a new namespace holds only its loopback
  // The server's own view is unchanged: the bind was in the child's mount namespace.
  CHECK(testing::ReadFileOrEmpty("/etc/resolv.conf").find("192.0.2.53") == std::string::npos);

  spec.network_namespace = dir.path() / "resolv.conf";  // not a namespace: setns refuses it
  auto refused = Run(spec, {}, {});
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message.find("entering the network namespace") != std::string::npos);
}

bool Alive(pid_t pid) { return ::kill(pid, 0) == 0; }

pid_t ReadPid(const std::filesystem::path& file) {
  for (int i = 0; i < 200; ++i) {
    std::ifstream in(file);
    pid_t pid = 0;
    if (in >> pid && pid > 0) return pid;
    std::this_thread::sleep_for(10ms);
  }
  return 0;
}

TEST_CASE("A timeout kills the whole process group", "[process]") {
  testing::TempDir dir;
  const auto pid_file = dir.path() / "grandchild.pid";
  Spec spec;
  // The grandchild ignores nothing special; it must die with the group.
  spec.argv = {"sh", "-c", "sleep 60 & echo $! > " + pid_file.string() + "; wait"};
  spec.timeout = 300ms;
  spec.kill_grace = 200ms;
  auto start = std::chrono::steady_clock::now();
  auto r = Run(spec, {}, {});
  REQUIRE(r);
  CHECK(r->timed_out);
  CHECK_FALSE(r->Succeeded());
  CHECK(std::chrono::steady_clock::now() - start < 20s);
  pid_t grandchild = ReadPid(pid_file);
  REQUIRE(grandchild > 0);
  for (int i = 0; i < 100 && Alive(grandchild); ++i) std::this_thread::sleep_for(20ms);
  CHECK_FALSE(Alive(grandchild));
}

TEST_CASE("A stop request cancels, escalating to SIGKILL when SIGTERM is ignored", "[process]") {
  std::stop_source stop;
  Lines out;
  Spec spec;
  spec.argv = {"sh", "-c", "trap '' TERM; echo started; while true; do sleep 0.1; done"};
  spec.kill_grace = 300ms;
  std::jthread canceller([&] {
    std::this_thread::sleep_for(300ms);
    stop.request_stop();
  });
  auto r = Run(spec, out.Fn(), stop.get_token());
  REQUIRE(r);
  CHECK(r->cancelled);
  CHECK(r->Describe() == "cancelled");
  CHECK(out.lines == std::vector<std::string>{"started"});
}

TEST_CASE("The watchdog kills with its reason", "[process]") {
  Spec spec;
  spec.argv = {"sleep", "30"};
  spec.watch_interval = 50ms;
  int looks = 0;
  spec.watchdog = [&]() -> std::string { return ++looks >= 3 ? "too big" : ""; };
  auto r = Run(spec, {}, {});
  REQUIRE(r);
  CHECK(r->kill_reason == "too big");
  CHECK(r->Describe() == "too big");
}

TEST_CASE("RunCapture keeps stderr out of the captured text", "[process]") {
  Spec spec;
  spec.argv = {"sh", "-c", "echo '{\"a\":1}'; echo warning >&2"};
  Lines err;
  auto r = RunCapture(spec, err.Fn(), {});
  REQUIRE(r);
  CHECK(r->output == "{\"a\":1}\n");
  CHECK(err.lines == std::vector<std::string>{"warning"});
}

TEST_CASE("PrivateDir is 0700 and goes away, WriteNewFile sets the mode", "[process]") {
  std::filesystem::path kept;
  {
    auto dir = PrivateDir::Create("market-test-private-");
    REQUIRE(dir);
    kept = dir->path();
    auto perms = std::filesystem::status(kept).permissions();
    CHECK(perms == std::filesystem::perms::owner_all);
    REQUIRE(WriteNewFile(kept / "f", "x", 0600));
    CHECK(std::filesystem::status(kept / "f").permissions() ==
          (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
    CHECK_FALSE(WriteNewFile(kept / "f", "y", 0600));  // never overwrites
  }
  CHECK_FALSE(std::filesystem::exists(kept));
}

}  // namespace
}  // namespace market::process
