// Build triggers over HTTP: the /api/triggers routes, and GitHub, GitLab and Gitea push events
// (their real header and payload shapes) sent to /api/trigger/<id>, each building the pushed
// commit from a local git daemon with buildah into MARKET_TEST_REGISTRY.

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <thread>

#include "market/webhook_signature.hpp"
#include "server_harness.hpp"
#include "support/git_server.hpp"
#include "support/test_env.hpp"

namespace market::server::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
using market::testing::GitShell;

// A repository with two commits on main (A, then B at the tip) and tag v1 at A, served over
// git:// on loopback. The file version.txt says which commit a checkout holds.
struct Repository {
  Repository() {
    GitShell(dir.path(), "git init -q -b main work");
    const auto work = dir.path() / "work";
    std::ofstream(work / "version.txt") << "commit-A-contents\n";
    GitShell(work, "git add . && git commit -q -m first");
    sha_a = GitShell(work, "git rev-parse HEAD");
    GitShell(work, "git tag v1");
    std::ofstream(work / "version.txt") << "commit-B-contents\n";
    GitShell(work, "git commit -q -am second");
    sha_b = GitShell(work, "git rev-parse HEAD");
    GitShell(dir.path(), "git clone -q --bare work repo.git");
    // As the big git hosts do: a commit that is not a branch tip can be fetched.
    GitShell(dir.path() / "repo.git", "git config uploadpack.allowReachableSHA1InWant true");
    daemon.emplace(dir.path());
  }
  std::string Url() const { return daemon->Url("repo.git"); }

  market::testing::TempDir dir;
  std::optional<market::testing::GitServer> daemon;
  std::string sha_a, sha_b;
};

Headers GitHubHeaders(const std::string& secret, const std::string& body,
                      const std::string& delivery) {
  return {{"X-GitHub-Event", "push"},
          {"X-GitHub-Delivery", delivery},
          {"X-Hub-Signature-256", "sha256=" + HmacSha256Hex(secret, body)},
          {"User-Agent", "GitHub-Hookshot/044aadd"}};
}

std::string GitHubBody(const std::string& ref, const std::string& sha, const std::string& url) {
  return json{{"ref", ref},
              {"before", std::string(40, '0')},
              {"after", sha},
              {"created", true},
              {"deleted", false},
              {"forced", false},
              {"head_commit", {{"id", sha}, {"message", "first"}}},
              {"commits", json::array({{{"id", sha}, {"message", "first"}}})},
              {"repository",
               {{"name", "repo"}, {"clone_url", url}, {"default_branch", "main"}}},
              {"pusher", {{"name", "octocat"}}}}
      .dump();
}

std::string LogOf(TestClient& client, std::int64_t id);

// Polls build `id` until it has ended; its JSON.
json WaitBuild(TestClient& client, std::int64_t id) {
  auto deadline = std::chrono::steady_clock::now() + 180s;
  json last;
  std::string listing;
  while (std::chrono::steady_clock::now() < deadline) {
    Reply listed = client.Get("/api/builds?page_size=50");
    if (listed.Code() != 10000) FAIL(listed.body);
    listing = listed.body;
    const json body = listed.Json();  // the loop below must not range over a temporary
    for (const json& build : body["content"]["builds"]) {
      if (build["id"] != id) continue;
      last = build;
      if (build["state"] != "queued" && build["state"] != "running") return build;
    }
    std::this_thread::sleep_for(200ms);
  }
  FAIL("build " << id << " did not end: " << listing << "\n" << LogOf(client, id));
  return last;
}

std::string LogOf(TestClient& client, std::int64_t id) {
  Reply log = client.Get("/api/project/buildLog?id=" + std::to_string(id));
  REQUIRE(log.Code() == 10000);
  return log.Json()["content"]["text"].get<std::string>();
}

}  // namespace

TEST_CASE("git pushes from GitHub, GitLab and Gitea build the pushed commit", "[api][triggers]") {
  std::optional<std::string> registry = market::testing::RegistryHost();
  if (!registry) {
    WARN("MARKET_TEST_REGISTRY is not set: skipping the triggered builds");
    return;
  }
  Repository repo;
  TestServer server(market::testing::Backend::kSqlite, [&](ServerConfig& config) {
    config.registry_url = "http://" + *registry;
    config.registry_kind = "distribution";
    config.registry_insecure = true;
    config.source_allow_networks = "127.0.0.0/8";  // the git daemon
  });
  TestClient client(server.port());
  const std::string project = "trig" + std::to_string(std::random_device{}() % 1000000);
  json pipeline = json::array(
      {{{"$$plugin", "base_image_choose_from_harbor"},
        {"handleInput", *registry + "/base/busybox:latest"}},
       {{"$$plugin", "download_executable_source"},
        {"source_type", "git"},
        {"source_url", repo.Url()},
        {"ref", "main"},
        {"checkoutAs", "app"},
        {"containerPath", "/opt/app"}},
       {{"$$plugin", "run"}, {"value", json::array({"cat /opt/app/version.txt"})}}});
  Reply saved = client.PostJson("/api/project/save", {{"project", project},
                                                      {"addOrUpdate", "add"},
                                                      {"operator", "alice"},
                                                      {"$$plugin", pipeline}});
  INFO(saved.body);
  REQUIRE(saved.Code() == 10000);

  Reply made = client.PostJson("/api/triggers/new", {{"project", project},
                                                     {"name", "on-push"},
                                                     {"operator", "alice"},
                                                     {"secret", "It's a Secret to Everybody"}});
  INFO(made.body);
  REQUIRE(made.Code() == 10000);
  const json trigger = made.Json()["content"];
  const std::string hook = trigger["url"];
  CHECK(hook == "/api/trigger/" + std::to_string(trigger["id"].get<int>()));
  CHECK(trigger["secret"] == "It's a Secret to Everybody");  // answered once, at creation
  CHECK(client.Get("/api/triggers/get?id=" + std::to_string(trigger["id"].get<int>()))
            .Json()["content"]
            .contains("secret") == false);
  const std::string secret = "It's a Secret to Everybody";

  // GitHub: a push of A to main, while main's tip is already B.
  const std::string body_a = GitHubBody("refs/heads/main", repo.sha_a, repo.Url());
  Reply pushed = client.Send("POST", hook, body_a, "application/json",
                             GitHubHeaders(secret, body_a, "gh-delivery-1"));
  INFO(pushed.body);
  REQUIRE(pushed.status == 200);
  REQUIRE(pushed.Code() == 10000);
  json queued = pushed.Json()["content"]["build"];
  CHECK(pushed.Json()["content"]["duplicate"] == false);
  CHECK(queued["tag"] == repo.sha_a.substr(0, 7));
  CHECK(queued["extraTags"] == json::array({"latest"}));
  CHECK(queued["trigger"]["kind"] == "git-push");
  CHECK(queued["trigger"]["sha"] == repo.sha_a);
  CHECK(queued["trigger"]["delivery"] == "gh-delivery-1");

  // GitHub redelivers: the same build, nothing queued.
  Reply again = client.Send("POST", hook, body_a, "application/json",
                            GitHubHeaders(secret, body_a, "gh-delivery-1"));
  REQUIRE(again.Code() == 10000);
  CHECK(again.Json()["content"]["duplicate"] == true);
  CHECK(again.Json()["content"]["build"]["id"] == queued["id"]);

  json built = WaitBuild(client, queued["id"].get<std::int64_t>());
  INFO(LogOf(client, built["id"]));
  REQUIRE(built["state"] == "succeeded");
  std::string log = LogOf(client, built["id"]);
  CHECK_THAT(log, Catch::Contains("commit-A-contents"));
  CHECK_THAT(log, !Catch::Contains("commit-B-contents"));
  // Both tags are in the registry, on the same image.
  Reply tags = client.Get("/repositories/tags?repo_name=default_cluster/" + project);
  INFO(tags.body);
  REQUIRE(tags.status == 200);
  std::map<std::string, std::string> digests;
  const json tag_list = tags.Json();
  for (const json& tag : tag_list) digests[tag["name"]] = tag["digest"];
  CHECK(digests[repo.sha_a.substr(0, 7)] == built["digest"]);
  CHECK(digests["latest"] == built["digest"]);

  // GitLab: a push of B; the token header is the secret itself.
  json gitlab = {{"object_kind", "push"},
                 {"ref", "refs/heads/main"},
                 {"before", repo.sha_a},
                 {"after", repo.sha_b},
                 {"checkout_sha", repo.sha_b},
                 {"project",
                  {{"git_http_url", "http://127.0.0.1/unrelated.git"},
                   {"git_ssh_url", repo.Url()},
                   {"default_branch", "main"}}},
                 {"commits", json::array({{{"id", repo.sha_b}, {"message", "second"}}})}};
  Reply gl = client.Send("POST", hook, gitlab.dump(), "application/json",
                         {{"X-Gitlab-Event", "Push Hook"},
                          {"X-Gitlab-Token", secret},
                          {"X-Gitlab-Event-UUID", "gl-1"}});
  INFO(gl.body);
  REQUIRE(gl.Code() == 10000);
  json built_b = WaitBuild(client, gl.Json()["content"]["build"]["id"].get<std::int64_t>());
  REQUIRE(built_b["state"] == "succeeded");
  CHECK(built_b["tag"] == repo.sha_b.substr(0, 7));
  CHECK_THAT(LogOf(client, built_b["id"]), Catch::Contains("commit-B-contents"));

  // Gitea: tag v1 (at A), once the trigger builds tags, named by the tag.
  Reply updated = client.PostJson(
      "/api/triggers/update", {{"id", trigger["id"]},
                               {"operator", "alice"},
                               {"tags", "v[0-9]+"},
                               {"tagTemplates", json::array({"${tag}", "${branch}"})}});
  INFO(updated.body);
  REQUIRE(updated.Code() == 10000);
  CHECK(updated.Json()["content"]["tagTemplates"] == json::array({"${tag}", "${branch}"}));
  json gitea = {{"ref", "refs/tags/v1"},
                {"before", std::string(40, '0')},
                {"after", repo.sha_a},
                {"head_commit", {{"id", repo.sha_a}, {"message", "first"}}},
                {"repository", {{"clone_url", repo.Url()}, {"default_branch", "main"}}}};
  const std::string gitea_body = gitea.dump();
  Reply gt = client.Send("POST", hook, gitea_body, "application/json",
                         {{"X-Gitea-Event", "push"},
                          {"X-GitHub-Event", "push"},
                          {"X-Gitea-Delivery", "gt-1"},
                          {"X-Gitea-Signature", HmacSha256Hex(secret, gitea_body)}});
  INFO(gt.body);
  REQUIRE(gt.Code() == 10000);
  json built_tag = WaitBuild(client, gt.Json()["content"]["build"]["id"].get<std::int64_t>());
  REQUIRE(built_tag["state"] == "succeeded");
  CHECK(built_tag["tag"] == "v1");
  CHECK(built_tag["extraTags"].empty());  // ${branch} has no value on a tag push
  CHECK(built_tag["trigger"]["ref"] == "refs/tags/v1");
  // The checkout names the commit; the RUN step that prints the file may have come from the
  // layer cache (the same files were built before) and then prints nothing.
  CHECK_THAT(LogOf(client, built_tag["id"]), Catch::Contains("checked out commit " + repo.sha_a));

  // What the trigger received: four deliveries, each with the build it queued or found.
  Reply received = client.Get("/api/triggers/deliveries?id=" +
                              std::to_string(trigger["id"].get<int>()));
  INFO(received.body);
  REQUIRE(received.Code() == 10000);
  const json deliveries = received.Json()["content"];
  REQUIRE(deliveries.size() == 4);
  CHECK(deliveries[0]["host"] == "gitea");
  CHECK(deliveries[0]["deliveryId"] == "gt-1");
  CHECK(deliveries[0]["ref"] == "refs/tags/v1");
  CHECK(deliveries[0]["buildId"] == built_tag["id"]);
  CHECK(deliveries[1]["host"] == "gitlab");
  CHECK(deliveries[1]["sha"] == repo.sha_b);
  CHECK(deliveries[1]["outcome"] == "queued");
  CHECK(deliveries[2]["outcome"] == "duplicate");
  CHECK(deliveries[2]["buildId"] == queued["id"]);
  CHECK(deliveries[3]["deliveryId"] == "gh-delivery-1");
  CHECK(deliveries[3]["outcome"] == "queued");
  CHECK(deliveries[3]["buildId"] == queued["id"]);

  // The history says what triggered each build; a manual start builds the tip of a branch.
  Reply history = client.Get("/api/project/buildHistory?projectName=" + project);
  REQUIRE(history.Code() == 10000);
  const json history_body = history.Json();
  for (const json& build : history_body["content"]["builds"]) {
    CHECK(build["trigger"]["kind"] == "git-push");
  }
  Reply started = client.PostJson("/api/triggers/start",
                                  {{"id", trigger["id"]}, {"operator", "bob"}, {"ref", "main"}});
  INFO(started.body);
  REQUIRE(started.Code() == 10000);
  CHECK(started.Json()["content"]["trigger"]["kind"] == "start");
  json built_start = WaitBuild(client, started.Json()["content"]["id"].get<std::int64_t>());
  REQUIRE(built_start["state"] == "succeeded");
  CHECK_THAT(LogOf(client, built_start["id"]), Catch::Contains("checked out commit " + repo.sha_b));
}

TEST_CASE("the trigger URL refuses what a git host would not send", "[api][triggers]") {
  Repository repo;
  TestServer server(market::testing::Backend::kSqlite, [](ServerConfig& config) {
    config.registry_url = "http://127.0.0.1:9";  // never reached: nothing here builds
    config.registry_kind = "distribution";
    config.registry_insecure = true;
  });
  TestClient client(server.port());
  json pipeline = json::array(
      {{{"$$plugin", "base_image_choose_from_harbor"}, {"handleInput", "busybox:latest"}},
       {{"$$plugin", "download_executable_source"},
        {"source_type", "git"},
        {"source_url", repo.Url()},
        {"checkoutAs", "app"},
        {"containerPath", "/opt/app"}}});
  REQUIRE(client.PostJson("/api/project/save", {{"project", "web"},
                                                {"addOrUpdate", "add"},
                                                {"operator", "alice"},
                                                {"$$plugin", pipeline}})
              .Code() == 10000);
  Reply made = client.PostJson("/api/triggers/new",
                               {{"project", "web"}, {"name", "t"}, {"operator", "alice"}});
  REQUIRE(made.Code() == 10000);
  const json trigger = made.Json()["content"];
  const std::string secret = trigger["secret"];
  CHECK(secret.size() == 64);
  const std::string hook = trigger["url"];
  const std::string body = GitHubBody("refs/heads/main", repo.sha_a, repo.Url());

  // A forged signature, and none at all: 401, nothing queued.
  Reply forged = client.Send("POST", hook, body, "application/json",
                             GitHubHeaders("guessed", body, "d-1"));
  CHECK(forged.status == 401);
  CHECK(forged.Code() == 10018);
  CHECK_THAT(forged.Json()["errMsg"].get<std::string>(), Catch::Contains("X-Hub-Signature-256"));
  CHECK(client.Send("POST", hook, body, "application/json", {{"X-GitHub-Event", "push"}})
            .status == 401);
  // No trigger there: 404, the same for an id that does not exist and for a path that is none.
  for (const std::string& path : {"/api/trigger/99999", "/api/trigger/x", "/api/trigger/"}) {
    Reply missing = client.Send("POST", path, body, "application/json",
                                GitHubHeaders(secret, body, "d-1"));
    INFO(path);
    CHECK(missing.status == 404);
  }
  // A ping answers 200 and builds nothing.
  const std::string zen = R"({"zen": "Keep it logically awesome.", "hook_id": 1})";
  Reply ping = client.Send("POST", hook, zen, "application/json",
                           {{"X-GitHub-Event", "ping"},
                            {"X-Hub-Signature-256", "sha256=" + HmacSha256Hex(secret, zen)}});
  INFO(ping.body);
  CHECK(ping.status == 200);
  CHECK_THAT(ping.Json()["content"]["skipped"].get<std::string>(), Catch::Contains("ping"));
  CHECK(ping.Json()["content"]["build"].is_null());
  // A body that is not JSON, signed: 400 naming it.
  Reply garbage = client.Send("POST", hook, "[[[", "application/json",
                              GitHubHeaders(secret, "[[[", "d-2"));
  CHECK(garbage.status == 400);
  // A disabled trigger: 400 saying so.
  REQUIRE(client.PostJson("/api/triggers/update",
                          {{"id", trigger["id"]}, {"operator", "alice"}, {"enabled", false}})
              .Code() == 10000);
  Reply disabled = client.Send("POST", hook, body, "application/json",
                               GitHubHeaders(secret, body, "d-3"));
  CHECK(disabled.status == 400);
  CHECK_THAT(disabled.Json()["errMsg"].get<std::string>(), Catch::Contains("disabled"));
  // Nothing above queued a build.
  CHECK(client.Get("/api/builds").Json()["content"]["builds"].empty());
  // The trigger's record holds what came with its secret, newest first; the forged requests
  // and those to other URLs are not there.
  const std::string trigger_id = std::to_string(trigger["id"].get<int>());
  Reply received = client.Get("/api/triggers/deliveries?id=" + trigger_id);
  INFO(received.body);
  REQUIRE(received.Code() == 10000);
  const json deliveries = received.Json()["content"];
  REQUIRE(deliveries.size() == 3);
  CHECK(deliveries[0]["deliveryId"] == "d-3");
  CHECK(deliveries[0]["outcome"] == "refused");
  CHECK_THAT(deliveries[0]["reason"].get<std::string>(), Catch::Contains("disabled"));
  CHECK(deliveries[0]["buildId"].is_null());
  CHECK(deliveries[1]["outcome"] == "refused");  // the body that is not JSON
  CHECK(deliveries[1]["host"] == "github");
  CHECK(deliveries[2]["event"] == "ping");
  CHECK(deliveries[2]["outcome"] == "skipped");
  CHECK(deliveries[2]["triggerId"] == trigger["id"]);
  CHECK_FALSE(deliveries[2]["receivedAt"].get<std::string>().empty());
  CHECK(client.Get("/api/triggers/deliveries?id=99999").status == 404);
  Reply no_id = client.Get("/api/triggers/deliveries?id=x");
  CHECK(no_id.Code() == 10006);
  CHECK_THAT(no_id.Json()["errMsg"].get<std::string>(), Catch::Contains("id"));

  // Bad rules are refused naming the field; the list and delete work.
  Reply bad = client.PostJson("/api/triggers/new", {{"project", "web"},
                                                    {"name", "t2"},
                                                    {"operator", "alice"},
                                                    {"tagTemplates", "${nope}"}});
  CHECK(bad.Code() == 10006);
  CHECK_THAT(bad.Json()["errMsg"].get<std::string>(), Catch::Contains("tagTemplates"));
  Reply listed = client.Get("/api/triggers/list?project=web");
  REQUIRE(listed.Code() == 10000);
  REQUIRE(listed.Json()["content"].size() == 1);
  CHECK(listed.Json()["content"][0]["hasSecret"] == true);
  CHECK_FALSE(listed.Json()["content"][0].contains("secret"));
  REQUIRE(client.PostJson("/api/triggers/delete", {{"id", trigger["id"]}, {"operator", "alice"}})
              .Code() == 10000);
  CHECK(client.Send("POST", hook, body, "application/json", GitHubHeaders(secret, body, "d-4"))
            .status == 404);
}

TEST_CASE("with a rate limit, the trigger URL is limited by address like the API",
          "[api][triggers][limits]") {
  TestServer server(market::testing::Backend::kSqlite, [](ServerConfig& config) {
    config.rate_limit = 0.5;  // a token every 2 s
    config.rate_limit_burst = 3;
  });
  TestClient client(server.port());
  const std::string body = R"({"ref": "refs/heads/main", "sha": ")" + std::string(40, 'a') + "\"}";
  // Forged pushes to a trigger that does not exist: each costs a database read until the
  // address's bucket is empty, then 429 before any handler runs.
  int answered = 0;
  Reply limited;
  for (int i = 0; i < 6; ++i) {
    Reply reply = client.Send("POST", "/api/trigger/424242", body, "application/json",
                              {{"Authorization", "Bearer guess-" + std::to_string(i)}});
    if (reply.status == 429) {
      limited = reply;
      break;
    }
    CHECK(reply.status == 404);
    ++answered;
  }
  CHECK(answered == 3);
  REQUIRE(limited.status == 429);
  CHECK(limited.Code() == 10020);
  CHECK_FALSE(limited.Header("retry-after").empty());
  // Pages and probes are not the pool's work: still answered.
  for (int i = 0; i < 5; ++i) CHECK(client.Get("/healthz").status == 200);
}

}  // namespace market::server::testing
