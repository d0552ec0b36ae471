// HarborRegistry against FakeHarbor, which answers as Harbor's handlers do.
#include "harbor_registry.hpp"

#include <catch2/catch.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "base64.hpp"
#include "harbor_client/fake_harbor.hpp"
#include "harbor_client/fake_http_server.hpp"
#include "market/harbor_client/registry_factory.hpp"
#include "registry_http.hpp"

namespace market::harbor {
namespace {

using nlohmann::json;
using testing::FakeHttpServer;
using testing::FakeResponse;
using testing::RecordedRequest;

constexpr const char* kPassword = "Sup3r-secret";

using testing::FakeHarbor;
using testing::HarborAccount;
using Kind = HarborAccount::Kind;

RegistryPtr Connect(const std::string& url, std::string user = "admin",
                    std::string password = kPassword, int retries = 2) {
  RegistryConfig config;
  config.url = url;
  config.kind = RegistryKind::kHarbor;
  config.insecure = true;
  config.credentials = {std::move(user), std::move(password)};
  config.connect_timeout = std::chrono::milliseconds(1000);
  config.request_timeout = std::chrono::milliseconds(1000);
  config.max_retries = retries;
  auto registry = MakeRegistry(config);
  REQUIRE(registry);
  return std::move(*registry);
}

RegistryPtr Harbor(const FakeHttpServer& server) { return Connect(server.Url()); }
RegistryPtr Harbor(const FakeHarbor& harbor, std::string user = "admin",
                   std::string password = kPassword, int retries = 2) {
  return Connect(harbor.Url(), std::move(user), std::move(password), retries);
}

FakeResponse Json(const json& body, std::vector<std::pair<std::string, std::string>> headers = {},
                  int status = 200) {
  headers.emplace_back("Content-Type", "application/json");
  return FakeResponse{status, std::move(headers), body.dump()};
}

FakeResponse HarborError(int status, const std::string& code, const std::string& message) {
  return Json({{"errors", {{{"code", code}, {"message", message}}}}}, {}, status);
}

// An account for FakeHarbor (a function: GCC 12 warns of designated initializers that skip
// members).
HarborAccount Account(Kind kind, std::string name, std::string secret,
                      std::set<std::string> member_of = {}, std::string project = "",
                      bool can_create_project = false) {
  HarborAccount account;
  account.kind = kind;
  account.name = std::move(name);
  account.secret = std::move(secret);
  account.member_of = std::move(member_of);
  account.project = std::move(project);
  account.can_create_project = can_create_project;
  return account;
}

// A Harbor with its administrator, a developer who is a member of `team`, and `team` itself.
struct Site {
  FakeHarbor harbor;
  std::int64_t team = 0;
  Site() {
    harbor.AddAccount(Account(Kind::kAdmin, "admin", kPassword));
    harbor.AddAccount(Account(Kind::kUser, "dev", "dev-Pass-1", {"team"}));
    team = harbor.AddProject("team", false);
  }
};

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

const std::string kBasic = "Basic " + Base64Encode(std::string("admin:") + kPassword);

TEST_CASE("Harbor: projects page with X-Total-Count, name filter, basic auth, no cookies",
          "[harbor]") {
  FakeHarbor harbor;
  harbor.AddAccount(Account(Kind::kAdmin, "admin", kPassword));
  harbor.AddProject("aaa-base", false);
  harbor.AddProject("aab-base", true);
  harbor.AddProject("base", true, "2017-07-26T08:37:13.123456Z");
  harbor.AddProject("baseline", false);
  for (int i = 1; i <= 8; ++i) harbor.AddProject("zbase" + std::to_string(i), false);
  harbor.AddProject("other", false);
  for (int i = 1; i <= 4; ++i) harbor.Push("base/r" + std::to_string(i), {"1"});
  auto registry = Harbor(harbor);
  auto page = registry->ListProjects("base", {2, 2});
  REQUIRE(page);
  CHECK(page->total_count == 12);
  REQUIRE(page->items.size() == 2);
  const auto& p = page->items[0];
  CHECK(p.project_id == 3);
  CHECK(p.name == "base");
  CHECK(p.owner_id == 1);
  CHECK(p.repo_count == 4);
  CHECK(p.is_public);
  REQUIRE(p.creation_time);
  CHECK(FormatIso8601(*p.creation_time) == "2017-07-26T08:37:13.123Z");
  REQUIRE(p.update_time);
  CHECK(FormatIso8601(*p.update_time) == "2017-07-26T08:37:13.123Z");
  CHECK_FALSE(page->items[1].is_public);

  REQUIRE(registry->ListProjects("", {1, 100}));
  auto requests = harbor.Requests();
  REQUIRE(requests.size() == 3);
  CHECK(requests[0].target == "/v2/");  // the sign-in check, once
  CHECK(requests[1].target == "/api/v2.0/projects?page=2&page_size=2&sort=name&name=base");
  CHECK(requests[2].target == "/api/v2.0/projects?page=1&page_size=100&sort=name");
  for (const auto& r : requests) {
    CHECK(r.Header("authorization") == kBasic);
    CHECK(r.Header("cookie").empty());
  }
  CHECK(registry->ListProjects("", {1, 101}).error().code == Errc::kInvalid);
}

// Not Harbor's own answer (it always counts): a proxy in front of it that drops the header.
TEST_CASE("Harbor: without X-Total-Count the Link header tells there is more", "[harbor]") {
  FakeHttpServer server([](const RecordedRequest&) {
    return Json(json::array({{{"project_id", 1}, {"name", "a"}}}),
                {{"Link", R"(</api/v2.0/projects?page=2&page_size=1>; rel="next")"}});
  });
  auto page = Harbor(server)->ListProjects("", {1, 1});
  REQUIRE(page);
  CHECK(page->total_count == 2);
}

TEST_CASE("Harbor: q encoded for Harbor's second decoding, ',' refused", "[harbor]") {
  CHECK(HarborQuery("name", "~web").value() == "name%3D~web");
  CHECK(HarborQuery("tags", "*").value() == "tags%3D%2A");
  CHECK(HarborQuery("name", "~a+b%41 c").value() == "name%3D~a%252Bb%252541%20c");
  auto comma = HarborQuery("name", "~a,b");
  REQUIRE_FALSE(comma);
  CHECK(comma.error().code == Errc::kInvalid);
  CHECK(Contains(comma.error().message, "','"));
}

TEST_CASE("Harbor: repositories of a project id with q=name=~", "[harbor]") {
  Site site;
  site.harbor.Push("team/web", {"1"});
  site.harbor.Push("team/web/api", {"1"});
  site.harbor.Push("team/other", {"1"});
  auto registry = Harbor(site.harbor);
  auto repos = registry->ListRepositories(site.team, "web", {1, 10});
  REQUIRE(repos);
  CHECK(repos->total_count == 2);
  REQUIRE(repos->items.size() == 2);
  CHECK(repos->items[1].name == "team/web/api");
  auto requests = site.harbor.Requests();
  REQUIRE(requests.size() == 3);
  CHECK(requests[1].target == "/api/v2.0/projects?q=project_id%3D1&page=1&page_size=1");
  CHECK(requests[2].target ==
        "/api/v2.0/projects/team/repositories?page=1&page_size=10&sort=name&q=name%3D~web");

  auto missing = registry->ListRepositories(8, "", {1, 10});
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == Errc::kNotFound);
  CHECK(missing.error().message == "registry: project id 8 not found");

  // Decoded once more by Harbor, "%41" would be "A" and match every "team/..." name.
  auto literal = registry->ListRepositories(site.team, "%41", {1, 10});
  REQUIRE(literal);
  CHECK(literal->items.empty());
  auto plus = registry->ListRepositories(site.team, "web+", {1, 10});
  REQUIRE(plus);
  CHECK(plus->items.empty());
  auto comma = registry->ListRepositories(site.team, "web,api", {1, 10});
  REQUIRE_FALSE(comma);
  CHECK(comma.error().code == Errc::kInvalid);
  CHECK(site.harbor.Count("GET /api/v2.0/projects/team/repositories?") == 3);
}

TEST_CASE("Harbor: tags through artifacts sorted by id, repository encoded twice", "[harbor]") {
  Site site;
  const auto& old = site.harbor.Push("team/a/b", {"v1"}, "");  // no created: the push time
  const auto first = old;
  site.harbor.Push("team/a/b", {}, "2024-01-01T00:00:00Z");  // untagged: not listed
  const auto second = site.harbor.Push("team/a/b", {"v2", "latest"}, "2024-02-03T12:05:06+08:00");
  auto registry = Harbor(site.harbor);
  auto tags = registry->ListTags("team/a/b", {1, 2});
  REQUIRE(tags);
  CHECK(tags->total_count == 3);
  REQUIRE(tags->items.size() == 2);
  CHECK(tags->items[0].name == "latest");
  CHECK(tags->items[0].digest == second.digest);
  CHECK(tags->items[0].size == second.size);  // Harbor's: manifest + config + layers
  REQUIRE(tags->items[0].created);
  CHECK(FormatIso8601(*tags->items[0].created) == "2024-02-03T04:05:06.000Z");  // +08:00 kept
  CHECK(tags->items[1].name == "v1");
  CHECK(tags->items[1].digest == first.digest);
  REQUIRE(tags->items[1].created);
  CHECK(FormatIso8601(*tags->items[1].created) == "2024-03-01T00:00:01.000Z");
  const std::string path = "/api/v2.0/projects/team/repositories/a%252Fb/artifacts";
  CHECK(site.harbor.Count("GET " + path +
                          "?with_tag=true&q=tags%3D%2A%2Cid%3D%5B1~%5D&sort=id&page_size=100"
                          "&page=1") == 1);

  auto missing = registry->ListTags("team/none", {1, 10});  // Harbor: 200 []
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == Errc::kNotFound);
  CHECK(Contains(missing.error().message, "team/none"));
  CHECK(registry->ListTags("noproject", {1, 10}).error().code == Errc::kInvalid);
  site.harbor.Push("team/empty", {});
  auto untagged = registry->ListTags("team/empty", {1, 10});
  REQUIRE(untagged);
  CHECK(untagged->items.empty());
}

TEST_CASE("Harbor: a missing project is not found for admins and non-admins alike", "[harbor]") {
  Site site;
  site.harbor.AddProject("secret", false);
  site.harbor.Push("secret/app", {"1"});
  site.harbor.AddProject("pub", true);
  site.harbor.Push("pub/app", {"1"});
  site.harbor.AddAccount(
      Account(Kind::kProjectRobot, "robot$team+ci", "robot-Secret-1", {}, "team"));
  auto admin = Harbor(site.harbor);
  auto dev = Harbor(site.harbor, "dev", "dev-Pass-1");
  for (Registry* registry : {admin.get(), dev.get()}) {
    auto gone = registry->ListTags("gone/app", {1, 10});  // admin: 200 []; dev: 403
    REQUIRE_FALSE(gone);
    CHECK(gone.error().code == Errc::kNotFound);
    CHECK(Contains(gone.error().message, "repository gone/app not found"));
    CHECK(registry->DeleteTag("gone/app", "1", false).error().code == Errc::kNotFound);
  }
  CHECK(site.harbor.Count("GET /api/v2.0/projects/gone/repositories/app/artifacts") == 2);
  // A project the account may not see reads as missing too: Harbor says nothing more.
  CHECK(dev->ListTags("secret/app", {1, 10}).error().code == Errc::kNotFound);
  // A visible project the account may not change is forbidden, not missing.
  auto robot = Harbor(site.harbor, "robot$team+ci", "robot-Secret-1");
  auto forbidden = robot->DeleteTag("pub/app", "1", false);
  REQUIRE_FALSE(forbidden);
  CHECK(forbidden.error().code == Errc::kUpstreamFailed);
  CHECK(Contains(forbidden.error().message, "forbidden (403)"));
}

TEST_CASE("Harbor: tag pages read each artifact page once, across a push", "[harbor]") {
  Site site;
  std::vector<std::string> digests;
  for (int i = 0; i < 150; ++i) {
    char name[8];
    std::snprintf(name, sizeof name, "t%03d", i);
    digests.push_back(site.harbor.Push("team/app", {name}).digest);
  }
  std::string moved_digest;
  bool pushed = false;
  site.harbor.OnArtifactList([&](int call) {
    if (call == 2 && !pushed) {  // a push between the two pages moves t000 and adds "new"
      pushed = true;
      moved_digest = site.harbor.Push("team/app", {"t000", "new"}).digest;
    }
  });
  auto registry = Harbor(site.harbor);
  std::vector<RegistryTag> all;
  for (int page = 1; page <= 3; ++page) {  // as BaseImageList walks them
    auto tags = registry->ListTags("team/app", {page, 100});
    REQUIRE(tags);
    CHECK(tags->total_count == 151);
    all.insert(all.end(), tags->items.begin(), tags->items.end());
  }
  REQUIRE(all.size() == 151);
  std::set<std::string> names;
  for (const auto& t : all) names.insert(t.name);
  CHECK(names.size() == 151);
  CHECK(names.contains("new"));
  auto t000 = std::find_if(all.begin(), all.end(), [](auto& t) { return t.name == "t000"; });
  REQUIRE(t000 != all.end());
  CHECK(t000->digest == moved_digest);
  CHECK(site.harbor.Count("GET /api/v2.0/projects/team/repositories/app/artifacts") == 2);

  REQUIRE(registry->DeleteTag("team/app", "t001", false));  // forgets the reading
  auto after = registry->ListTags("team/app", {2, 100});
  REQUIRE(after);
  CHECK(after->total_count == 150);
  CHECK(site.harbor.Count("GET /api/v2.0/projects/team/repositories/app/artifacts") == 4);
}

TEST_CASE("Harbor: delete one tag, not the artifact, 404, 403, 412", "[harbor]") {
  Site site;
  site.harbor.Push("team/a/b", {"v1", "v1b"});
  site.harbor.Push("team/app", {"present", "locked"});
  site.harbor.MakeImmutable("team/app", "locked");
  site.harbor.AddProject("pub", true);
  site.harbor.Push("pub/app", {"other"});
  auto registry = Harbor(site.harbor);
  REQUIRE(registry->DeleteTag("team/a/b", "v1", false));
  CHECK(site.harbor.Requests().back().target ==
        "/api/v2.0/projects/team/repositories/a%252Fb/artifacts/v1/tags/v1");
  auto left = registry->ListTags("team/a/b", {1, 10});
  REQUIRE(left);
  REQUIRE(left->items.size() == 1);
  CHECK(left->items[0].name == "v1b");

  auto gone = registry->DeleteTag("team/app", "gone", false);
  REQUIRE_FALSE(gone);
  CHECK(gone.error().code == Errc::kNotFound);
  CHECK(gone.error().message == "registry: tag gone of repository team/app not found");

  auto forbidden = Harbor(site.harbor, "dev", "dev-Pass-1")->DeleteTag("pub/app", "other", true);
  REQUIRE_FALSE(forbidden);
  CHECK(forbidden.error().code == Errc::kUpstreamFailed);
  CHECK(forbidden.error().message.find("forbidden (403)") != std::string::npos);

  auto locked = registry->DeleteTag("team/app", "locked", false);
  REQUIRE_FALSE(locked);
  CHECK(locked.error().code == Errc::kRegistryUnsupported);
  CHECK(locked.error().message.find("immutable") != std::string::npos);
}

TEST_CASE("Harbor: delete an artifact by digest with all its tags, 404, 403, 412", "[harbor]") {
  Site site;
  const std::string shared = site.harbor.Push("team/a/b", {"v1", "v1b"}).digest;
  site.harbor.Push("team/a/b", {"v2"});
  const std::string locked = site.harbor.Push("team/app", {"locked", "other"}).digest;
  site.harbor.MakeImmutable("team/app", "locked");
  site.harbor.AddProject("pub", true);
  const std::string pub = site.harbor.Push("pub/app", {"x"}).digest;
  auto registry = Harbor(site.harbor);
  REQUIRE(registry->DeleteManifest("team/a/b", shared));
  CHECK(site.harbor.Requests().back().method == "DELETE");
  CHECK(site.harbor.Requests().back().target ==
        "/api/v2.0/projects/team/repositories/a%252Fb/artifacts/" + shared);
  auto left = registry->ListTags("team/a/b", {1, 10});
  REQUIRE(left);
  REQUIRE(left->items.size() == 1);
  CHECK(left->items[0].name == "v2");

  auto gone = registry->DeleteManifest("team/a/b", shared);
  REQUIRE_FALSE(gone);
  CHECK(gone.error().code == Errc::kNotFound);

  auto forbidden = Harbor(site.harbor, "dev", "dev-Pass-1")->DeleteManifest("pub/app", pub);
  REQUIRE_FALSE(forbidden);
  CHECK(forbidden.error().code == Errc::kUpstreamFailed);

  auto immutable = registry->DeleteManifest("team/app", locked);
  REQUIRE_FALSE(immutable);
  CHECK(immutable.error().code == Errc::kRegistryUnsupported);
  CHECK(registry->ListTags("team/app", {1, 10}).value().items.size() == 2);

  auto bad = registry->DeleteManifest("team/app", "not-a-digest");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == Errc::kInvalid);
  CHECK(bad.error().message.starts_with("digest: "));
}

TEST_CASE("Harbor: a tag's push time is Harbor's push_time", "[harbor]") {
  Site site;
  site.harbor.Push("team/app", {"v1"});
  auto tags = Harbor(site.harbor)->ListTags("team/app", {1, 10});
  REQUIRE(tags);
  REQUIRE(tags->items.size() == 1);
  CHECK(tags->items[0].pushed);
}

TEST_CASE("Harbor: EnsureProject checks, creates, and takes 409 as success", "[harbor]") {
  Site site;
  site.harbor.AddProject("hidden", false);
  auto registry = Harbor(site.harbor);
  REQUIRE(registry->EnsureProject("newproj"));
  auto requests = site.harbor.Requests();
  REQUIRE(requests.size() == 3);
  CHECK(requests[1].method == "GET");
  CHECK(requests[1].target == "/api/v2.0/projects?q=name%3Dnewproj&page=1&page_size=10");
  CHECK(requests[2].method == "POST");
  auto body = json::parse(requests[2].body);
  CHECK(body["project_name"] == "newproj");
  CHECK(requests[2].Header("content-type") == "application/json");

  // Not listed for dev, who is no member: the POST answers 409, which is what we wanted.
  REQUIRE(Harbor(site.harbor, "dev", "dev-Pass-1")->EnsureProject("hidden"));
  CHECK(site.harbor.Count("POST /api/v2.0/projects") == 2);

  REQUIRE(registry->EnsureProject("newproj"));  // exists: no POST
  CHECK(site.harbor.Count("POST /api/v2.0/projects") == 2);

  CHECK(registry->EnsureProject("a/b").error().code == Errc::kInvalid);
}

TEST_CASE("Harbor: creating a project names the account Harbor wants", "[harbor]") {
  Site site;
  site.harbor.AddAccount(
      Account(Kind::kProjectRobot, "robot$team+ci", "robot-Secret-1", {}, "team"));
  site.harbor.AddAccount(Account(Kind::kSystemRobot, "robot$market", "robot-Secret-2", {}, "",
                                 /*can_create_project=*/true));
  auto project_robot = Harbor(site.harbor, "robot$team+ci", "robot-Secret-1");
  REQUIRE(project_robot->EnsureProject("team"));  // its own project exists: nothing to create
  auto refused = project_robot->EnsureProject("cluster2");
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::kUpstreamFailed);
  CHECK(Contains(refused.error().message, "Only system level robot can create project"));
  CHECK(Contains(refused.error().message, "system robot account"));
  CHECK(Contains(refused.error().message, "Project: Create"));
  CHECK(Contains(refused.error().message, "The Harbor account"));
  CHECK_FALSE(Contains(refused.error().message, "robot-Secret-1"));

  site.harbor.SetAdminOnlyProjectCreation(true);
  auto user = Harbor(site.harbor, "dev", "dev-Pass-1")->EnsureProject("cluster3");
  REQUIRE_FALSE(user);
  CHECK(Contains(user.error().message, "Only system admin can create project"));
  CHECK(Contains(user.error().message, "project_creation_restriction=adminonly"));
  REQUIRE(Harbor(site.harbor, "robot$market", "robot-Secret-2")->EnsureProject("cluster3"));
}

TEST_CASE("Harbor: anonymous /v2/ reads go through the bearer token flow, tokens cached",
          "[harbor]") {
  FakeHarbor harbor;
  harbor.AddProject("team", true);
  const auto image = harbor.Push("team/app", {"v1"});
  auto registry = Harbor(harbor, "", "");
  auto first = registry->GetManifest("team/app", "v1");
  REQUIRE(first);
  CHECK(first->manifest_json == image.manifest);
  CHECK(first->digest == image.digest);
  CHECK(first->media_type == "application/vnd.docker.distribution.manifest.v2+json");
  CHECK(first->config_json == image.config);
  auto second = registry->GetManifest("team/app", "v1");
  REQUIRE(second);

  int token_requests = 0;
  for (const auto& r : harbor.Requests()) {
    if (r.target.starts_with("/service/token")) {
      ++token_requests;
      CHECK(r.target ==
            "/service/token?service=harbor-registry&scope=repository%3Ateam%2Fapp%3Apull");
    }
  }
  CHECK(token_requests == 1);
  auto requests = harbor.Requests();
  REQUIRE(requests.size() >= 4);
  // Harbor challenges with Bearer only a request without credentials (v2auth getChallenge).
  CHECK(requests[0].Header("authorization").empty());
  CHECK(requests[2].Header("authorization") == "Bearer token-1");      // the one retry
  CHECK(requests.back().Header("authorization") == "Bearer token-1");  // cached afterwards
  CHECK(requests.size() == 6);  // 401, token, manifest, blob; then manifest, blob
}

TEST_CASE("Harbor: with credentials /v2/ takes basic auth, no token", "[harbor]") {
  Site site;
  const auto image = site.harbor.Push("team/app", {"v1"});
  auto manifest = Harbor(site.harbor)->GetManifest("team/app", "v1");
  REQUIRE(manifest);
  CHECK(manifest->digest == image.digest);
  CHECK(site.harbor.Count("GET /service/token") == 0);
  CHECK(site.harbor.Requests().size() == 3);  // sign-in, manifest, config
}

TEST_CASE("Harbor: a manifest in a missing project is not found, not bad credentials", "[harbor]") {
  Site site;
  site.harbor.AddProject("secret", false);
  site.harbor.Push("secret/app", {"v1"});
  auto missing = Harbor(site.harbor)->GetManifest("nothere/app", "v1");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == Errc::kNotFound);
  CHECK(Contains(missing.error().message, "manifest nothere/app:v1 not found"));
  CHECK(Contains(missing.error().message, "project nothere not found"));

  // Basic realm="harbor" both for a wrong password and for no pull permission: say both.
  auto denied = Harbor(site.harbor, "dev", "dev-Pass-1")->GetManifest("secret/app", "v1");
  REQUIRE_FALSE(denied);
  CHECK(denied.error().code == Errc::kUpstreamFailed);
  CHECK(Contains(denied.error().message,
                 "unauthorized to access repository: secret/app, action: pull"));
  CHECK(Contains(denied.error().message, "without that permission"));
  CHECK_FALSE(Contains(denied.error().message, "rejected the credentials"));
}

TEST_CASE("Harbor: rejected credentials are an upstream failure without the password", "[harbor]") {
  Site site;
  site.harbor.AddProject("pub", true);
  auto registry = Harbor(site.harbor, "admin", "wrong-Password-123");
  auto result = registry->ListProjects("", {1, 10});
  REQUIRE_FALSE(result);
  CHECK(result.error().code == Errc::kUpstreamFailed);
  CHECK(result.error().message.find("registry rejected the credentials (401)") !=
        std::string::npos);
  CHECK(result.error().message.find("wrong-Password-123") == std::string::npos);
  CHECK(site.harbor.Count("GET /v2/") == 1);  // a 401 is not retried
  // Harbor would have answered the listing 200 with the public projects (anonymous fallback).
  CHECK(site.harbor.Count("GET /api/v2.0/projects") == 0);
  auto ping = registry->Ping();
  REQUIRE_FALSE(ping);
  CHECK(ping.error().code == Errc::kUpstreamFailed);
  CHECK(Contains(ping.error().message, "rejected the credentials (401)"));

  // What the wrong password would have seen: the public projects, as anyone does.
  auto anonymous = Harbor(site.harbor, "", "");
  REQUIRE(anonymous->Ping());
  auto listed = anonymous->ListProjects("", {1, 10});
  REQUIRE(listed);
  REQUIRE(listed->items.size() == 1);
  CHECK(listed->items[0].name == "pub");
}

TEST_CASE("Harbor: an error page that echoes the Authorization header shows neither form of it",
          "[harbor]") {
  Site site;
  // A proxy's or registry's error body may repeat the request's headers.
  site.harbor.FailNext("GET /api/v2.0/projects?page", 100,
                       HarborError(500, "INTERNAL", "failed request had Authorization: " + kBasic +
                                                        " (password " + kPassword + ")"));
  auto registry = Harbor(site.harbor, "admin", kPassword, 0);
  auto result = registry->ListProjects("", {1, 10});
  REQUIRE_FALSE(result);
  const std::string& message = result.error().message;
  CHECK(message == "registry: listing projects failed: HTTP 500: INTERNAL failed request had "
                   "Authorization: Basic *** (password ***)");
  CHECK_FALSE(Contains(message, Base64Encode(std::string("admin:") + kPassword)));
  CHECK_FALSE(Contains(message, kPassword));
}

TEST_CASE("Harbor: Ping and every call work for a robot and for an OIDC CLI secret", "[harbor]") {
  Site site;
  site.harbor.SetOidcMode(true);
  site.harbor.AddAccount(Account(Kind::kOidcUser, "alice", "cli-Secret-9", {"team"}));
  site.harbor.AddAccount(Account(Kind::kSystemRobot, "robot$market", "robot-Secret-2", {}, "",
                                 /*can_create_project=*/true));
  site.harbor.Push("team/app", {"v1", "v2"});
  for (auto [user, secret] :
       {std::pair{"alice", "cli-Secret-9"}, std::pair{"robot$market", "robot-Secret-2"}}) {
    INFO(user);
    auto registry = Harbor(site.harbor, user, secret);
    REQUIRE(registry->Ping());
    auto projects = registry->ListProjects("", {1, 10});
    REQUIRE(projects);
    CHECK(std::any_of(projects->items.begin(), projects->items.end(),
                      [](const RegistryProject& p) { return p.name == "team"; }));
    auto repos = registry->ListRepositories(site.team, "", {1, 10});
    REQUIRE(repos);
    REQUIRE(repos->items.size() == 1);
    auto tags = registry->ListTags("team/app", {1, 10});
    REQUIRE(tags);
    CHECK(tags->items.size() >= 1);
    REQUIRE(registry->GetManifest("team/app", "v1"));
    REQUIRE(registry->EnsureProject("team"));
    REQUIRE(registry->EnsureProject(std::string(user) == "alice" ? "alice-new" : "robot-new"));
  }
  REQUIRE(Harbor(site.harbor, "alice", "cli-Secret-9")->DeleteTag("team/app", "v2", false));
  // Harbor runs a CLI secret anonymous off oidc_cli.go's list: the adapter stays on it.
  for (const auto& r : site.harbor.Requests()) {
    INFO(r.method << " " << r.target);
    CHECK(r.method != "HEAD");
    CHECK_FALSE(std::regex_match(r.target, std::regex("/api/v2.0/projects/[0-9]+.*")));
  }
  // A wrong CLI secret signs in nowhere.
  CHECK(Harbor(site.harbor, "alice", "wrong-Secret")->Ping().error().code == Errc::kUpstreamFailed);
}

TEST_CASE("Harbor: 5xx retried for GET with backoff, never for POST", "[harbor]") {
  Site site;
  const auto restarting = HarborError(503, "SERVICE_UNAVAILABLE", "core is restarting");
  site.harbor.FailNext("GET /api/v2.0/projects?page", 2, restarting);
  auto registry = Harbor(site.harbor, "admin", kPassword, 2);
  auto ok = registry->ListProjects("", {1, 10});
  REQUIRE(ok);
  CHECK(ok->total_count == 1);
  CHECK(site.harbor.Count("GET /api/v2.0/projects?page") == 3);

  site.harbor.FailNext("GET /api/v2.0/projects?page", 100, restarting);
  auto exhausted = registry->ListProjects("", {1, 10});
  REQUIRE_FALSE(exhausted);
  CHECK(exhausted.error().code == Errc::kUpstreamFailed);
  CHECK(exhausted.error().message ==
        "registry: listing projects failed: HTTP 503: SERVICE_UNAVAILABLE core is restarting");
  CHECK(site.harbor.Count("GET /api/v2.0/projects?page") == 6);

  site.harbor.FailNext("POST /api/v2.0/projects", 100, restarting);
  auto create = registry->EnsureProject("p");
  REQUIRE_FALSE(create);
  CHECK(create.error().message.find("HTTP 503") != std::string::npos);
  CHECK(site.harbor.Count("POST ") == 1);
}

TEST_CASE("Harbor: a slow answer is kUpstreamTimeout within the configured timeout", "[harbor]") {
  Site site;
  site.harbor.SetDelay(std::chrono::milliseconds(20000));
  auto registry = Harbor(site.harbor);
  const auto start = std::chrono::steady_clock::now();
  auto result = registry->ListProjects("", {1, 10});
  const auto waited = std::chrono::steady_clock::now() - start;
  REQUIRE_FALSE(result);
  CHECK(result.error().code == Errc::kUpstreamTimeout);
  CHECK(result.error().message.find("did not answer within 1000 ms") != std::string::npos);
  // Bounded by the timeout, far below the server's delay (not a speed measurement).
  CHECK(waited < std::chrono::seconds(10));
}

}  // namespace
}  // namespace market::harbor
