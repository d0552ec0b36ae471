// The layer cache over HTTP with real buildah builds pushed to MARKET_TEST_REGISTRY: an
// unchanged rebuild reuses every step (the pushed image is the cold build's, byte for byte), a
// second instance with an empty storage reuses them from the registry, and a changed source
// commit, build argument or base image, noCache and a project that turned its cache off each
// build again. A RUN step that writes random bytes tells reuse from a rebuild.

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <thread>

#include "server_harness.hpp"
#include "support/git_server.hpp"
#include "support/ports.hpp"
#include "support/test_env.hpp"

namespace market::server::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
using market::testing::GitShell;

// A Cluster of this run's own: an empty cache repository. Named to sort after default_cluster,
// so the shared registry's first page of projects (which the console's browser test reads)
// keeps showing default_cluster however many runs left their Clusters behind.
std::string Unique(const std::string& prefix) {
  return "zz" + prefix + std::to_string(std::random_device{}() % 1000000000);
}

// Writes bytes no second run of the step repeats, so equal images mean a reused step.
constexpr const char* kRandomStep = "head -c 32 /dev/urandom | od -An -tx1 > /random.txt";

json Base(const std::string& image) {
  return {{"$$plugin", "base_image_choose_from_harbor"}, {"handleInput", image}};
}
json Run(const std::string& command) {
  return {{"$$plugin", "run"}, {"value", json::array({command})}};
}

void Save(TestClient& client, const std::string& project, const json& pipeline, bool add) {
  Reply saved = client.PostJson("/api/project/save", {{"project", project},
                                                      {"addOrUpdate", add ? "add" : "update"},
                                                      {"operator", "alice"},
                                                      {"$$plugin", pipeline}});
  INFO(saved.body);
  REQUIRE(saved.Code() == 10000);
}

std::string LogOf(TestClient& client, std::int64_t id) {
  Reply log = client.Get("/api/project/buildLog?id=" + std::to_string(id));
  REQUIRE(log.Code() == 10000);
  return log.Json()["content"]["text"].get<std::string>();
}

struct Built {
  json build;
  std::string log;
};

// Builds `project` and waits for it to succeed.
Built BuildNow(TestClient& client, const std::string& project, bool no_cache = false) {
  json body = {{"projectName", project}, {"operator", "alice"}, {"tag", "latest"}};
  if (no_cache) body["noCache"] = true;
  Reply started = client.PostJson("/api/project/build", body);
  INFO(started.body);
  REQUIRE(started.Code() == 10000);
  const std::int64_t id = std::stoll(started.Json()["content"]["idStr"].get<std::string>());
  const auto deadline = std::chrono::steady_clock::now() + 240s;
  json build;
  while (std::chrono::steady_clock::now() < deadline) {
    Reply got = client.Get("/api/builds?page_size=1&project=" + project);
    REQUIRE(got.Code() == 10000);
    json builds = got.Json()["content"]["builds"];
    if (!builds.empty() && builds[0]["id"] == id && builds[0]["state"] != "queued" &&
        builds[0]["state"] != "running") {
      build = builds[0];
      break;
    }
    std::this_thread::sleep_for(200ms);
  }
  Built out{build, LogOf(client, id)};
  INFO(out.log);
  REQUIRE(build.is_object());
  REQUIRE(build["state"] == "succeeded");
  return out;
}

std::function<void(ServerConfig&)> Configure(const std::string& registry, const std::string& cluster) {
  return [registry, cluster](ServerConfig& config) {
    config.registry_url = "http://" + registry;
    config.registry_kind = "distribution";
    config.registry_insecure = true;
    config.default_cluster = cluster;
    config.source_allow_networks = "127.0.0.0/8";  // the git daemon
  };
}

// The tags the registry holds of `repository` (none when it does not exist).
std::set<std::string> RegistryTags(const std::string& registry, const std::string& repository) {
  TestClient client(static_cast<std::uint16_t>(std::stoi(registry.substr(registry.rfind(':') + 1))));
  Reply listed = client.Get("/v2/" + repository + "/tags/list");
  std::set<std::string> tags;
  if (listed.status == 404) return tags;
  REQUIRE(listed.status == 200);
  const json body = listed.Json();
  if (body["tags"].is_array()) {
    for (const auto& tag : body["tags"]) tags.insert(tag.get<std::string>());
  }
  return tags;
}

}  // namespace

TEST_CASE("build cache: project build settings over HTTP", "[api][build-cache]") {
  TestServer server(market::testing::Backend::kSqlite);
  TestClient client(server.port());
  Reply made = client.PostForm("/api/project/new",
                           "projectName=cached&operator=alice&Cluster=team&DefineDockerFileType=edit");
  REQUIRE(made.Code() == 10000);

  Reply fresh = client.Get("/api/project/buildSettings?projectName=cached");
  INFO(fresh.body);
  REQUIRE(fresh.Code() == 10000);
  CHECK(fresh.Json()["content"]["layerCache"] == true);
  CHECK(fresh.Json()["content"]["operator"] == "");
  CHECK(fresh.Json()["content"]["updatedAt"].is_null());

  Reply off = client.PostJson("/api/project/buildSettings",
                              {{"projectName", "cached"}, {"layerCache", false}, {"operator", "bob"}});
  INFO(off.body);
  REQUIRE(off.Code() == 10000);
  CHECK(off.Json()["content"]["layerCache"] == false);
  CHECK(off.Json()["content"]["operator"] == "bob");
  Reply read = client.Get("/api/project/buildSettings?projectName=cached");
  CHECK(read.Json()["content"]["layerCache"] == false);

  // Bad input names the field and changes nothing.
  Reply bad = client.PostForm("/api/project/buildSettings",
                          "projectName=cached&layerCache=maybe&operator=bob");
  CHECK(bad.status == 400);
  CHECK(bad.Code() == 10006);
  CHECK_THAT(bad.body, Catch::Contains("layerCache"));
  Reply missing_flag = client.PostForm("/api/project/buildSettings", "projectName=cached&operator=bob");
  CHECK(missing_flag.Code() == 10006);
  CHECK_THAT(missing_flag.body, Catch::Contains("layerCache"));
  Reply bad_name = client.PostForm("/api/project/buildSettings",
                               "projectName=..%2Fx&layerCache=true&operator=bob");
  CHECK(bad_name.Code() == 10006);
  CHECK(client.Get("/api/project/buildSettings?projectName=cached").Json()["content"]["layerCache"] ==
        false);
  Reply absent = client.Get("/api/project/buildSettings?projectName=nosuch");
  CHECK(absent.status == 404);
  CHECK(absent.Code() == 10007);
  Reply bad_build = client.PostForm("/api/project/build", "projectName=cached&operator=bob&noCache=perhaps");
  CHECK(bad_build.Code() == 10006);
  CHECK_THAT(bad_build.body, Catch::Contains("noCache"));
}

TEST_CASE("build cache: rebuilds reuse steps, on this instance and another",
          "[api][build-cache][buildah]") {
  std::optional<std::string> registry = market::testing::RegistryHost();
  if (!registry) {
    WARN("MARKET_TEST_REGISTRY is not set: skipping the build cache");
    return;
  }
  const std::string cluster = Unique("bc");
  const std::string busybox = *registry + "/base/busybox:latest";
  const json pipeline = json::array({Base(busybox), Run(kRandomStep), Run("cat /random.txt")});

  SECTION("unchanged: the same image; noCache and a project switched off: cold") {
    TestServer server(market::testing::Backend::kSqlite, Configure(*registry, cluster));
    TestClient client(server.port());
    Save(client, "app", pipeline, true);
    Built cold = BuildNow(client, "app");
    CHECK_THAT(cold.log, Catch::Contains("--cache-from/--cache-to " + *registry + "/" + cluster +
                                         "/app/buildcache"));
    CHECK(cold.build["noCache"] == false);

    Built warm = BuildNow(client, "app");
    INFO(warm.log);
    CHECK_THAT(warm.log, Catch::Contains("Using cache"));
    // Every step reused: the pushed image is the cold build's, config and layers alike.
    CHECK(warm.build["digest"] == cold.build["digest"]);

    Built refreshed = BuildNow(client, "app", /*no_cache=*/true);
    INFO(refreshed.log);
    CHECK(refreshed.build["noCache"] == true);
    CHECK_THAT(refreshed.log, Catch::Contains("--no-cache"));
    CHECK_THAT(refreshed.log, !Catch::Contains("Using cache"));
    CHECK(refreshed.build["digest"] != cold.build["digest"]);
    // noCache refreshed the cache: the next build reuses its steps.
    Built after = BuildNow(client, "app");
    CHECK(after.build["digest"] == refreshed.build["digest"]);

    Reply off = client.PostJson("/api/project/buildSettings",
                                {{"projectName", "app"}, {"layerCache", false}, {"operator", "alice"}});
    REQUIRE(off.Code() == 10000);
    Built uncached = BuildNow(client, "app");
    INFO(uncached.log);
    CHECK_THAT(uncached.log, Catch::Contains("layer cache: off for this project"));
    CHECK_THAT(uncached.log, !Catch::Contains("Using cache"));
    CHECK(uncached.build["digest"] != after.build["digest"]);
  }

  SECTION("a second instance with an empty storage reuses the registry's steps") {
    json first;
    {
      TestServer server(market::testing::Backend::kSqlite, Configure(*registry, cluster));
      TestClient client(server.port());
      Save(client, "app", pipeline, true);
      first = BuildNow(client, "app").build;
    }
    // Another database and workspace; the same registry, Cluster and project.
    TestServer other(market::testing::Backend::kSqlite, Configure(*registry, cluster));
    TestClient client(other.port());
    Save(client, "app", pipeline, true);
    Built second = BuildNow(client, "app");
    INFO(second.log);
    CHECK_THAT(second.log, Catch::Contains("Cache pulled from remote"));
    CHECK(second.build["digest"] == first["digest"]);
  }
}

TEST_CASE("build cache: a changed source commit, build argument or base image misses",
          "[api][build-cache][buildah]") {
  std::optional<std::string> registry = market::testing::RegistryHost();
  if (!registry) {
    WARN("MARKET_TEST_REGISTRY is not set: skipping the build cache");
    return;
  }
  const std::string cluster = Unique("bi");
  const std::string busybox = *registry + "/base/busybox:latest";
  TestServer server(market::testing::Backend::kSqlite, Configure(*registry, cluster));
  TestClient client(server.port());

  SECTION("source commit and build argument") {
    market::testing::TempDir dir;
    const auto work = dir.path() / "work";
    GitShell(dir.path(), "git init -q -b main work");
    std::ofstream(work / "version.txt") << "commit-A-contents\n";
    GitShell(work, "git add . && git commit -q -m first");
    GitShell(dir.path(), "git clone -q --bare work repo.git");
    market::testing::GitServer git(dir.path());
    auto pipeline_with = [&](const std::string& arg) {
      return json::array({Base(busybox),
                          {{"$$plugin", "arg"}, {"key", json::array({"FLAVOUR"})},
                           {"value", json::array({arg})}},
                          {{"$$plugin", "download_executable_source"},
                           {"source_type", "git"},
                           {"source_url", git.Url("repo.git")},
                           {"ref", "main"},
                           {"checkoutAs", "app"},
                           {"containerPath", "/opt/app"}},
                          Run(std::string(kRandomStep) + " && cat /opt/app/version.txt")});
    };
    Save(client, "src", pipeline_with("plain"), true);
    Built a = BuildNow(client, "src");
    Built a_again = BuildNow(client, "src");
    CHECK(a_again.build["digest"] == a.build["digest"]);

    std::ofstream(work / "version.txt") << "commit-B-contents\n";
    GitShell(work, "git commit -q -am second && git push -q ../repo.git main");
    Built b = BuildNow(client, "src");
    INFO(b.log);
    CHECK(b.build["digest"] != a.build["digest"]);
    CHECK_THAT(b.log, Catch::Contains("commit-B-contents"));

    Save(client, "src", pipeline_with("spicy"), false);
    Built c = BuildNow(client, "src");
    INFO(c.log);
    CHECK(c.build["digest"] != b.build["digest"]);
    CHECK_THAT(c.log, Catch::Contains("commit-B-contents"));  // the RUN step ran again
  }

  SECTION("base image digest") {
    const std::string base_image = *registry + "/" + cluster + "/base:latest";
    Save(client, "base", json::array({Base(busybox), Run("echo base-one > /base.txt")}), true);
    BuildNow(client, "base");
    Save(client, "app", json::array({Base(base_image), Run(std::string(kRandomStep) +
                                                           " && cat /base.txt")}),
         true);
    Built first = BuildNow(client, "app");
    CHECK(BuildNow(client, "app").build["digest"] == first.build["digest"]);

    Save(client, "base", json::array({Base(busybox), Run("echo base-two > /base.txt")}), false);
    BuildNow(client, "base");
    Built rebuilt = BuildNow(client, "app");
    INFO(rebuilt.log);
    CHECK(rebuilt.build["digest"] != first.build["digest"]);
    CHECK_THAT(rebuilt.log, Catch::Contains("base-two"));
  }
}

TEST_CASE("build cache: a retention rule set on */buildcache cleans the cache, not the images",
          "[api][build-cache][buildah][retention]") {
  std::optional<std::string> registry = market::testing::RegistryHost();
  if (!registry) {
    WARN("MARKET_TEST_REGISTRY is not set: skipping the build cache");
    return;
  }
  const std::string cluster = Unique("br");
  TestServer server(market::testing::Backend::kSqlite, [&](ServerConfig& config) {
    Configure(*registry, cluster)(config);
    config.retention_poll = 1s;
    config.retention_max_deletes_per_minute = 0;
  });
  TestClient client(server.port());
  const std::string busybox = *registry + "/base/busybox:latest";
  Save(client, "app", json::array({Base(busybox), Run(kRandomStep), Run("echo one")}), true);
  BuildNow(client, "app");
  Save(client, "app", json::array({Base(busybox), Run(kRandomStep), Run("echo two")}), false);
  BuildNow(client, "app");
  const std::string cache = cluster + "/app/buildcache";
  const std::set<std::string> cached = RegistryTags(*registry, cache);
  REQUIRE(cached.size() == 3);  // the random step, and each build's last step

  // What docs/ops.md tells operators to set up: keep the newest cached step.
  Reply made = client.PostJson(
      "/api/retention/new",
      {{"cluster", cluster},
       {"name", "build-cache"},
       {"rules", json::array({{{"repositories", "*/buildcache"}, {"keepLatest", 1}}}).dump()},
       {"operator", "alice"}});
  INFO(made.body);
  REQUIRE(made.Code() == 10000);
  Reply queued = client.PostJson("/api/retention/run",
                                 {{"id", made.Json()["content"]["id"]}, {"operator", "alice"}});
  REQUIRE(queued.Code() == 10000);
  const std::int64_t run = queued.Json()["content"]["id"];
  json detail;
  REQUIRE(market::testing::WaitFor(
      [&] {
        detail = client.Get("/api/retention/runs/get?id=" + std::to_string(run)).Json()["content"];
        return detail["state"] == "succeeded" || detail["state"] == "failed";
      },
      60s));
  INFO(detail.dump());
  REQUIRE(detail["state"] == "succeeded");
  CHECK(RegistryTags(*registry, cache).size() == 1);
  // No rule applies to the project's own repository: its image stays.
  CHECK(RegistryTags(*registry, cluster + "/app") == std::set<std::string>{"latest"});
  // A build after the clean-up still works: what is gone is built and cached again.
  Built after = BuildNow(client, "app");
  CHECK(after.build["state"] == "succeeded");
  CHECK(RegistryTags(*registry, cache).size() >= 2);
}

}  // namespace market::server::testing
