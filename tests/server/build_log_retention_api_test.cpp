// Build log retention over HTTP: a build whose log was pruned stays in the history, marked, and
// its log route answers the retention notice.

#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "market/build_store.hpp"
#include "market/project_store.hpp"
#include "server_harness.hpp"
#include "support/ended_builds.hpp"

namespace market::server::testing {
namespace {

using json = nlohmann::json;
using std::chrono::days;

void AddProject(ProjectStore& projects, const std::string& name, TimePoint at) {
  Project project;
  project.name = name;
  project.creator = "alice";
  project.create_time = at;
  project.last_modify_time = at;
  project.last_modify_operator = "alice";
  project.cluster = "team";
  REQUIRE(projects.Insert(project));
}

}  // namespace

TEST_CASE("a pruned build stays in the history marked logPruned and its log says why",
          "[api][build][retention]") {
  const auto backend = GENERATE(from_range(market::testing::AvailableBackends()));
  INFO(market::testing::ToString(backend));
  // Two builds that ended 10 days ago: with one kept per project and a day of age, the older
  // one's log goes in the pass the server makes when it starts.
  const TimePoint ended =
      std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now()) - days(10);
  std::int64_t old_id = 0;
  std::int64_t new_id = 0;
  TestServer server(
      backend,
      [](ServerConfig& config) {
        config.build_log_keep = 1;
        config.build_log_keep_days = 1;
      },
      [&](Stores& stores) {
        AddProject(*stores.projects, "web", ended);
        auto old_build = market::testing::RecordEndedBuild(*stores.builds, "web", "v1", ended,
                                                           BuildState::kSucceeded, "old log\n");
        auto new_build = market::testing::RecordEndedBuild(*stores.builds, "web", "v2", ended,
                                                           BuildState::kFailed, "new log\n");
        REQUIRE(old_build);
        REQUIRE(new_build);
        old_id = old_build->id;
        new_id = new_build->id;
      });
  TestClient client(server.port());

  json builds;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    Reply history = client.Get("/api/project/buildHistory?projectName=web");
    INFO(history.body);
    REQUIRE(history.Code() == 10000);
    builds = history.Json()["content"]["builds"];
    REQUIRE(builds.size() == 2);
    if (builds[1]["logPruned"] == true || std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // Newest first: the kept build, then the pruned one with its tag, digest and state.
  CHECK(builds[0]["id"] == new_id);
  CHECK(builds[0]["logPruned"] == false);
  CHECK(builds[1]["id"] == old_id);
  CHECK(builds[1]["logPruned"] == true);
  CHECK(builds[1]["tag"] == "v1");
  CHECK(builds[1]["state"] == "succeeded");
  CHECK(builds[1]["digest"] == "sha256:v1");

  const std::string notice(kPrunedLogText);
  Reply log = client.Get("/api/project/buildLog?id=" + std::to_string(old_id));
  INFO(log.body);
  REQUIRE(log.Code() == 10000);
  CHECK(log.Json()["content"]["text"] == notice);
  CHECK(log.Json()["content"]["finished"] == true);
  CHECK(log.Json()["content"]["state"] == "succeeded");
  Reply text =
      client.Get("/api/project/buildLog?id=" + std::to_string(old_id), {{"Accept", "text/plain"}});
  CHECK(text.status == 200);
  CHECK(text.body == notice);
  CHECK(text.Header("x-build-finished") == "1");
  TestClient follower(server.port());
  Reply followed = follower.Get("/api/project/buildLog?id=" + std::to_string(old_id) + "&follow=1");
  CHECK(followed.status == 200);
  CHECK(followed.body == notice);

  Reply kept = client.Get("/api/project/buildLog?id=" + std::to_string(new_id));
  CHECK(kept.Json()["content"]["text"] == "new log\n");
  Reply listed = client.Get("/api/builds?project=web");
  REQUIRE(listed.Code() == 10000);
  CHECK(listed.Json()["content"]["builds"][1]["logPruned"] == true);
}

}  // namespace market::server::testing
