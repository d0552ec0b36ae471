// git mirrors through the real server: two buildah builds of a project with a git source from a
// loopback git daemon, pushed to MARKET_TEST_REGISTRY; the second fetches into the mirror the
// first made (<workspace>/git-mirrors), and source-mirror-size 0 keeps no mirror.

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <thread>

#include "server_harness.hpp"
#include "support/git_server.hpp"
#include "support/test_env.hpp"

namespace market::server::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
using market::testing::GitShell;

std::string LogOf(TestClient& client, const std::string& id) {
  Reply log = client.Get("/api/project/buildLog?id=" + id);
  REQUIRE(log.Code() == 10000);
  return log.Json()["content"]["text"].get<std::string>();
}

// Polls build `id` until it has ended; its state.
std::string WaitBuild(TestClient& client, const std::string& id) {
  auto deadline = std::chrono::steady_clock::now() + 240s;
  while (std::chrono::steady_clock::now() < deadline) {
    Reply listed = client.Get("/api/builds?page_size=50");
    REQUIRE(listed.Code() == 10000);
    const json body = listed.Json();
    for (const json& build : body["content"]["builds"]) {
      if (std::to_string(build["id"].get<std::int64_t>()) != id) continue;
      const std::string state = build["state"];
      if (state != "queued" && state != "running") return state;
    }
    std::this_thread::sleep_for(200ms);
  }
  FAIL("build " << id << " did not end\n" << LogOf(client, id));
  return {};
}

std::string StartBuild(TestClient& client, const std::string& project, const std::string& tag) {
  Reply build = client.PostJson("/api/project/build",
                                {{"projectName", project}, {"operator", "alice"}, {"tag", tag}});
  INFO(build.body);
  REQUIRE(build.Code() == 10000);
  return build.Json()["content"]["idStr"];
}

// Counts the mirrors (bare repositories marked complete) under `dir`.
int CompleteMirrors(const std::filesystem::path& dir) {
  int n = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.is_directory() && std::filesystem::exists(e.path() / "market-complete")) ++n;
  }
  return n;
}

void SaveProject(TestClient& client, const std::string& project, const std::string& registry,
                 const std::string& url) {
  json pipeline =
      json::array({{{"$$plugin", "base_image_choose_from_harbor"},
                    {"handleInput", registry + "/base/busybox:latest"}},
                   {{"$$plugin", "download_executable_source"},
                    {"source_type", "git"},
                    {"source_url", url},
                    {"checkoutAs", "app"},
                    {"containerPath", "/opt/app"}},
                   {{"$$plugin", "run"}, {"value", json::array({"cat /opt/app/version.txt"})}}});
  Reply saved = client.PostJson("/api/project/save", {{"project", project},
                                                      {"addOrUpdate", "add"},
                                                      {"operator", "alice"},
                                                      {"$$plugin", pipeline}});
  INFO(saved.body);
  REQUIRE(saved.Code() == 10000);
}

// A repository of one commit (version.txt holding `contents`) behind a loopback git daemon, and
// a server that may reach it and pushes to `registry`; mirrors off when `mirrors` is false.
struct GitSourceWorld {
  GitSourceWorld(const std::string& registry, const std::string& contents, bool mirrors)
      : daemon(MakeRepository(repo.path(), contents)),
        server(market::testing::Backend::kSqlite, [&](ServerConfig& config) {
          config.registry_url = "http://" + registry;
          config.registry_kind = "distribution";
          config.registry_insecure = true;
          config.source_allow_networks = "127.0.0.0/8";  // the git daemon
          if (!mirrors) config.source_mirror_size = 0;
          workspace = config.workspace;
        }) {}

  // work/ (a clone to commit in) and repo.git (what the daemon serves) under `dir`; `dir`.
  static const std::filesystem::path& MakeRepository(const std::filesystem::path& dir,
                                                     const std::string& contents) {
    GitShell(dir, "git init -q -b main work");
    std::ofstream(dir / "work/version.txt") << contents << "\n";
    GitShell(dir / "work", "git add . && git commit -q -m first");
    GitShell(dir, "git clone -q --bare work repo.git");
    return dir;
  }

  market::testing::TempDir repo;
  market::testing::GitServer daemon;
  std::filesystem::path workspace;  // set while the server starts
  TestServer server;
};

TEST_CASE("git mirror: a rebuild of a git source reuses the workspace's mirror", "[api][mirror]") {
  std::optional<std::string> registry = market::testing::RegistryHost();
  if (!registry) {
    WARN("MARKET_TEST_REGISTRY is not set: skipping the builds from a git mirror");
    return;
  }
  GitSourceWorld world(*registry, "first-contents", true);
  const std::filesystem::path& workspace = world.workspace;
  TestClient client(world.server.port());
  const std::string project = "mirror" + std::to_string(std::random_device{}() % 1000000);
  SaveProject(client, project, *registry, world.daemon.Url("repo.git"));

  const std::string first = StartBuild(client, project, "v1");
  CHECK(WaitBuild(client, first) == "succeeded");
  const std::string first_log = LogOf(client, first);
  INFO(first_log);
  CHECK(first_log.find("git mirror: made, fetched") != std::string::npos);
  CHECK(first_log.find("first-contents") != std::string::npos);
  CHECK(CompleteMirrors(workspace / "git-mirrors") == 1);

  // A new commit: the second build reuses the mirror and fetches only what changed.
  std::ofstream(world.repo.path() / "work/version.txt") << "second-contents\n";
  GitShell(world.repo.path() / "work", "git commit -q -am second && git push -q ../repo.git main");
  const std::string second = StartBuild(client, project, "v2");
  CHECK(WaitBuild(client, second) == "succeeded");
  const std::string second_log = LogOf(client, second);
  INFO(second_log);
  CHECK(second_log.find("git mirror: reused, fetched 3 new objects") != std::string::npos);
  CHECK(second_log.find("second-contents") != std::string::npos);
  CHECK(CompleteMirrors(workspace / "git-mirrors") == 1);
}

TEST_CASE("git mirror: source-mirror-size 0 keeps no mirror", "[api][mirror]") {
  std::optional<std::string> registry = market::testing::RegistryHost();
  if (!registry) {
    WARN("MARKET_TEST_REGISTRY is not set: skipping the build without git mirrors");
    return;
  }
  GitSourceWorld world(*registry, "plain-contents", false);
  TestClient client(world.server.port());
  const std::string project = "nomirror" + std::to_string(std::random_device{}() % 1000000);
  SaveProject(client, project, *registry, world.daemon.Url("repo.git"));
  const std::string id = StartBuild(client, project, "v1");
  CHECK(WaitBuild(client, id) == "succeeded");
  const std::string log = LogOf(client, id);
  INFO(log);
  CHECK(log.find("plain-contents") != std::string::npos);
  CHECK(log.find("git mirror") == std::string::npos);
  CHECK_FALSE(std::filesystem::exists(world.workspace / "git-mirrors"));
}

}  // namespace
}  // namespace market::server::testing
