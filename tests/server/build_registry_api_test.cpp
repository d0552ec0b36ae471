// Builds and the registry section over HTTP. Without a registry: the clear refusals. With
// MARKET_TEST_REGISTRY (a docker-registry holding base/busybox:latest): a real buildah build followed
// live, its history, and the registry endpoints on the pushed image.

#include <catch2/catch.hpp>

#include "server_harness.hpp"

namespace market::server::testing {
namespace {

using json = nlohmann::json;

void UseTestRegistry(ServerConfig& config, const std::string& host) {
  config.registry_url = "http://" + host;
  config.registry_kind = "distribution";
  config.registry_insecure = true;
}

}  // namespace

TEST_CASE("without a registry: builds and registry endpoints say so", "[api][build]") {
  TestServer server;
  TestClient client(server.port());
  REQUIRE(client.PostJson("/api/project/new", {{"projectName", "p"}, {"operator", "r"}}).Code() ==
          10000);
  Reply build = client.PostJson("/api/project/build", {{"projectName", "p"}, {"operator", "r"}});
  CHECK(build.status == 503);
  CHECK(build.Code() == 10013);
  CHECK_THAT(build.Json()["errMsg"].get<std::string>(), Catch::Contains("registry"));

  Reply history = client.Get("/api/project/buildHistory?projectName=p");
  CHECK(history.status == 404);
  CHECK(history.Code() == 10007);
  Reply log = client.Get("/api/project/buildLog?id=999");
  CHECK(log.status == 404);
  CHECK(log.Code() == 10011);
  Reply cancel = client.PostJson("/api/project/buildCancel", {{"id", 999}, {"operator", "r"}});
  CHECK(cancel.status == 404);
  CHECK(cancel.Code() == 10011);

  for (const std::string target :
       {"/projects?page=1&page_size=10&project_name=", "/repositories?project_id=1&q=",
        "/repositories/tags?repo_name=a/b", "/repositories/manifests?repo_name=a/b&tag=1"}) {
    INFO(target);
    Reply reply = client.Get(target);
    CHECK(reply.status == 503);
    CHECK(reply.Code() == 10013);
  }
  Reply removed = client.Request(http::verb::delete_, "/repositories",
                                 R"({"repoName": "1.1", "projectName": "a/b"})", "application/json");
  CHECK(removed.status == 503);
  CHECK(removed.Json()["code"] == 10013);
  CHECK_FALSE(removed.Json()["msg"].get<std::string>().empty());
}

TEST_CASE("the builds across projects: an empty page, and bad filters named", "[api][build]") {
  TestServer server;
  TestClient client(server.port());
  Reply empty = client.Get("/api/builds");
  INFO(empty.body);
  REQUIRE(empty.status == 200);
  REQUIRE(empty.Code() == 10000);
  CHECK(empty.Json()["content"] ==
        json{{"builds", json::array()}, {"page_size", 10}, {"next_before", nullptr}});
  const std::pair<const char*, const char*> refusals[] = {
      {"/api/builds?state=done", "state has an unknown build state 'done'"},
      {"/api/builds?project=a%2Ab", "project contains special char: *"},
      {"/api/builds?before=-3", "before must be a positive integer"},
      {"/api/builds?page_size=1000", "page_size must be at most 100"},
  };
  for (const auto& [target, message] : refusals) {
    INFO(target);
    Reply reply = client.Get(target);
    CHECK(reply.status == 400);
    CHECK(reply.Code() == 10006);
    CHECK_THAT(reply.Json()["errMsg"].get<std::string>(), Catch::StartsWith(message));
  }
}

TEST_CASE("a build whose pipeline cannot render is refused with 10006, nothing queued",
          "[api][build]") {
  TestServer server(market::testing::Backend::kSqlite, [](ServerConfig& config) {
    config.registry_url = "http://127.0.0.1:9";  // never reached: the request is refused first
    config.registry_kind = "distribution";
    config.registry_insecure = true;
    config.build_isolation = "chroot";  // nothing is built: the sandbox need not be checked
  });
  TestClient client(server.port());
  // A new project has no base image yet.
  REQUIRE(client.PostJson("/api/project/new", {{"projectName", "bare"}, {"operator", "r"}})
              .Code() == 10000);
  Reply build = client.PostJson("/api/project/build", {{"projectName", "bare"}, {"operator", "r"}});
  INFO(build.body);
  CHECK(build.status == 400);
  CHECK(build.Code() == 10006);
  CHECK(build.Json()["content"].is_null());
  const std::string message = build.Json()["errMsg"];
  CHECK_THAT(message, Catch::StartsWith("project bare cannot be built: ") &&
                          Catch::Contains("base_image_choose_from_harbor"));

  Reply history = client.Get("/api/project/buildHistory?projectName=bare");
  CHECK(history.status == 404);
  CHECK(history.Code() == 10007);
}

TEST_CASE("a real build, followed live, then browsed and deleted in the registry",
          "[api][build][registry]") {
  std::optional<std::string> registry = market::testing::RegistryHost();
  if (!registry) {
    WARN("MARKET_TEST_REGISTRY is not set: skipping the build and registry test");
    return;
  }
  TestServer server(market::testing::Backend::kSqlite,
                    [&](ServerConfig& config) { UseTestRegistry(config, *registry); });
  TestClient client(server.port());
  std::string project = "srvtest" + std::to_string(std::random_device{}() % 1000000);
  json pipeline = json::array(
      {{{"$$plugin", "base_image_choose_from_harbor"}, {"handleInput", *registry + "/base/busybox:latest"}},
       {{"$$plugin", "run"}, {"value", json::array({"echo hello-from-market"})}}});
  REQUIRE(client.PostJson("/api/project/save", {{"project", project},
                                                {"addOrUpdate", "add"},
                                                {"operator", "builder"},
                                                {"$$plugin", pipeline}})
              .Code() == 10000);

  Reply first = client.PostJson("/api/project/build",
                                {{"projectName", project}, {"operator", "builder"}, {"tag", "v1"}});
  INFO(first.body);
  REQUIRE(first.Code() == 10000);
  std::string id = first.Json()["content"]["idStr"];
  // A second build of the same project waits for the first: cancel it while it is queued.
  Reply second = client.PostJson("/api/project/build",
                                 {{"projectName", project}, {"operator", "builder"}, {"tag", "v2"}});
  if (second.Code() == 10000) {
    std::string second_id = second.Json()["content"]["idStr"];
    Reply cancelled = client.PostJson("/api/project/buildCancel",
                                      {{"id", second_id}, {"operator", "builder"}});
    CHECK(cancelled.Code() == 10000);
    Reply again = client.PostJson("/api/project/buildCancel",
                                  {{"id", second_id}, {"operator", "builder"}});
    CHECK((again.Code() == 10012 || again.Code() == 10000));
  } else {
    CHECK(second.Code() == 10010);  // or refused while one is active
  }

  // Follow the first build's log until it ends (chunked text/plain).
  TestClient follower(server.port());
  Reply log = follower.Get("/api/project/buildLog?id=" + id + "&follow=1");
  CHECK(log.status == 200);
  CHECK(log.Header("transfer-encoding") == "chunked");
  CHECK_THAT(log.body, Catch::Contains("hello-from-market"));

  Reply history = client.Get("/api/project/buildHistory?projectName=" + project + "&page=1&page_size=10");
  INFO(history.body);
  REQUIRE(history.Code() == 10000);
  json content = history.Json()["content"];
  CHECK(content["total_count"].get<int>() >= 1);
  json built;
  for (const json& b : content["builds"]) {
    if (b["idStr"] == id) built = b;
  }
  REQUIRE(built.is_object());
  CHECK(built["state"] == "succeeded");
  CHECK(built["tag"] == "v1");
  CHECK(built["digest"].get<std::string>().starts_with("sha256:"));
  CHECK(built["image"] == *registry + "/default_cluster/" + project + ":v1");

  // The same build across projects: finished ones filtered by state, operator and project.
  Reply across = client.Get("/api/builds?state=succeeded,failed&operator=builder&project=" +
                            project + "&page_size=5");
  INFO(across.body);
  REQUIRE(across.Code() == 10000);
  json listed_builds = across.Json()["content"]["builds"];
  REQUIRE(listed_builds.size() == 1);
  CHECK(listed_builds[0] == built);
  CHECK(across.Json()["content"]["next_before"].is_null());

  // A streamed response ends its connection: a fresh one.
  TestClient sse_client(server.port());
  Reply sse = sse_client.Get("/api/project/buildLog?id=" + id, {{"Accept", "text/event-stream"}});
  CHECK_THAT(sse.Header("content-type"), Catch::StartsWith("text/event-stream"));
  CHECK_THAT(sse.body, Catch::Contains("data: ") && Catch::Contains("event: end"));
  Reply whole = client.Get("/api/project/buildLog?id=" + id);
  CHECK(whole.Json()["content"]["finished"] == true);

  // The pages name the registry images are pushed to in their pull commands.
  CHECK(client.Get("/api/whoami").Json()["content"]["registry"] == *registry);

  // The registry section sees the pushed image.
  Reply projects = client.Get("/projects?page=1&page_size=100&project_name=");
  REQUIRE(projects.status == 200);
  CHECK_FALSE(projects.Header("x-total-count").empty());
  std::int64_t cluster_id = -1;
  for (const json& p : projects.Json()) {
    CHECK(p.contains("project_id"));
    CHECK(p.contains("repo_count"));
    if (p["name"] == "default_cluster") cluster_id = p["project_id"];
  }
  REQUIRE(cluster_id >= 0);
  Reply repositories =
      client.Get("/repositories?project_id=" + std::to_string(cluster_id) + "&q=" + project);
  REQUIRE(repositories.status == 200);
  bool listed = false;
  for (const json& r : repositories.Json()) listed |= r["name"] == "default_cluster/" + project;
  CHECK(listed);
  std::string repo = UrlEncode("default_cluster/" + project);
  Reply tags = client.Get("/repositories/tags?repo_name=" + repo);
  REQUIRE(tags.status == 200);
  REQUIRE_FALSE(tags.Json().empty());
  CHECK(tags.Json()[0]["name"] == "v1");
  CHECK(tags.Json()[0]["digest"] == built["digest"]);
  Reply manifest = client.Get("/repositories/manifests?repo_name=" + repo + "&tag=v1");
  REQUIRE(manifest.status == 200);
  CHECK(manifest.Json()["config"].is_string());
  CHECK(manifest.Json()["manifest"].is_object());
  // A name without '/' is the Image Market project, whose repository is <Cluster>/<name>.
  Reply tags_of_project = client.Get("/repositories/tags?repo_name=" + project);
  REQUIRE(tags_of_project.status == 200);
  CHECK(tags_of_project.Json() == tags.Json());
  Reply manifest_of_project =
      client.Get("/repositories/manifests?repo_name=" + project + "&tag=v1");
  REQUIRE(manifest_of_project.status == 200);
  CHECK(manifest_of_project.Json()["digest"] == manifest.Json()["digest"]);
  Reply no_project = client.Get("/repositories/tags?repo_name=nosuchproject");
  CHECK(no_project.status == 404);
  CHECK(no_project.Json()["code"] == 10008);
  CHECK_THAT(no_project.Json()["errMsg"].get<std::string>(), Catch::Contains("repo_name"));

  // The seed's own example: POST with method=DELETE and the JSON joined by '&', the project
  // named as the seed names it ("myweb"), not by its repository's path.
  Reply removed = client.Request(
      http::verb::post, "/repositories",
      "method=DELETE&" + json{{"repoName", "v1"}, {"projectName", project}}.dump(),
      "application/json");
  INFO(removed.body);
  CHECK(removed.status == 200);
  CHECK(removed.Json() == json{{"code", 0}, {"msg", ""}});
  Reply missing = client.Request(
      http::verb::delete_, "/repositories",
      json{{"repoName", "v1"}, {"projectName", "default_cluster/" + project}}.dump(), "application/json");
  CHECK(missing.status != 200);
  CHECK(missing.Json()["code"] != 0);
}

}  // namespace market::server::testing
