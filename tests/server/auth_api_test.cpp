// Authentication over HTTP: roles per route, tokens, the operator rule, the audit log, the rate
// limit, and the open loopback mode when authentication is off.

#include <catch2/catch.hpp>

#include <cstring>
#include <fstream>
#include <iterator>
#include <thread>

#include <sodium.h>

#include "api.hpp"
#include "auth.hpp"
#include "routes.hpp"
#include "server_harness.hpp"
#include "sha256.hpp"

namespace market::server::testing {
namespace {

using market::testing::Backend;
using json = nlohmann::json;

const AuditActor kSetup{"test-setup", "", ""};
const TimePoint kT0{std::chrono::milliseconds{1'790'000'000'000}};

std::string Basic(const std::string& user, const std::string& password) {
  return BasicAuthorization(user, password);
}

// One user per role (password = name + "-pass-123"), and a token for the developer.
struct People {
  std::string dev_token;
  std::int64_t dev_token_id = 0;
};

void AddPeople(Stores& stores, People& people) {
  for (auto [name, role] : {std::pair{"vera", Role::kViewer}, std::pair{"dave", Role::kDeveloper},
                            std::pair{"ada", Role::kAdmin}}) {
    auto hash = HashPassword(std::string(name) + "-pass-123");
    REQUIRE(hash);
    REQUIRE(stores.identity->AddUser(name, role, *hash, kSetup, kT0));
  }
  auto token = GenerateToken();
  REQUIRE(token);
  auto added = stores.identity->AddToken("dave", "ci", token->prefix, token->digest, kSetup, kT0);
  REQUIRE(added);
  people.dev_token = token->secret;
  people.dev_token_id = added->id;
}

Headers As(const std::string& name) {
  return {{"Authorization", Basic(name, name + "-pass-123")}};
}

void AuthOn(ServerConfig& config) {
  config.auth = true;
  config.auth_cache_ttl = std::chrono::seconds(0);  // every change is seen at once
}

// Verified credentials cached: argon2id is paid once per user, not per request.
void AuthOnCached(ServerConfig& config) { config.auth = true; }

Backend PickBackend() { return GENERATE(from_range(market::testing::AvailableBackends())); }

std::string ReadAll(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

TEST_CASE("every route asks for its role: viewer reads, developer edits, admin deletes",
          "[http][auth]") {
  // On PostgreSQL, info and list of a remembered caller are answered on the I/O thread.
  Backend backend = PickBackend();
  INFO("backend " << market::testing::ToString(backend));
  People people;
  TestServer server(backend, AuthOnCached, [&](Stores& s) { AddPeople(s, people); });
  Api unused{ApiDependencies{}};  // only to read the route table; never called
  std::vector<Route> routes = MakeRoutes(unused);
  std::map<std::string, Role> roles = {
      {"vera", Role::kViewer}, {"dave", Role::kDeveloper}, {"ada", Role::kAdmin}};
  int checked = 0;
  for (const Route& route : routes) {
    if (route.access == Access::kPublic) continue;
    Role least = *route.access.MinimumRole();
    // The bodies are empty: a permitted call fails later, on its parameters, never with 401/403.
    std::string target = route.prefix ? route.path + "x" : route.path;
    INFO(http::to_string(route.method) << " " << target);
    TestClient client(server.port());
    Reply anonymous = client.Request(route.method, target);
    CHECK(anonymous.status == 401);
    CHECK(anonymous.Code() == 10018);
    for (const auto& [name, role] : roles) {
      INFO("as " << name);
      Reply reply = client.Request(route.method, target, "", "", As(name));
      bool allowed = role >= least;
      if (allowed) {
        CHECK(reply.status != 401);
        CHECK(reply.status != 403);
      } else {
        CHECK(reply.status == 403);
        CHECK(reply.Code() == 10019);
      }
      ++checked;
    }
  }
  CHECK(checked >= 3 * 20);

  // The same rule on real changes.
  TestClient client(server.port());
  CHECK(client.PostJson("/api/project/new", {{"projectName", "web"}}, As("vera")).status == 403);
  REQUIRE(client.PostJson("/api/project/new", {{"projectName", "web"}}, As("dave")).Code() ==
          10000);
  CHECK(client.Get("/api/project/info?projectName=web", As("vera")).Code() == 10000);
  Reply no_delete = client.PostJson("/api/project/delete", {{"projectName", "web"}}, As("dave"));
  CHECK(no_delete.status == 403);
  CHECK_THAT(no_delete.Json()["errMsg"].get<std::string>(), Catch::Contains("admin"));
  CHECK(client.PostJson("/api/project/delete", {{"projectName", "web"}}, As("ada")).Code() ==
        10000);
  // Probes and the page's files stay open; whoami tells the page who is logged in.
  CHECK(client.Get("/healthz").status == 200);
  CHECK(client.Get("/static/app.js").status == 200);
  Reply me = client.Get("/api/whoami", As("dave"));
  CHECK(me.Json()["content"]["name"] == "dave");
  CHECK(me.Json()["content"]["role"] == "developer");
}

TEST_CASE("a wrong password is 401, only a client that sent Basic gets a Basic challenge",
          "[http][auth]") {
  People people;
  TestServer server(Backend::kSqlite, AuthOn, [&](Stores& s) { AddPeople(s, people); });
  TestClient client(server.port());
  Reply wrong = client.Get("/api/project/list", {{"Authorization", Basic("dave", "nope-nope")}});
  CHECK(wrong.status == 401);
  CHECK_THAT(wrong.Header("www-authenticate"), Catch::StartsWith("Basic"));
  // No credentials (a browser following a link): a challenge no browser answers with a dialog.
  Reply anonymous = client.Get("/api/project/list");
  CHECK(anonymous.status == 401);
  CHECK_THAT(anonymous.Header("www-authenticate"), Catch::StartsWith("Bearer"));
  Reply script = client.Get("/api/project/list", {{"X-Requested-With", "XMLHttpRequest"}});
  CHECK(script.status == 401);
  CHECK_THAT(script.Header("www-authenticate"), Catch::StartsWith("Bearer"));
  // A bare user name is not a credential once authentication is on.
  CHECK(client.Get("/api/project/list", {{"Authorization", "dave"}}).status == 401);
}

TEST_CASE("bearer tokens work until revoked, only their digest is stored", "[http][auth]") {
  Backend backend = PickBackend();
  INFO("backend " << market::testing::ToString(backend));
  People people;
  TestServer server(backend, AuthOn, [&](Stores& s) { AddPeople(s, people); });
  Headers bearer = {{"Authorization", "Bearer " + people.dev_token}};
  TestClient client(server.port());
  REQUIRE(client.PostJson("/api/project/new", {{"projectName", "api"}}, bearer).Code() == 10000);
  CHECK(client.Get("/api/project/info?projectName=api", bearer).Json()["content"]["creator"] ==
        "dave");
  CHECK(client.Get("/api/project/list", {{"Authorization", "Bearer mkt_not-a-real-token"}})
            .status == 401);
  CHECK(client.Get("/api/project/list", {{"Authorization", "Bearer " + people.dev_token + "x"}})
            .status == 401);

  if (backend == Backend::kSqlite) {
    // The database files hold the digest, never the token.
    std::string path = server.database().url().substr(std::string("sqlite:").size());
    std::string bytes = ReadAll(path) + ReadAll(path + "-wal");
    CHECK(bytes.find(people.dev_token) == std::string::npos);
    CHECK(bytes.find(people.dev_token.substr(12)) == std::string::npos);
    CHECK(bytes.find(Sha256Hex(people.dev_token)) != std::string::npos);
  }

  auto stores = server.database().Open(1);
  REQUIRE(stores);
  REQUIRE(stores->identity->RevokeToken(people.dev_token_id, kSetup, kT0));
  Reply revoked = client.Get("/api/project/list", bearer);
  CHECK(revoked.status == 401);
  CHECK(revoked.Code() == 10018);

  // A deleted user's password stops working too.
  CHECK(client.Get("/api/project/list", As("vera")).status == 200);
  REQUIRE(stores->identity->DeleteUser("vera", kSetup, kT0));
  CHECK(client.Get("/api/project/list", As("vera")).status == 401);
}

TEST_CASE("the operator is the authenticated user, only an admin may name another",
          "[http][auth][audit]") {
  Backend backend = PickBackend();
  INFO("backend " << market::testing::ToString(backend));
  People people;
  TestServer server(backend, AuthOn, [&](Stores& s) { AddPeople(s, people); });
  TestClient client(server.port());

  Reply spoof = client.PostJson("/api/project/new", {{"projectName", "p1"}, {"operator", "ada"}},
                                As("dave"));
  CHECK(spoof.status == 403);
  CHECK(spoof.Code() == 10019);
  CHECK(client.Get("/api/project/info?projectName=p1", As("dave")).status == 404);
  // Naming oneself is fine.
  REQUIRE(client.PostJson("/api/project/new", {{"projectName", "p1"}, {"operator", "dave"}},
                          As("dave"))
              .Code() == 10000);

  // An admin acts for someone: the change records that operator, the audit both.
  REQUIRE(client.PostJson("/api/project/new", {{"projectName", "p2"}, {"operator", "carol"}},
                          As("ada"))
              .Code() == 10000);
  json info = client.Get("/api/project/info?projectName=p2", As("vera")).Json()["content"];
  CHECK(info["creator"] == "carol");
  Reply audit = client.Get("/api/audit?target=project%3Ap2", As("ada"));
  REQUIRE(audit.Code() == 10000);
  REQUIRE(audit.Json()["content"].size() == 1);
  json entry = audit.Json()["content"][0];
  CHECK(entry["actor"] == "ada");
  CHECK(entry["onBehalfOf"] == "carol");
  CHECK(entry["action"] == "project.new");
  CHECK(entry["before"].is_null());
  CHECK(entry["after"]["creator"] == "carol");
  CHECK_FALSE(entry["requestId"].get<std::string>().empty());
  // The audit is for admins.
  CHECK(client.Get("/api/audit", As("dave")).status == 403);
}

TEST_CASE("every change is audited with before and after, secrets redacted",
          "[http][auth][audit]") {
  Backend backend = PickBackend();
  INFO("backend " << market::testing::ToString(backend));
  People people;
  TestServer server(backend, AuthOn, [&](Stores& s) { AddPeople(s, people); });
  TestClient client(server.port());
  const std::string secret = "hunter2-very-secret";
  json save = {
      {"projectName", "web"},
      {"DefineDockerFileType", "tool"},
      {"$$plugin",
       json::array({{{"$$plugin", "base_image_choose_from_harbor"},
                     {"handleInput", "127.0.0.1:5000/base/busybox:1"}},
                    {{"$$plugin", "download_executable_source"},
                     {"source_type", "git"},
                     {"source_url", "https://git.example.com/a.git"},
                     {"checkoutAs", "a"},
                     {"containerPath", "/a"},
                     {"password", secret}}})}};
  Headers dave = As("dave");
  dave["X-Request-Id"] = "req-save-1";
  REQUIRE(client.PostJson("/api/project/save", save, dave).Code() == 10000);
  save["$$plugin"][0]["handleInput"] = "127.0.0.1:5000/base/busybox:2";
  REQUIRE(client.PostJson("/api/project/save", save, As("dave")).Code() == 10000);
  REQUIRE(client.PostJson("/api/project/clone",
                          {{"srcProjectName", "web"}, {"dstProjectName", "web2"}}, As("dave"))
              .Code() == 10000);
  REQUIRE(client.PostJson("/api/project/delete", {{"projectName", "web2"}}, As("ada")).Code() ==
          10000);

  Reply everything = client.Get("/api/audit?page_size=100", As("ada"));
  REQUIRE(everything.Code() == 10000);
  CHECK(everything.body.find(secret) == std::string::npos);
  // The set-up's three users and one token, then the four project changes.
  CHECK(everything.Json()["total_count"] == 8);
  Reply all = client.Get("/api/audit?page_size=4", As("ada"));
  json entries = all.Json()["content"];
  REQUIRE(entries.size() == 4);  // newest first
  CHECK(entries[3]["action"] == "project.save");
  CHECK(entries[3]["requestId"] == "req-save-1");
  CHECK(entries[3]["before"].is_null());
  CHECK(entries[2]["action"] == "project.save");
  CHECK(entries[2]["before"]["plugins"][0]["handleInput"] == "127.0.0.1:5000/base/busybox:1");
  CHECK(entries[2]["after"]["plugins"][0]["handleInput"] == "127.0.0.1:5000/base/busybox:2");
  CHECK(entries[2]["after"]["plugins"][1]["password"] == "******");
  CHECK(entries[2]["actor"] == "dave");
  CHECK(entries[2]["onBehalfOf"] == "");
  CHECK(entries[1]["action"] == "project.clone");
  CHECK(entries[1]["after"]["clonedFrom"] == "web");
  CHECK(entries[0]["action"] == "project.delete");
  CHECK(entries[0]["target"] == "project:web2");
  CHECK(entries[0]["before"]["name"] == "web2");
  CHECK(entries[0]["after"].is_null());

  Reply by_target = client.Get("/api/audit?target=project%3Aweb", As("ada"));
  CHECK(by_target.Json()["total_count"] == 2);
  Reply by_actor = client.Get("/api/audit?actor=ada", As("ada"));
  CHECK(by_actor.Json()["total_count"] == 1);
  Reply page3 = client.Get("/api/audit?page=3&page_size=3", As("ada"));
  CHECK(page3.Json()["content"].size() == 2);
  CHECK(page3.Json()["content"][1]["action"] == "user.add");
  CHECK(client.Get("/api/audit?page_size=101", As("ada")).Code() == 10006);
}

TEST_CASE("the rate limit answers 429 with Retry-After, per client, then recovers",
          "[http][limits]") {
  // On PostgreSQL the cached caller's list is answered on the I/O thread: limited there too.
  Backend backend = PickBackend();
  INFO("backend " << market::testing::ToString(backend));
  People people;
  TestServer server(
      backend,
      [](ServerConfig& config) {
        AuthOnCached(config);
        config.rate_limit = 0.5;  // a token every 2 s
        config.rate_limit_burst = 2;
      },
      [&](Stores& s) { AddPeople(s, people); });
  TestClient client(server.port());
  CHECK(client.Get("/api/project/list", As("dave")).status == 200);
  CHECK(client.Get("/api/project/list", As("dave")).status == 200);
  Reply limited = client.Get("/api/project/list", As("dave"));
  REQUIRE(limited.status == 429);
  CHECK(limited.Code() == 10020);
  int retry_after = std::stoi(limited.Header("retry-after"));
  CHECK(retry_after >= 1);
  CHECK(retry_after <= 2);
  // Another user has a bucket of its own; probes are never limited.
  CHECK(client.Get("/api/project/list", As("vera")).status == 200);
  for (int i = 0; i < 5; ++i) CHECK(client.Get("/healthz").status == 200);
  std::this_thread::sleep_for(std::chrono::seconds(retry_after) + std::chrono::milliseconds(50));
  CHECK(client.Get("/api/project/list", As("dave")).status == 200);
}

TEST_CASE("without authentication, loopback stays open and limits go by address",
          "[http][auth][limits]") {
  TestServer server(Backend::kSqlite, [](ServerConfig& config) {
    config.rate_limit = 0.5;
    config.rate_limit_burst = 3;
  });
  TestClient client(server.port());
  // The original's client names the operator with a bare Authorization header.
  REQUIRE(client.PostJson("/api/project/new", {{"projectName", "open"}},
                          {{"Authorization", "formuser"}})
              .Code() == 10000);
  Reply info = client.Get("/api/project/info?projectName=open", {{"Authorization", "x y"}});
  CHECK(info.Json()["content"]["creator"] == "formuser");
  Reply me = client.Get("/api/whoami");
  CHECK(me.Json()["content"]["authentication"] == false);
  CHECK(me.Json()["content"]["registry"].is_null());  // this server has no registry
  Reply limited = client.Get("/api/project/list");
  CHECK(limited.status == 429);
  CHECK_FALSE(limited.Header("retry-after").empty());
}

TEST_CASE("a users file still works beside the database", "[http][auth]") {
  market::testing::TempDir dir;
  std::string users = (dir.path() / "users").string();
  auto hash = HashPassword("file-pass-123");
  REQUIRE(hash);
  std::ofstream(users) << "# users\nfiona:" << *hash << ":viewer\nfred:" << *hash << "\n";
  TestServer server(Backend::kSqlite, [&](ServerConfig& config) {
    AuthOn(config);
    config.auth_users_file = users;
  });
  TestClient client(server.port());
  Headers fiona = {{"Authorization", Basic("fiona", "file-pass-123")}};
  Headers fred = {{"Authorization", Basic("fred", "file-pass-123")}};
  CHECK(client.Get("/api/project/list", fiona).status == 200);
  CHECK(client.PostJson("/api/project/new", {{"projectName", "f"}}, fiona).status == 403);
  CHECK(client.PostJson("/api/project/new", {{"projectName", "f"}}, fred).Code() == 10000);
}

TEST_CASE("with authentication on, the configuration page does not tell whether a project exists",
          "[http][auth]") {
  People people;
  TestServer server(Backend::kSqlite, AuthOn, [&](Stores& s) { AddPeople(s, people); });
  TestClient client(server.port());
  REQUIRE(client.PostJson("/api/project/new", {{"projectName", "real"}}, As("dave")).Code() ==
          10000);
  // The page is public: a known and an unknown project get the same answer, signed in or not.
  for (const std::string name : {"real", "nosuch"}) {
    INFO(name);
    Reply page = client.Get("/view/config/independent?projectName=" + name);
    CHECK(page.status == 200);
    CHECK_THAT(page.Header("content-type"), Catch::StartsWith("text/html"));
    CHECK_THAT(page.body, Catch::Contains(name));
  }
  // The page's script learns it from the API, with credentials.
  Reply info = client.Get("/api/project/info?projectName=nosuch", As("vera"));
  CHECK(info.status == 404);
  CHECK(info.Code() == 10008);
  // A name that is not a name is refused whatever the authentication.
  CHECK(client.Get("/view/config/independent?projectName=No%20Name").status == 400);
}

}  // namespace market::server::testing

namespace market::server::testing {

TEST_CASE("a trigger's URL answers git hosts without a session when authentication is on",
          "[http][auth][triggers]") {
  People people;
  TestServer server(Backend::kSqlite, AuthOn, [&](Stores& stores) { AddPeople(stores, people); });
  TestClient client(server.port());
  REQUIRE(client.PostJson("/api/project/new", {{"projectName", "web"}}, As("dave")).Code() ==
          10000);
  // Managing triggers is a developer's: a viewer is refused, a developer creates.
  CHECK(client.PostJson("/api/triggers/new", {{"project", "web"}, {"name", "t"}}, As("vera"))
            .status == 403);
  Reply made = client.PostJson("/api/triggers/new",
                               {{"project", "web"}, {"name", "t"}, {"secret", "s3cret-for-git"}},
                               As("dave"));
  INFO(made.body);
  REQUIRE(made.Code() == 10000);
  CHECK(made.Json()["content"]["creator"] == "dave");
  const std::string hook = made.Json()["content"]["url"];
  const std::string body =
      R"({"ref": "refs/heads/main", "sha": "4b825dc642cb6eb9a060e54bf8d69288fbee4904"})";

  // No session, no token: the trigger's own secret is the credential, and it passes (the
  // empty project cannot be built, which is what the answer says).
  Reply passed = client.Send("POST", hook, body, "application/json",
                             {{"Authorization", "Bearer s3cret-for-git"}});
  INFO(passed.body);
  CHECK(passed.status == 400);
  CHECK_THAT(passed.Json()["errMsg"].get<std::string>(), Catch::Contains("project web cannot be built"));
  // A user's API token is no trigger secret: the trigger refuses it as it refuses a guess.
  for (const std::string& bearer : {people.dev_token, std::string("guess")}) {
    Reply refused = client.Send("POST", hook, body, "application/json",
                                {{"Authorization", "Bearer " + bearer}});
    CHECK(refused.status == 401);
    CHECK_THAT(refused.Json()["errMsg"].get<std::string>(),
               Catch::Contains("Authorization (Bearer)"));
  }
  // The management routes still ask for a session or token.
  CHECK(client.Get("/api/triggers/list?project=web").status == 401);
}

}  // namespace market::server::testing
