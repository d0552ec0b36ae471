// Tag retention over HTTP against the real server and the real docker-registry
// (MARKET_TEST_REGISTRY, deletes enabled): images are pushed straight to the registry with
// chosen creation times, then dry runs and runs are checked against what the registry holds.

#include <openssl/evp.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "server_harness.hpp"
#include "support/ports.hpp"

namespace market::server::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

std::string Sha256(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  REQUIRE(EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr) == 1);
  std::string hex = "sha256:";
  char pair[3];
  for (unsigned int i = 0; i < length; ++i) {
    std::snprintf(pair, sizeof pair, "%02x", digest[i]);
    hex += pair;
  }
  return hex;
}

int RegistryPort() {
  const std::string host = *market::testing::RegistryHost();
  return std::stoi(host.substr(host.rfind(':') + 1));
}

std::string UniqueCluster() {
  std::random_device random;
  return "rt" + std::to_string(random() % 1000000000);
}

// Uploads a blob monolithically (POST, then PUT with the digest).
void PushBlob(TestClient& registry, const std::string& repository, const std::string& blob) {
  Reply started = registry.Send("POST", "/v2/" + repository + "/blobs/uploads/");
  REQUIRE(started.status == 202);
  std::string location = started.Header("location");
  if (auto scheme = location.find("://"); scheme != std::string::npos) {
    location = location.substr(location.find('/', scheme + 3));
  }
  location += (location.find('?') == std::string::npos ? "?" : "&");
  Reply put = registry.Send("PUT", location + "digest=" + Sha256(blob), blob,
                            "application/octet-stream");
  INFO(put.body);
  REQUIRE(put.status == 201);
}

struct Pushed {
  std::string digest;
  std::map<std::string, std::int64_t> blobs;  // config and layers: digest -> size
};

// An OCI image whose config says it was created `age` ago, with the given layers' contents.
Pushed PushImage(const std::string& repository, const std::vector<std::string>& tags,
                 std::chrono::hours age, const std::vector<std::string>& layers) {
  TestClient registry(RegistryPort());
  const TimePoint created = std::chrono::time_point_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::now() - age);
  const std::string config =
      json{{"created", FormatIso8601(created)},
           {"architecture", "amd64"},
           {"os", "linux"},
           {"rootfs", {{"type", "layers"}, {"diff_ids", json::array()}}}}
          .dump();
  Pushed pushed;
  PushBlob(registry, repository, config);
  pushed.blobs[Sha256(config)] = static_cast<std::int64_t>(config.size());
  json layer_list = json::array();
  for (const auto& layer : layers) {
    PushBlob(registry, repository, layer);
    pushed.blobs[Sha256(layer)] = static_cast<std::int64_t>(layer.size());
    layer_list.push_back({{"mediaType", "application/vnd.oci.image.layer.v1.tar"},
                          {"digest", Sha256(layer)},
                          {"size", layer.size()}});
  }
  const std::string manifest =
      json{{"schemaVersion", 2},
           {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
           {"config",
            {{"mediaType", "application/vnd.oci.image.config.v1+json"},
             {"digest", Sha256(config)},
             {"size", config.size()}}},
           {"layers", layer_list}}
          .dump();
  pushed.digest = Sha256(manifest);
  for (const auto& tag : tags) {
    Reply put = registry.Send("PUT", "/v2/" + repository + "/manifests/" + tag, manifest,
                              "application/vnd.oci.image.manifest.v1+json");
    INFO(put.body);
    REQUIRE(put.status == 201);
  }
  return pushed;
}

std::set<std::string> RegistryTags(const std::string& repository) {
  TestClient registry(RegistryPort());
  Reply listed = registry.Get("/v2/" + repository + "/tags/list");
  std::set<std::string> tags;
  if (listed.status == 404) return tags;
  REQUIRE(listed.status == 200);
  const json body = listed.Json();
  if (body["tags"].is_array()) {
    for (const auto& tag : body["tags"]) tags.insert(tag.get<std::string>());
  }
  return tags;
}

void UseTestRegistry(ServerConfig& config) {
  config.registry_url = "http://" + *market::testing::RegistryHost();
  config.registry_kind = "distribution";
  config.registry_insecure = true;
  config.retention_poll = 1s;
  config.retention_max_deletes_per_minute = 0;
}

std::int64_t NewRuleSet(TestClient& client, const std::string& cluster, const json& rules) {
  Reply reply = client.PostJson("/api/retention/new", {{"cluster", cluster},
                                                       {"name", "nightly"},
                                                       {"rules", rules.dump()},
                                                       {"operator", "root"}});
  INFO(reply.body);
  REQUIRE(reply.Code() == 10000);
  return reply.Json()["content"]["id"];
}

// Queues a (dry) run and waits for its end; the run's detail.
json RunAndWait(TestClient& client, std::int64_t set, bool dry) {
  Reply queued = client.PostJson(dry ? "/api/retention/dryrun" : "/api/retention/run",
                                 {{"id", set}, {"operator", "root"}});
  INFO(queued.body);
  REQUIRE(queued.Code() == 10000);
  CHECK(queued.Json()["content"]["state"] == "queued");
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
  CHECK(detail["dryRun"] == dry);
  return detail;
}

std::map<std::string, std::string> Actions(const json& run) {
  std::map<std::string, std::string> out;
  for (const auto& item : run["items"]) out[item["tag"]] = item["action"];
  return out;
}

}  // namespace

TEST_CASE("retention: a dry run lists exactly what the run then deletes, and nothing kept is lost",
          "[api][retention][registry]") {
  if (!market::testing::RegistryHost()) {
    WARN("MARKET_TEST_REGISTRY is not set: skipping");
    return;
  }
  TestServer server(market::testing::Backend::kSqlite, UseTestRegistry);
  TestClient client(server.port());
  const std::string cluster = UniqueCluster();
  const std::string repository = cluster + "/app";
  const std::string shared_layer = "layer shared by new-1 and old-3 " + cluster;
  std::map<std::string, Pushed> images;
  // "keepme" is kept by rule 3 and names the digest of "old-1", which no rule keeps.
  images["old-1"] = PushImage(repository, {"old-1", "keepme"}, 100 * 24h, {"l-old-1" + cluster});
  images["old-2"] = PushImage(repository, {"old-2"}, 90 * 24h, {"l-old-2" + cluster});
  images["old-3"] = PushImage(repository, {"old-3"}, 80 * 24h, {shared_layer, "l-old-3"});
  images["new-1"] = PushImage(repository, {"new-1"}, 24h, {shared_layer});
  images["v1"] = PushImage(repository, {"v1"}, 200 * 24h, {"l-v1" + cluster});
  images["v2"] = PushImage(repository, {"v2"}, 150 * 24h, {"l-v2" + cluster});
  images["dev-x"] = PushImage(repository, {"dev-x"}, 24h, {"l-dev-x" + cluster});
  // Another repository that no rule's glob names: left alone.
  PushImage(cluster + "/other", {"ancient"}, 400 * 24h, {"l-ancient" + cluster});

  const json rules = json::array({
      {{"repositories", "app"}, {"include", "v.*"}, {"keepLatest", 1}},
      {{"repositories", "a*"}, {"exclude", "(v|dev-).*"}, {"keepDays", 7}},
      {{"repositories", "app"}, {"include", "keepme"}},
  });
  const std::int64_t set = NewRuleSet(client, cluster, rules);

  const json dry = RunAndWait(client, set, true);
  const std::map<std::string, std::string> expected = {
      {"keepme", "keep"},   {"old-1", "keep"},   {"v2", "keep"},     {"new-1", "keep"},
      {"v1", "delete"},     {"old-2", "delete"}, {"old-3", "delete"}, {"dev-x", "delete"}};
  CHECK(Actions(dry) == expected);
  for (const auto& item : dry["items"]) {
    if (item["tag"] == "old-1") CHECK(item["reason"] == "shares its digest with kept tag keepme");
    if (item["tag"] == "dev-x") CHECK(item["reason"] == "no rule keeps it");
  }
  // Bytes: blobs of deleted manifests that no kept manifest references (the shared layer stays).
  std::map<std::string, std::int64_t> freed;
  for (const char* gone : {"v1", "old-2", "old-3", "dev-x"}) freed.merge(images[gone].blobs);
  std::int64_t expected_bytes = 0;
  for (const auto& [blob, size] : freed) {
    bool kept = false;
    for (const char* stays : {"old-1", "v2", "new-1"}) kept = kept || images[stays].blobs.contains(blob);
    if (!kept) expected_bytes += size;
  }
  REQUIRE(dry["repositories"].size() == 1);  // "other" is not evaluated
  const json summary = dry["repositories"][0];
  CHECK(summary["repository"] == repository);
  CHECK(summary["total"] == 8);
  CHECK(summary["kept"] == 4);
  CHECK(summary["deleted"] == 4);
  CHECK(summary["errors"] == 0);
  CHECK(summary["bytesUnreferenced"] == expected_bytes);
  // A dry run deletes nothing.
  CHECK(RegistryTags(repository).size() == 8);

  const json run = RunAndWait(client, set, false);
  CHECK(Actions(run) == expected);
  CHECK(run["repositories"][0] == summary);
  CHECK(RegistryTags(repository) == std::set<std::string>{"keepme", "old-1", "v2", "new-1"});
  CHECK(RegistryTags(cluster + "/other") == std::set<std::string>{"ancient"});

  // The runs are recorded, newest first, without items in the list.
  Reply runs = client.Get("/api/retention/runs?ruleSet=" + std::to_string(set));
  REQUIRE(runs.Code() == 10000);
  REQUIRE(runs.Json()["content"].size() == 2);
  CHECK(runs.Json()["content"][0]["id"] == run["id"]);
  CHECK(runs.Json()["content"][0]["totals"]["deleted"] == 4);
  CHECK_FALSE(runs.Json()["content"][0].contains("items"));

  // Running again finds nothing more to delete.
  const json again = RunAndWait(client, set, false);
  CHECK(again["totals"]["deleted"] == 0);
  CHECK(again["totals"]["kept"] == 4);
}

TEST_CASE("retention: the tag of a project's latest successful build is always kept",
          "[api][retention][registry][buildah]") {
  const std::optional<std::string> registry = market::testing::RegistryHost();
  if (!registry) {
    WARN("MARKET_TEST_REGISTRY is not set: skipping");
    return;
  }
  TestServer server(market::testing::Backend::kSqlite, UseTestRegistry);
  TestClient client(server.port());
  const std::string project = UniqueCluster();
  const json pipeline = json::array(
      {{{"$$plugin", "base_image_choose_from_harbor"}, {"handleInput", *registry + "/base/busybox:latest"}},
       {{"$$plugin", "run"}, {"value", json::array({"echo built-for-retention"})}}});
  REQUIRE(client.PostJson("/api/project/save", {{"project", project},
                                                {"addOrUpdate", "add"},
                                                {"operator", "builder"},
                                                {"$$plugin", pipeline}})
              .Code() == 10000);
  Reply started = client.PostJson("/api/project/build",
                                  {{"projectName", project}, {"operator", "builder"}, {"tag", "b1"}});
  INFO(started.body);
  REQUIRE(started.Code() == 10000);
  const std::string id = started.Json()["content"]["idStr"];
  json build;
  // Waits without asserting on each look: a slow build is not a thousand failed checks.
  REQUIRE(market::testing::WaitFor(
      [&] {
        // The answer in a variable of its own: a range over a member of a temporary dangles.
        const json history =
            client.Get("/api/project/buildHistory?projectName=" + project).TryJson();
        if (!history.contains("content")) return false;
        for (const json& b : history["content"]["builds"]) {
          if (b["idStr"] == id) build = b;
        }
        return build.is_object() && build["state"] != "queued" && build["state"] != "running";
      },
      600s));
  INFO(build.dump());
  REQUIRE(build["state"] == "succeeded");
  const std::string repository = "default_cluster/" + project;
  PushImage(repository, {"old-a"}, 300 * 24h, {"old-a " + project});
  PushImage(repository, {"old-b"}, 200 * 24h, {"old-b " + project});

  // The only rule selects old-*: b1 is kept by being the latest successful build alone.
  const std::int64_t set = NewRuleSet(
      client, "default_cluster",
      json::array({{{"repositories", project}, {"include", "old-.*"}, {"keepLatest", 1}}}));
  const json run = RunAndWait(client, set, false);
  CHECK(Actions(run) ==
        std::map<std::string, std::string>{{"b1", "keep"}, {"old-b", "keep"}, {"old-a", "delete"}});
  for (const auto& item : run["items"]) {
    if (item["tag"] == "b1") {
      CHECK(item["reason"] ==
            "latest successful build " + id + " of project " + project);
      CHECK(item["digest"] == build["digest"]);
    }
  }
  CHECK(RegistryTags(repository) == std::set<std::string>{"b1", "old-b"});
}

TEST_CASE("retention: a tag an immutability rule protects is kept, dry run and run alike",
          "[api][retention][immutability][registry]") {
  if (!market::testing::RegistryHost()) {
    WARN("MARKET_TEST_REGISTRY is not set: skipping");
    return;
  }
  TestServer server(market::testing::Backend::kSqlite, UseTestRegistry);
  TestClient client(server.port());
  const std::string cluster = UniqueCluster();
  const std::string repository = cluster + "/app";
  PushImage(repository, {"v1.0"}, 300 * 24h, {"release " + cluster});
  PushImage(repository, {"nightly-1"}, 200 * 24h, {"nightly " + cluster});
  PushImage(cluster + "/deep/app", {"v2.0"}, 300 * 24h, {"deep release " + cluster});
  // '*' stays within a path component: the rule protects <cluster>/app's releases, not those of
  // <cluster>/deep/app.
  Reply rule = client.PostJson("/api/immutability/new", {{"repository", cluster + "/*"},
                                                         {"tagPattern", "v[0-9.]+"},
                                                         {"operator", "root"}});
  INFO(rule.body);
  REQUIRE(rule.Code() == 10000);
  const std::int64_t rule_id = rule.Json()["content"]["id"];
  const std::int64_t set =
      NewRuleSet(client, cluster, json::array({{{"repositories", "**"}, {"keepDays", 1}}}));

  const json dry = RunAndWait(client, set, true);
  CHECK(Actions(dry) == std::map<std::string, std::string>{
                           {"v1.0", "keep"}, {"nightly-1", "delete"}, {"v2.0", "delete"}});
  for (const auto& item : dry["items"]) {
    if (item["tag"] == "v1.0") {
      CHECK(item["reason"] == "protected by immutability rule " + std::to_string(rule_id));
    }
  }
  const json run = RunAndWait(client, set, false);
  CHECK(Actions(run) == Actions(dry));
  CHECK(RegistryTags(repository) == std::set<std::string>{"v1.0"});
  CHECK(RegistryTags(cluster + "/deep/app").empty());
}

TEST_CASE("retention: the throttle bounds deletes per minute", "[api][retention][registry]") {
  if (!market::testing::RegistryHost()) {
    WARN("MARKET_TEST_REGISTRY is not set: skipping");
    return;
  }
  TestServer server(market::testing::Backend::kSqlite, [](ServerConfig& config) {
    UseTestRegistry(config);
    config.retention_max_deletes_per_minute = 60;  // one a second
  });
  TestClient client(server.port());
  const std::string cluster = UniqueCluster();
  for (int i = 0; i < 4; ++i) {
    PushImage(cluster + "/app", {"t" + std::to_string(i)}, (10 + i) * 24h,
              {"throttled " + std::to_string(i) + cluster});
  }
  const std::int64_t set =
      NewRuleSet(client, cluster, json::array({{{"keepDays", 1}}}));
  const json run = RunAndWait(client, set, false);
  CHECK(run["totals"]["deleted"] == 4);
  const auto started = *ParseIso8601(run["startedAt"].get<std::string>());
  const auto finished = *ParseIso8601(run["finishedAt"].get<std::string>());
  // Four deletes a second apart: at least three seconds between the first and the last.
  CHECK(finished - started >= 3s);
  CHECK(RegistryTags(cluster + "/app").empty());
}

TEST_CASE("retention: bad rule sets are refused naming the field, and nothing is stored",
          "[api][retention]") {
  TestServer server;
  TestClient client(server.port());
  const auto refused = [&](const json& body, const std::string& field) {
    Reply reply = client.PostJson("/api/retention/new", body);
    INFO(body.dump() << " -> " << reply.body);
    CHECK(reply.status == 400);
    CHECK(reply.Code() == 10006);
    CHECK_THAT(reply.Json()["errMsg"].get<std::string>(), Catch::Contains(field));
  };
  const json good = {{"cluster", "team"},
                     {"name", "n"},
                     {"rules", R"([{"keepLatest":3}])"},
                     {"operator", "root"}};
  const auto with = [&](const std::string& key, const json& value) {
    json body = good;
    body[key] = value;
    return body;
  };
  refused(with("cluster", "Bad Cluster!"), "cluster");
  refused(with("name", ""), "name");
  refused(with("rules", "not json"), "rules");
  refused(with("rules", "[]"), "rules");
  refused(with("rules", R"([{"include":"(unclosed"}])"), "rules[0].include");
  refused(with("rules", R"([{"keepLatest":3},{"exclude":"[z-a]"}])"), "rules[1].exclude");
  refused(with("rules", R"([{"keepLatest":-1}])"), "rules[0].keepLatest");
  refused(with("rules", R"([{"keepDays":"7"}])"), "rules[0].keepDays");
  refused(with("rules", R"([{"keepForever":true}])"), "rules[0].keepForever");
  refused(with("rules", R"([{"include":")" + std::string(300, 'a') + R"("}])"),
          "rules[0].include");
  refused(with("schedule", "every 1s"), "schedule");
  refused(with("schedule", "0 25 * * *"), "schedule");
  refused(with("enabled", "maybe"), "enabled");
  json no_rules = good;
  no_rules.erase("rules");
  refused(no_rules, "rules");
  CHECK(client.Get("/api/retention/list").Json()["content"].empty());

  Reply made = client.PostJson("/api/retention/new", with("schedule", "0 3 * * *"));
  REQUIRE(made.Code() == 10000);
  CHECK_THAT(made.Json()["content"]["nextRunAt"].get<std::string>(), Catch::Contains("T03:00:00"));
  const std::int64_t id = made.Json()["content"]["id"];
  Reply bad_update = client.PostJson(
      "/api/retention/update", {{"id", id}, {"rules", R"([{"include":"("}])"}, {"operator", "root"}});
  CHECK(bad_update.Code() == 10006);
  CHECK(client.Get("/api/retention/get?id=" + std::to_string(id)).Json()["content"]["rules"] ==
        json::array({{{"repositories", ""}, {"include", ""}, {"exclude", ""},
                      {"keepLatest", 3}, {"keepDays", 0}}}));
  Reply missing = client.Get("/api/retention/get?id=999999");
  CHECK(missing.status == 404);
  Reply bad_id = client.PostJson("/api/retention/run", {{"id", "x"}, {"operator", "root"}});
  CHECK(bad_id.Code() == 10006);
  CHECK_THAT(bad_id.Json()["errMsg"].get<std::string>(), Catch::Contains("id"));
  // The name is taken in that cluster.
  Reply duplicate = client.PostJson("/api/retention/new", good);
  CHECK(duplicate.status == 409);
  CHECK(duplicate.Code() == 10001);
}

}  // namespace market::server::testing
