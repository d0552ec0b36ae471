// kill -9 of the real server binary in the middle of a real buildah build: after a restart the
// build is failed with a reason, its builder process and workspace are gone, and a new build of
// the project succeeds. Needs MARKET_TEST_REGISTRY (holding base/busybox:latest) and buildah.

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "server_harness.hpp"
#include "support/ports.hpp"
#include "support/server_process.hpp"

namespace market::server::testing {
namespace {

using json = nlohmann::json;
using market::testing::ServerProcess;
using namespace std::chrono_literals;

std::string ReadText(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Whether /healthz answers 200 within a minute.
bool Healthy(std::uint16_t port) {
  return market::testing::WaitFor([&] { return TestClient(port).Get("/healthz").status == 200; },
                                  60s);
}

// Processes whose command line mentions `needle` (our buildah runs name the workspace).
std::vector<std::string> ProcessesMentioning(const std::string& needle) {
  std::vector<std::string> found;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string pid = entry.path().filename().string();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmdline = ReadText(entry.path() / "cmdline");
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if (cmdline.find(needle) != std::string::npos && cmdline.find("buildah") != std::string::npos) {
      found.push_back(pid + ": " + cmdline);
    }
  }
  return found;
}

json LatestBuild(TestClient& client, const std::string& project) {
  Reply history = client.Get("/api/project/buildHistory?projectName=" + project);
  REQUIRE(history.Code() == 10000);
  const json body = history.Json();
  const json& builds = body["content"]["builds"];
  REQUIRE(builds.is_array());
  REQUIRE_FALSE(builds.empty());
  return builds.front();
}

void SaveDockerfile(TestClient& client, const std::string& project, const std::string& text) {
  json pipeline = json::array({{{"$$plugin", "static_dockerfile"}, {"dockerfile", text}}});
  Reply saved = client.PostJson("/api/project/save", {{"project", project},
                                                      {"addOrUpdate", "update"},
                                                      {"operator", "crash-test"},
                                                      {"DefineDockerFileType", "edit"},
                                                      {"$$plugin", pipeline}});
  INFO(saved.body);
  REQUIRE(saved.Code() == 10000);
}

}  // namespace

TEST_CASE("kill -9 mid-build: the restarted server fails the build and builds again",
          "[process][build][buildah]") {
  std::optional<std::string> registry = market::testing::RegistryHost();
  if (!registry || std::system("buildah --version >/dev/null 2>&1") != 0) {
    WARN("MARKET_TEST_REGISTRY or buildah is missing: skipping the kill -9 build test");
    return;
  }
  market::testing::TempDir dir;
  const auto workspace = dir.path() / "workspace";
  const auto log = dir.path() / "server.log";
  const auto port = static_cast<std::uint16_t>(market::testing::FreeLoopbackPort());
  // No --worker-id: the default (host and fixed listen address) must be stable across restarts.
  const std::vector<std::string> args = {
      "--listen", "127.0.0.1:" + std::to_string(port),
      "--database", "sqlite:" + (dir.path() / "market.db").string(),
      "--workspace", workspace.string(),
      "--registry", "http://" + *registry,
      "--registry-insecure",
      "--build-workers", "1"};
  const std::string project = "crash" + std::to_string(getpid());
  const std::string base = *registry + "/base/busybox:latest";

  std::string build_id;
  {
    ServerProcess server(args, log);
    REQUIRE(Healthy(port));
    TestClient client(port);
    SaveDockerfile(client, project, "FROM " + base + "\nRUN echo sleeping-$((6 * 7)) && sleep 300\n");
    Reply started = client.PostJson("/api/project/build", {{"projectName", project},
                                                           {"operator", "crash-test"},
                                                           {"tag", "slow"}});
    REQUIRE(started.Code() == 10000);
    build_id = started.Json()["content"]["idStr"].get<std::string>();

    // Wait until the RUN step is really executing under buildah.
    bool sleeping = false;
    for (int i = 0; i < 1200 && !sleeping; ++i) {
      Reply chunk = client.Get("/api/project/buildLog?id=" + build_id, {{"Accept", "text/plain"}});
      // The step's output, not its command line (which the log shows first).
      sleeping = chunk.body.find("sleeping-42") != std::string::npos;
      if (!sleeping) std::this_thread::sleep_for(100ms);
    }
    REQUIRE(sleeping);
    REQUIRE(LatestBuild(client, project)["state"] == "running");
    REQUIRE(std::filesystem::exists(workspace / "builds" / ("build-" + build_id)));
    // The check below can see buildah: here it runs.
    REQUIRE_FALSE(ProcessesMentioning(workspace.string()).empty());
    server.Signal(SIGKILL);
    REQUIRE(server.Wait(60s).has_value());
  }

  // buildah dies with the server (no orphan can push the build afterwards).
  std::vector<std::string> orphans;
  for (int i = 0; i < 100; ++i) {
    orphans = ProcessesMentioning(workspace.string());
    if (orphans.empty()) break;
    std::this_thread::sleep_for(100ms);
  }
  INFO("left running: " << (orphans.empty() ? "" : orphans.front()));
  CHECK(orphans.empty());

  ServerProcess server(args, log);
  REQUIRE(Healthy(port));
  INFO("server log: " << server.Log());
  TestClient client(port);
  // Failed at start, not after a lease runs out.
  json crashed = LatestBuild(client, project);
  CHECK(crashed["state"] == "failed");
  CHECK_THAT(crashed["reason"].get<std::string>(), Catch::Contains("restarted"));
  CHECK_FALSE(std::filesystem::exists(workspace / "builds" / ("build-" + build_id)));

  SaveDockerfile(client, project, "FROM " + base + "\nRUN echo recovered > /recovered\n");
  Reply again = client.PostJson("/api/project/build", {{"projectName", project},
                                                       {"operator", "crash-test"},
                                                       {"tag", "after"}});
  REQUIRE(again.Code() == 10000);
  json latest;
  for (int i = 0; i < 3000; ++i) {
    latest = LatestBuild(client, project);
    if (latest["state"] != "queued" && latest["state"] != "running") break;
    std::this_thread::sleep_for(100ms);
  }
  INFO(latest.dump());
  CHECK(latest["state"] == "succeeded");
  CHECK(latest["tag"] == "after");
}

}  // namespace market::server::testing
