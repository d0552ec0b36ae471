// Base-image rebuilds over HTTP with real buildah builds pushed to MARKET_TEST_REGISTRY: a
// project built FROM another project's image is rebuilt once when that image is rebuilt, and
// two projects naming each other as base do not rebuild each other in a loop.

#include <catch2/catch.hpp>
#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "server_harness.hpp"
#include "support/test_env.hpp"

namespace market::server::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

std::string Unique(const std::string& prefix) {
  return prefix + std::to_string(std::random_device{}() % 1000000000);
}

json Pipeline(const std::string& base, const std::string& command) {
  return json::array({{{"$$plugin", "base_image_choose_from_harbor"}, {"handleInput", base}},
                      {{"$$plugin", "run"}, {"value", json::array({command})}}});
}

void Save(TestClient& client, const std::string& project, const json& pipeline, bool add) {
  Reply saved = client.PostJson("/api/project/save", {{"project", project},
                                                      {"addOrUpdate", add ? "add" : "update"},
                                                      {"operator", "alice"},
                                                      {"$$plugin", pipeline}});
  INFO(saved.body);
  REQUIRE(saved.Code() == 10000);
}

void OptIn(TestClient& client, const std::string& project) {
  Reply set = client.PostJson("/api/project/baseRebuild",
                              {{"projectName", project}, {"enabled", true}, {"operator", "alice"}});
  INFO(set.body);
  REQUIRE(set.Code() == 10000);
  CHECK(set.Json()["content"]["rebuildOnBaseChange"] == true);
}

// The project's builds, newest first.
json Builds(TestClient& client, const std::string& project) {
  Reply listed = client.Get("/api/builds?page_size=50&project=" + project);
  INFO(listed.body);
  REQUIRE(listed.Code() == 10000);
  return listed.Json()["content"]["builds"];
}

std::string LogOf(TestClient& client, std::int64_t id) {
  Reply log = client.Get("/api/project/buildLog?id=" + std::to_string(id));
  REQUIRE(log.Code() == 10000);
  return log.Json()["content"]["text"].get<std::string>();
}

// Polls build `id` of `project` until it has ended; its JSON.
json WaitBuild(TestClient& client, const std::string& project, std::int64_t id) {
  auto deadline = std::chrono::steady_clock::now() + 240s;
  while (std::chrono::steady_clock::now() < deadline) {
    for (const json& build : Builds(client, project)) {
      if (build["id"] == id && build["state"] != "queued" && build["state"] != "running") {
        return build;
      }
    }
    std::this_thread::sleep_for(250ms);
  }
  FAIL("build " << id << " did not end:\n" << LogOf(client, id));
  return {};
}

json BuildNow(TestClient& client, const std::string& project) {
  Reply started = client.PostJson(
      "/api/project/build", {{"projectName", project}, {"operator", "alice"}, {"tag", "latest"}});
  INFO(started.body);
  REQUIRE(started.Code() == 10000);
  const std::int64_t id = std::stoll(started.Json()["content"]["idStr"].get<std::string>());
  json built = WaitBuild(client, project, id);
  INFO(LogOf(client, id));
  REQUIRE(built["state"] == "succeeded");
  return built;
}

std::vector<json> BaseImageBuilds(TestClient& client, const std::string& project) {
  std::vector<json> out;
  for (const json& build : Builds(client, project)) {
    if (build["trigger"].is_object() && build["trigger"]["kind"] == "base-image") {
      out.push_back(build);
    }
  }
  return out;
}

// Waits until `project` has a base-image build; the first one.
json WaitBaseImageBuild(TestClient& client, const std::string& project) {
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < deadline) {
    auto builds = BaseImageBuilds(client, project);
    if (!builds.empty()) return builds.back();
    std::this_thread::sleep_for(250ms);
  }
  FAIL("no base-image build of " << project << " was queued");
  return {};
}

// No build of any of `projects` is queued or running.
bool Idle(TestClient& client, const std::vector<std::string>& projects) {
  for (const std::string& project : projects) {
    for (const json& build : Builds(client, project)) {
      if (build["state"] == "queued" || build["state"] == "running") return false;
    }
  }
  return true;
}

}  // namespace

TEST_CASE("a project built FROM another's image is rebuilt once when that image changes",
          "[api][base-rebuild]") {
  std::optional<std::string> registry = market::testing::RegistryHost();
  if (!registry) {
    WARN("MARKET_TEST_REGISTRY is not set: skipping the base-image rebuilds");
    return;
  }
  const std::string cluster = Unique("br");
  TestServer server(market::testing::Backend::kSqlite, [&](ServerConfig& config) {
    config.registry_url = "http://" + *registry;
    config.registry_kind = "distribution";
    config.registry_insecure = true;
    config.default_cluster = cluster;
    // The poll runs beside the event path: the two must still queue one rebuild per change.
    config.base_image_poll = 1s;
  });
  TestClient client(server.port());
  const std::string busybox = *registry + "/base/busybox:latest";
  auto image = [&](const std::string& project) {
    return *registry + "/" + cluster + "/" + project + ":latest";
  };

  SECTION("a changed base rebuilds its opted-in dependent once") {
    Save(client, "a", Pipeline(busybox, "echo first > /a.txt"), true);
    Save(client, "b", Pipeline(image("a"), "cat /a.txt"), true);
    json a1 = BuildNow(client, "a");
    REQUIRE(a1["baseImages"].size() == 1);
    CHECK(a1["baseImages"][0]["image"] == busybox);
    // busybox is in the configured registry: its digest is known.
    CHECK(a1["baseImages"][0]["digest"].get<std::string>().starts_with("sha256:"));

    OptIn(client, "b");
    json b1 = BuildNow(client, "b");
    REQUIRE(b1["baseImages"].size() == 1);
    CHECK(b1["baseImages"][0]["image"] == image("a"));
    CHECK(b1["baseImages"][0]["digest"] == a1["digest"]);
    Reply status = client.Get("/api/project/baseRebuild?projectName=b");
    INFO(status.body);
    REQUIRE(status.Code() == 10000);
    CHECK(status.Json()["content"]["rebuildOnBaseChange"] == true);
    CHECK(status.Json()["content"]["latestBuildId"] == b1["id"]);
    CHECK(status.Json()["content"]["baseImages"] == b1["baseImages"]);
    // buildHistory shows them as well.
    Reply history = client.Get("/api/project/buildHistory?projectName=b");
    REQUIRE(history.Code() == 10000);
    CHECK(history.Json()["content"]["builds"][0]["baseImages"] == b1["baseImages"]);

    Save(client, "a", Pipeline(busybox, "echo second > /a.txt"), false);
    json a2 = BuildNow(client, "a");
    REQUIRE(a2["digest"] != a1["digest"]);
    json rebuilt = WaitBaseImageBuild(client, "b");
    CHECK(rebuilt["trigger"]["baseImage"] == image("a"));
    CHECK(rebuilt["trigger"]["oldDigest"] == a1["digest"]);
    CHECK(rebuilt["trigger"]["newDigest"] == a2["digest"]);
    CHECK(rebuilt["trigger"]["causeBuildId"] == a2["id"]);
    CHECK(rebuilt["tag"] == "latest");
    json b2 = WaitBuild(client, "b", rebuilt["id"].get<std::int64_t>());
    INFO(LogOf(client, b2["id"]));
    REQUIRE(b2["state"] == "succeeded");
    CHECK(b2["baseImages"][0]["digest"] == a2["digest"]);
    CHECK_THAT(LogOf(client, b2["id"]), Catch::Contains("second"));

    // Several polls later there is still exactly one.
    std::this_thread::sleep_for(3s);
    CHECK(BaseImageBuilds(client, "b").size() == 1);
    CHECK(BaseImageBuilds(client, "a").empty());
  }

  SECTION("two projects naming each other as base do not loop") {
    // c starts FROM busybox, d FROM c; then c is changed to be FROM d.
    Save(client, "c", Pipeline(busybox, "echo c > /c.txt"), true);
    Save(client, "d", Pipeline(image("c"), "echo d > /d.txt"), true);
    BuildNow(client, "c");
    BuildNow(client, "d");
    Save(client, "c", Pipeline(image("d"), "echo c > /c.txt"), false);
    OptIn(client, "c");
    OptIn(client, "d");
    json c2 = BuildNow(client, "c");  // d's base changed: d is rebuilt, caused by c2
    json d2_queued = WaitBaseImageBuild(client, "d");
    CHECK(d2_queued["trigger"]["causeBuildId"] == c2["id"]);
    json d2 = WaitBuild(client, "d", d2_queued["id"].get<std::int64_t>());
    REQUIRE(d2["state"] == "succeeded");
    // c's base (d) changed now, but c2 caused d2: c is not rebuilt, by the event or the polls.
    std::this_thread::sleep_for(4s);
    CHECK(Idle(client, {"c", "d"}));
    CHECK(BaseImageBuilds(client, "c").empty());
    CHECK(BaseImageBuilds(client, "d").size() == 1);
    Reply status = client.Get("/api/project/baseRebuild?projectName=c");
    INFO(status.body);
    REQUIRE(status.Code() == 10000);
    const json rebuilds = status.Json()["content"]["rebuilds"];
    REQUIRE(rebuilds.size() == 1);
    CHECK(rebuilds[0]["buildId"] == 0);
    CHECK(rebuilds[0]["newDigest"] == d2["digest"]);
    CHECK_THAT(rebuilds[0]["outcome"].get<std::string>(),
               Catch::Contains("chain of causing builds"));
  }
}

TEST_CASE("the base-image rebuild routes refuse bad input", "[api][base-rebuild]") {
  TestServer server;
  TestClient client(server.port());
  Reply made = client.PostJson("/api/project/new", {{"projectName", "p"}, {"operator", "alice"}});
  REQUIRE(made.Code() == 10000);

  Reply no_flag =
      client.PostJson("/api/project/baseRebuild", {{"projectName", "p"}, {"operator", "alice"}});
  CHECK(no_flag.status == 400);
  CHECK(no_flag.Code() == 10006);
  CHECK_THAT(no_flag.body, Catch::Contains("enabled"));
  Reply bad_flag =
      client.PostJson("/api/project/baseRebuild",
                      {{"projectName", "p"}, {"enabled", "maybe"}, {"operator", "alice"}});
  CHECK(bad_flag.status == 400);
  CHECK(bad_flag.Code() == 10006);
  Reply bad_name =
      client.PostJson("/api/project/baseRebuild",
                      {{"projectName", "P*"}, {"enabled", true}, {"operator", "alice"}});
  CHECK(bad_name.status == 400);
  CHECK_THAT(bad_name.body, Catch::Contains("projectName"));
  Reply missing =
      client.PostJson("/api/project/baseRebuild",
                      {{"projectName", "nosuch"}, {"enabled", true}, {"operator", "alice"}});
  CHECK(missing.Code() == 10007);
  CHECK(missing.status == 404);
  Reply no_name = client.Get("/api/project/baseRebuild");
  CHECK(no_name.status == 400);
  CHECK(no_name.Code() == 10006);

  Reply status = client.Get("/api/project/baseRebuild?projectName=p");
  INFO(status.body);
  REQUIRE(status.Code() == 10000);
  CHECK(status.Json()["content"]["rebuildOnBaseChange"] == false);
  CHECK(status.Json()["content"]["latestBuildId"].is_null());
  CHECK(status.Json()["content"]["baseImages"] == json::array());
}

}  // namespace market::server::testing
