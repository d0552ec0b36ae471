// The registry a build pushes to goes away while the build runs: the build ends failed with a
// reason naming the push or the registry, and the server stays healthy and keeps serving.

#include <algorithm>
#include <catch2/catch.hpp>
#include <optional>

#include "fault/fault_support.hpp"
#include "harbor_client/registry_process.hpp"

namespace market::fault {
namespace {

using json = nlohmann::json;

std::string LowerCopy(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

}  // namespace

TEST_CASE("the registry down during a build: failed with a clear reason, the server healthy",
          "[fault][registry][buildah]") {
  std::optional<std::string> base_registry = market::testing::RegistryHost();
  if (!base_registry) {
    WARN("MARKET_TEST_REGISTRY is not set (it holds the base image): skipping");
    return;
  }
  market::testing::TempDir dir;
  // The push target is a registry of the test's own: the shared one must stay up.
  std::optional<market::testing::RegistryProcess> target(
      std::in_place, market::testing::RegistryProcess::Options{});
  ServerProcess server(
      {"--listen", "127.0.0.1:0", "--database", "sqlite:" + (dir.path() / "market.db").string(),
       "--workspace", (dir.path() / "ws").string(), "--registry", target->Url(), "--registry-kind",
       "distribution", "--registry-insecure", "--build-workers", "1", "--log-level", "info"},
      dir.path() / "server.log");

  HttpClient client(server.port(), 30s);
  json pipeline =
      json::array({{{"$$plugin", "base_image_choose_from_harbor"},
                    {"handleInput", *base_registry + "/base/busybox:latest"}},
                   {{"$$plugin", "run"}, {"value", json::array({"echo built-before-the-push"})}}});
  REQUIRE(client
              .PostJson("/api/project/save", {{"project", "regdown"},
                                              {"addOrUpdate", "add"},
                                              {"operator", "fault"},
                                              {"$$plugin", pipeline}})
              .TryCode() == 10000);
  Reply queued = client.PostJson(
      "/api/project/build", {{"projectName", "regdown"}, {"operator", "fault"}, {"tag", "v1"}});
  INFO(queued.body);
  REQUIRE(queued.TryCode() == 10000);
  const std::string id = queued.TryJson()["content"]["idStr"];

  auto latest = [&] {
    Reply history = client.Get("/api/project/buildHistory?projectName=regdown");
    return history.TryCode() == 10000 ? history.TryJson()["content"]["latest"] : json();
  };
  // Down once the build runs: buildah is pulling the base image or building by then.
  REQUIRE(WaitFor([&] { return latest().value("state", "") == "running"; }, 60s));
  target.reset();

  int health_checks = 0;
  json build;
  REQUIRE(WaitFor(
      [&] {
        Reply health = client.Get("/healthz");
        CHECK(health.status == 200);
        ++health_checks;
        build = latest();
        std::string state = build.value("state", "");
        return state != "queued" && state != "running" && !state.empty();
      },
      300s, 500ms));
  INFO("build: " << build.dump());
  CHECK(build["idStr"] == id);
  CHECK(build["state"] == "failed");
  const std::string reason = LowerCopy(build.value("reason", ""));
  CHECK((reason.find("push") != std::string::npos || reason.find("registry") != std::string::npos));
  // The cause too, from buildah's own error line, not only its exit status.
  CHECK_THAT(reason, Catch::Contains("connection refused"));
  CHECK(health_checks >= 1);

  Reply log = client.Get("/api/project/buildLog?id=" + id);
  REQUIRE(log.TryCode() == 10000);
  CHECK_THAT(log.TryJson()["content"]["text"].get<std::string>(), Catch::Contains("push"));

  // Still serving: liveness, the API, and readiness naming the registry as what is wrong.
  CHECK(client.Get("/healthz").status == 200);
  CHECK(client.Get("/api/project/list").TryCode() == 10000);
  Reply ready = client.Get("/readyz");
  CHECK(ready.status == 503);
  CHECK(ready.TryJson()["checks"]["database"] == "ok");
  CHECK(ready.TryJson()["checks"]["registry"] != "ok");
  // Registry endpoints fail with the registry's code, not an internal error.
  Reply tags = client.Get("/repositories/tags?repo_name=default_cluster/regdown");
  CHECK((tags.status == 502 || tags.status == 504));
  CHECK((tags.TryCode() == 10014 || tags.TryCode() == 10015));

  ExpectCleanStop(server);
}

}  // namespace market::fault
