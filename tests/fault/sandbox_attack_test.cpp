// The build sandbox under attack through the real server: a developer's project whose RUN step
// posts /api/project/delete to the server (which answers without a login on loopback) through
// every address a step might reach it by, while every process's environment is watched for the
// registry password. With the default isolation the victim survives and no child holds the
// password; with the chroot opt-out the same build deletes it, which shows the test can tell.

#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <set>

#include "fault/fault_support.hpp"
#include "harbor_client/registry_process.hpp"
#include "market/network_rules.hpp"
#include "support/process_watch.hpp"
#include "support/test_hosts.hpp"

namespace market::fault {
namespace {

using json = nlohmann::json;

// Samples every process's environment until stopped; keeps the pids of those (other than the
// server itself, which was given the password) that hold `secret`.
class EnvironmentWatch {
 public:
  EnvironmentWatch(std::string secret, pid_t allowed)
      : secret_(std::move(secret)),
        watch_(testing::ProcessWatch::Field::kEnvironment,
               [this, allowed](pid_t pid, const std::string& environment) {
                 if (pid == allowed) return;
                 if (environment.find("PATH=") != std::string::npos &&
                     testing::CommandLineOf(pid).find("buildah") != std::string::npos) {
                   saw_buildah_ = true;
                 }
                 if (environment.find(secret_) != std::string::npos &&
                     HoldsSecretAfterExec(pid)) {
                   std::lock_guard lock(mu_);
                   leaks_.insert(
                       fmt::format("{}: {}", pid, testing::CommandLineOf(pid).substr(0, 200)));
                 }
               }) {}
  void Stop() { watch_.Stop(); }
  std::set<std::string> leaks() {
    std::lock_guard lock(mu_);
    return leaks_;
  }
  bool saw_buildah() const { return saw_buildah_; }

 private:
  // Between fork and exec a child of the server is a copy of it, environment included: only a
  // process that runs another program and still holds the secret has been given it. Looked at
  // again, after the environment, so an exec in between does not count as a leak.
  bool HoldsSecretAfterExec(pid_t pid) const {
    if (testing::CommandLineOf(pid).find("market-server") != std::string::npos) return false;
    if (ReadFileOrEmpty(fmt::format("/proc/{}/environ", pid)).find(secret_) == std::string::npos) {
      return false;
    }
    return testing::CommandLineOf(pid).find("market-server") == std::string::npos;
  }
  std::string secret_;
  std::atomic<bool> saw_buildah_{false};
  std::mutex mu_;
  std::set<std::string> leaks_;
  testing::ProcessWatch watch_;  // last: stops before the members it writes go
};

// A RUN line that sends `request` to port `port` of each address and says whether it connected.
std::string AttackLine(const std::vector<std::string>& addresses, int port,
                       const std::string& request) {
  std::string escaped;
  for (char c : request) {
    if (c == '\r') {
      escaped += "\\r";
    } else if (c == '\n') {
      escaped += "\\n";
    } else {
      escaped += c;
    }
  }
  std::string line = "for a in";
  for (const auto& a : addresses) line += " " + a;
  line += fmt::format(
      "; do if printf '{}' | nc -w 3 $a {} >/dev/null 2>&1; then echo \"attack via $a "
      "connected\"; else echo \"attack via $a refused\"; fi; done",
      escaped, port);
  return line;
}

}  // namespace

TEST_CASE("A build can neither drive the server's API nor read its secrets",
          "[fault][sandbox][buildah]") {
  std::optional<std::string> base_registry = market::testing::RegistryHost();
  if (!base_registry) {
    WARN("MARKET_TEST_REGISTRY is not set (it holds the base image): skipping");
    return;
  }
  if (::geteuid() != 0) {
    WARN("the build sandbox needs root (network namespaces and cgroups): skipping");
    return;
  }
  const std::string isolation = GENERATE(std::string("oci"), std::string("chroot"));
  INFO("build-isolation " << isolation);
  const std::string registry_password = "Sandbox-Planted-pw-" + std::to_string(::getpid());
  market::testing::TempDir dir;
  market::testing::RegistryProcess registry(
      market::testing::RegistryProcess::Options{.user = "pusher", .password = registry_password});
  ServerProcess server(
      {"--listen", "127.0.0.1:0", "--database", "sqlite:" + (dir.path() / "market.db").string(),
       "--workspace", (dir.path() / "ws").string(), "--registry", registry.Url(), "--registry-user",
       "pusher", "--registry-insecure", "--build-workers", "1", "--build-isolation", isolation},
      dir.path() / "server.log", {{"MARKET_REGISTRY_PASSWORD", registry_password}});
  HttpClient client(server.port(), 30s);
  auto post = [&](const std::string& target, const json& body) {
    Reply reply = client.PostJson(target, body);
    INFO(target << ": " << reply.body);
    return reply;
  };
  REQUIRE(post("/api/project/new", {{"projectName", "victim"}, {"operator", "owner"}}).TryCode() ==
          10000);

  const std::string form = "projectName=victim&operator=attacker";
  const std::string request = fmt::format(
      "POST /api/project/delete HTTP/1.0\r\nHost: 127.0.0.1:{}\r\nContent-Type: "
      "application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{}",
      server.port(), form.size(), form);
  // Every way a step might find the server: its own loopback (the host's, under chroot),
  // slirp's gateway (the host's loopback unless refused), and every address of this host.
  std::vector<std::string> addresses = {"127.0.0.1", "10.0.2.2"};
  for (const IpRange& address : HostAddresses()) {
    if (address.v6) continue;
    std::string text = address.ToString();
    addresses.push_back(text.substr(0, text.find('/')));
  }
  json pipeline =
      json::array({{{"$$plugin", "base_image_choose_from_harbor"},
                    {"handleInput", *base_registry + "/base/busybox:latest"}},
                   {{"$$plugin", "run"},
                    {"value", json::array({AttackLine(addresses, server.port(), request)})}}});
  REQUIRE(post("/api/project/save", {{"projectName", "attacker"},
                                     {"addOrUpdate", "add"},
                                     {"operator", "dev"},
                                     {"$$plugin", pipeline}})
              .TryCode() == 10000);

  EnvironmentWatch watch(registry_password, server.pid());
  Reply queued = post("/api/project/build", {{"projectName", "attacker"}, {"operator", "dev"}});
  REQUIRE(queued.TryCode() == 10000);
  json history;
  std::string state;
  REQUIRE(WaitFor(
      [&] {
        history = client.Get("/api/project/buildHistory?projectName=attacker").TryJson()["content"];
        state = history.is_object() ? history["latest"].value("state", "") : "";
        return state == "succeeded" || state == "failed" || state == "cancelled";
      },
      300s, 200ms));
  watch.Stop();
  const std::string logs = history.value("logs", "");
  INFO(logs);
  CHECK(state == "succeeded");
  CHECK(watch.saw_buildah());
  std::string leaks;
  for (const auto& leak : watch.leaks()) leaks += leak + "\n";
  INFO("the registry password in the environment of:\n" << leaks);
  CHECK(leaks.empty());

  const int victim = client.Get("/api/project/info?projectName=victim").TryCode();
  if (isolation == "oci") {
    CHECK(victim == 10000);  // still there
    for (const auto& address : addresses) {
      CHECK(logs.find("attack via " + address + " refused") != std::string::npos);
    }
  } else {
    CHECK(victim == 10008);  // the opt-out lets the step reach the server: the test can tell
    CHECK(logs.find("attack via 127.0.0.1 connected") != std::string::npos);
    CHECK(logs.find("WARNING: build-isolation is chroot") != std::string::npos);
  }
}

TEST_CASE("A source server's redirect reaches nothing of this host", "[fault][sandbox]") {
  if (!market::testing::TestHosts::Possible()) {
    WARN("the checkout's network needs root (network namespaces): skipping");
    return;
  }
  const std::string isolation = GENERATE(std::string("oci"), std::string("chroot"));
  INFO("build-isolation " << isolation);
  market::testing::TestHosts hosts;
  // A service on this host's loopback (the server's API, the database...), and an svn server
  // beyond this host that redirects every request to it.
  market::testing::HostListener loopback_service;
  market::testing::RedirectServer svn_server(
      hosts, 8081, fmt::format("http://127.0.0.1:{}", loopback_service.port()));
  market::testing::TempDir dir;
  market::testing::RegistryProcess registry(market::testing::RegistryProcess::Options{});
  ServerProcess server(
      {"--listen", "127.0.0.1:0", "--database", "sqlite:" + (dir.path() / "market.db").string(),
       "--workspace", (dir.path() / "ws").string(), "--registry", registry.Url(),
       "--registry-insecure", "--build-workers", "1", "--build-isolation", isolation},
      dir.path() / "server.log", {});
  HttpClient client(server.port(), 30s);
  json pipeline = json::array({{{"$$plugin", "base_image_choose_from_harbor"},
                                {"handleInput", "busybox:1"}},
                               {{"$$plugin", "download_executable_source"},
                                {"source_type", "svn"},
                                {"source_url", "http://198.18.0.2:8081/svn/tools"},
                                {"checkoutAs", "tools"},
                                {"containerPath", "/opt/tools"}}});
  Reply saved = client.PostJson("/api/project/save", {{"projectName", "redirected"},
                                                      {"addOrUpdate", "add"},
                                                      {"operator", "dev"},
                                                      {"$$plugin", pipeline}});
  INFO(saved.body);
  REQUIRE(saved.TryCode() == 10000);
  REQUIRE(client.PostJson("/api/project/build", {{"projectName", "redirected"}, {"operator", "dev"}})
              .TryCode() == 10000);
  json history;
  std::string state;
  REQUIRE(WaitFor(
      [&] {
        history = client.Get("/api/project/buildHistory?projectName=redirected").TryJson()["content"];
        state = history.is_object() ? history["latest"].value("state", "") : "";
        return state == "succeeded" || state == "failed" || state == "cancelled";
      },
      120s, 200ms));
  INFO(history.value("logs", ""));
  CHECK(state == "failed");
  CHECK(svn_server.requests() >= 1);  // svn reached the server beyond this host
  if (isolation == "oci") {
    CHECK(loopback_service.accepted() == 0);
  } else {
    // The opt-out checks out from the host's network: the redirect lands. The test can tell.
    CHECK(loopback_service.accepted() >= 1);
  }
}

}  // namespace market::fault
