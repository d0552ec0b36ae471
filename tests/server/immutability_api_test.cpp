// Immutable tags over HTTP: the /api/immutability routes with their roles and input checks, and,
// with MARKET_TEST_REGISTRY (a docker-registry holding base/busybox:latest), real buildah builds
// and tag deletes refused or let through by the rules.

#include <catch2/catch.hpp>
#include <chrono>
#include <random>
#include <thread>

#include "auth.hpp"
#include "server_harness.hpp"

namespace market::server::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

const AuditActor kSetup{"test-setup", "", ""};
const TimePoint kT0{std::chrono::milliseconds{1'790'000'000'000}};

// One user per role; the password is the name + "-pass-123".
void AddPeople(Stores& stores) {
  for (auto [name, role] : {std::pair{"vera", Role::kViewer}, std::pair{"dave", Role::kDeveloper},
                            std::pair{"ada", Role::kAdmin}}) {
    auto hash = HashPassword(std::string(name) + "-pass-123");
    REQUIRE(hash);
    REQUIRE(stores.identity->AddUser(name, role, *hash, kSetup, kT0));
  }
}

Headers As(const std::string& name) {
  return {{"Authorization", BasicAuthorization(name, name + "-pass-123")}};
}

// Polls build `id` until it has ended; its JSON.
json WaitBuild(TestClient& client, const std::string& project, const std::string& id) {
  auto deadline = std::chrono::steady_clock::now() + 300s;
  std::string listing;
  while (std::chrono::steady_clock::now() < deadline) {
    Reply listed = client.Get("/api/builds?page_size=50&project=" + project);
    if (listed.Code() != 10000) FAIL(listed.body);
    listing = listed.body;
    const json body = listed.Json();
    for (const json& build : body["content"]["builds"]) {
      if (build["idStr"] != id) continue;
      if (build["state"] != "queued" && build["state"] != "running") return build;
    }
    std::this_thread::sleep_for(200ms);
  }
  FAIL("build " << id << " did not end: " << listing);
  return {};
}

// The digest the registry holds for `tag`, "" when it has no such tag.
std::string DigestOf(TestClient& client, const std::string& repository, const std::string& tag) {
  Reply tags = client.Get("/repositories/tags?page_size=100&repo_name=" + UrlEncode(repository));
  if (tags.status == 404) return "";
  REQUIRE(tags.status == 200);
  for (const json& item : tags.Json()) {
    if (item["name"] == tag) return item["digest"];
  }
  return "";
}

}  // namespace

TEST_CASE("immutability rules: admins manage them, viewers list them, bad input is named",
          "[api][immutability]") {
  TestServer server(
      market::testing::Backend::kSqlite,
      [](ServerConfig& config) {
        config.auth = true;
        config.auth_cache_ttl = std::chrono::seconds(0);
      },
      AddPeople);
  TestClient client(server.port());

  const json rule = {
      {"repository", "default_cluster/*"}, {"tagPattern", "v[0-9]+"}, {"description", "releases"}};
  for (const std::string who : {"vera", "dave"}) {
    INFO(who);
    Reply refused = client.PostJson("/api/immutability/new", rule, As(who));
    CHECK(refused.status == 403);
    CHECK(refused.Code() == 10019);
  }
  CHECK(client.Get("/api/immutability/list", As("vera")).Json()["content"] == json::array());

  Reply made = client.PostJson("/api/immutability/new", rule, As("ada"));
  INFO(made.body);
  REQUIRE(made.Code() == 10000);
  const json created = made.Json()["content"];
  CHECK(created["repository"] == "default_cluster/*");
  CHECK(created["tagPattern"] == "v[0-9]+");
  CHECK(created["enabled"] == true);
  CHECK(created["description"] == "releases");
  CHECK(created["creator"] == "ada");
  const std::int64_t id = created["id"];

  Reply listed = client.Get("/api/immutability/list", As("vera"));
  REQUIRE(listed.Code() == 10000);
  REQUIRE(listed.Json()["content"].size() == 1);
  CHECK(listed.Json()["content"][0] == created);

  // Bad input: 10006 naming the field, and nothing changes.
  const std::pair<json, std::string> refusals[] = {
      {{{"tagPattern", ".*"}}, "repository is required"},
      {{{"repository", "default_cluster/*"}}, "tagPattern is required"},
      {{{"repository", "Default/*"}, {"tagPattern", ".*"}}, "repository contains special char: D"},
      {{{"repository", "a/*"}, {"tagPattern", "v[0-9"}}, "tagPattern is not a regular expression"},
      {{{"repository", "a/*"}, {"tagPattern", std::string(300, 'x')}},
       "tagPattern is longer than 256 characters"},
      {{{"repository", "a/*"}, {"tagPattern", ".*"}, {"enabled", "maybe"}}, "enabled"},
  };
  for (const auto& [body, message] : refusals) {
    INFO(body.dump());
    Reply reply = client.PostJson("/api/immutability/new", body, As("ada"));
    CHECK(reply.status == 400);
    CHECK(reply.Code() == 10006);
    CHECK_THAT(reply.Json()["errMsg"].get<std::string>(), Catch::StartsWith(message));
    CHECK(reply.Json()["content"].is_null());
  }
  Reply bad_id = client.PostJson("/api/immutability/update", {{"id", "x"}}, As("ada"));
  CHECK(bad_id.status == 400);
  CHECK_THAT(bad_id.Json()["errMsg"].get<std::string>(), Catch::Contains("id"));
  Reply no_rule = client.PostJson("/api/immutability/update",
                                  {{"id", id + 100}, {"enabled", false}}, As("ada"));
  CHECK(no_rule.status == 404);
  CHECK(no_rule.Code() == 10008);
  Reply bad_update =
      client.PostJson("/api/immutability/update", {{"id", id}, {"tagPattern", "("}}, As("ada"));
  CHECK(bad_update.Code() == 10006);
  CHECK(client.Get("/api/immutability/list", As("ada")).Json()["content"] ==
        json::array({created}));

  // Update and delete: admins only.
  CHECK(client.PostJson("/api/immutability/update", {{"id", id}, {"enabled", false}}, As("dave"))
            .status == 403);
  Reply updated =
      client.PostJson("/api/immutability/update",
                      {{"id", id}, {"enabled", false}, {"tagPattern", "v.*"}}, As("ada"));
  REQUIRE(updated.Code() == 10000);
  CHECK(updated.Json()["content"]["enabled"] == false);
  CHECK(updated.Json()["content"]["tagPattern"] == "v.*");
  CHECK(updated.Json()["content"]["repository"] == "default_cluster/*");
  CHECK(client.PostJson("/api/immutability/delete", {{"id", id}}, As("vera")).status == 403);
  REQUIRE(client.PostJson("/api/immutability/delete", {{"id", id}}, As("ada")).Code() == 10000);
  Reply gone = client.PostJson("/api/immutability/delete", {{"id", id}}, As("ada"));
  CHECK(gone.status == 404);
  CHECK(gone.Code() == 10008);

  // Each change is audited with its rule before and after.
  Reply audit = client.Get("/api/audit?page_size=50", As("ada"));
  REQUIRE(audit.Code() == 10000);
  std::vector<std::string> actions;
  const json entries = audit.Json()["content"];  // not a range over a temporary
  for (const json& entry : entries) {
    if (entry["target"] == "immutability:" + std::to_string(id)) actions.push_back(entry["action"]);
  }
  CHECK_THAT(actions, Catch::UnorderedEquals(std::vector<std::string>{
                          "immutability.create", "immutability.update", "immutability.delete"}));
}

TEST_CASE("immutable tags: real builds and deletes refused, first pushes and other tags not",
          "[api][immutability][registry]") {
  std::optional<std::string> registry = market::testing::RegistryHost();
  if (!registry) {
    WARN("MARKET_TEST_REGISTRY is not set: skipping the immutable tags build test");
    return;
  }
  TestServer server(market::testing::Backend::kSqlite, [&](ServerConfig& config) {
    config.registry_url = "http://" + *registry;
    config.registry_kind = "distribution";
    config.registry_insecure = true;
    // Every build pushes a new image: digests tell the pushes apart.
    config.build_cache = false;
  });
  TestClient client(server.port());
  const std::string project = "immut" + std::to_string(std::random_device{}() % 1000000);
  const std::string repository = "default_cluster/" + project;
  json pipeline =
      json::array({{{"$$plugin", "base_image_choose_from_harbor"},
                    {"handleInput", *registry + "/base/busybox:latest"}},
                   {{"$$plugin", "run"}, {"value", json::array({"date +%s%N > /built-at"})}}});
  REQUIRE(client
              .PostJson("/api/project/save", {{"project", project},
                                              {"addOrUpdate", "add"},
                                              {"operator", "builder"},
                                              {"$$plugin", pipeline}})
              .Code() == 10000);
  auto build = [&](const std::string& tag) {
    return client.PostJson("/api/project/build",
                           {{"projectName", project}, {"operator", "builder"}, {"tag", tag}});
  };
  auto build_and_wait = [&](const std::string& tag) {
    Reply queued = build(tag);
    INFO(queued.body);
    REQUIRE(queued.Code() == 10000);
    json ended = WaitBuild(client, project, queued.Json()["content"]["idStr"]);
    INFO(ended.dump());
    REQUIRE(ended["state"] == "succeeded");
    return ended;
  };

  // Releases of this repository are immutable; a disabled rule would freeze every tag.
  Reply releases =
      client.PostJson("/api/immutability/new", {{"repository", "default_cluster/" + project},
                                                {"tagPattern", "v[0-9]+"},
                                                {"operator", "root"}});
  REQUIRE(releases.Code() == 10000);
  const std::int64_t rule_id = releases.Json()["content"]["id"];
  Reply frozen = client.PostJson(
      "/api/immutability/new",
      {{"repository", "**"}, {"tagPattern", ".*"}, {"enabled", false}, {"operator", "root"}});
  REQUIRE(frozen.Code() == 10000);

  // A protected tag that does not exist yet may be pushed once.
  json v1 = build_and_wait("v1");
  const std::string v1_digest = DigestOf(client, repository, "v1");
  REQUIRE(v1_digest == v1["digest"]);

  // Pushing over it is refused when queued, naming the rule and the tag; nothing is queued.
  Reply again = build("v1");
  INFO(again.body);
  CHECK(again.status == 409);
  CHECK(again.Code() == 10001);
  const std::string message = again.Json()["errMsg"];
  CHECK_THAT(message, Catch::Contains(repository + ":v1") &&
                          Catch::Contains("immutability rule " + std::to_string(rule_id)) &&
                          Catch::Contains("tagPattern v[0-9]+"));
  CHECK(again.Json()["content"].is_null());
  Reply history = client.Get("/api/builds?page_size=50&project=" + project);
  CHECK(history.Json()["content"]["builds"].size() == 1);
  CHECK(DigestOf(client, repository, "v1") == v1_digest);

  // Unprotected tags (the disabled rule has no effect) are pushed over as before.
  json dev1 = build_and_wait("dev");
  json dev2 = build_and_wait("dev");
  CHECK(dev2["digest"] != dev1["digest"]);  // /built-at differs: a new image under the tag
  CHECK(DigestOf(client, repository, "dev") == dev2["digest"]);

  // The console's listing marks the protected tag.
  Reply tags = client.Get("/repositories/tags?repo_name=" + UrlEncode(repository));
  REQUIRE(tags.status == 200);
  for (const json& tag : tags.Json()) {
    INFO(tag.dump());
    CHECK(tag["immutableRule"] == (tag["name"] == "v1" ? json(rule_id) : json(nullptr)));
  }

  // Deleting the protected tag is refused in the seed's shape; the tag stays.
  Reply removed = client.Request(http::verb::delete_, "/repositories",
                                 json{{"repoName", "v1"}, {"projectName", repository}}.dump(),
                                 "application/json");
  INFO(removed.body);
  CHECK(removed.status == 409);
  CHECK(removed.Json()["code"] == 10001);
  CHECK_THAT(
      removed.Json()["msg"].get<std::string>(),
      Catch::Contains("immutability rule " + std::to_string(rule_id)) && Catch::Contains(":v1"));
  CHECK(DigestOf(client, repository, "v1") == v1_digest);
  // An unprotected tag is deleted.
  Reply dev_removed = client.Request(http::verb::delete_, "/repositories",
                                     json{{"repoName", "dev"}, {"projectName", repository}}.dump(),
                                     "application/json");
  INFO(dev_removed.body);
  CHECK(dev_removed.Json() == json{{"code", 0}, {"msg", ""}});
  CHECK(DigestOf(client, repository, "dev").empty());

  // Two builds of a new protected tag pass the queue's check; the second finds the first's push
  // when it is about to push, and fails instead of pushing over it.
  Reply first = build("v2");
  Reply second = build("v2");
  REQUIRE(first.Code() == 10000);
  REQUIRE(second.Code() == 10000);
  json first_ended = WaitBuild(client, project, first.Json()["content"]["idStr"]);
  json second_ended = WaitBuild(client, project, second.Json()["content"]["idStr"]);
  CHECK(first_ended["state"] == "succeeded");
  CHECK(second_ended["state"] == "failed");
  CHECK_THAT(second_ended["reason"].get<std::string>(),
             Catch::Contains("immutability rule " + std::to_string(rule_id)));
  CHECK(DigestOf(client, repository, "v2") == first_ended["digest"]);

  // Disabled, the rule protects nothing: v1 is rebuilt and then deleted.
  REQUIRE(client
              .PostJson("/api/immutability/update",
                        {{"id", rule_id}, {"enabled", false}, {"operator", "root"}})
              .Code() == 10000);
  json v1_again = build_and_wait("v1");
  CHECK(v1_again["digest"] != v1_digest);
  CHECK(DigestOf(client, repository, "v1") == v1_again["digest"]);
  Reply v1_removed = client.Request(http::verb::delete_, "/repositories",
                                    json{{"repoName", "v1"}, {"projectName", repository}}.dump(),
                                    "application/json");
  CHECK(v1_removed.Json() == json{{"code", 0}, {"msg", ""}});
}

}  // namespace market::server::testing
