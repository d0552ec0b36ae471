// The console's sign-in session (an HttpOnly SameSite=Strict cookie) and the admin API for
// users, tokens and the audit's filters, against the real server; the attacks on the cookie
// are performed as another page would.

#include <catch2/catch.hpp>

#include <string>

#include "auth.hpp"
#include "server_harness.hpp"

namespace market::server::testing {
namespace {

using market::testing::Backend;
using json = nlohmann::json;

const AuditActor kSetup{"test-setup", "", ""};
const TimePoint kT0{std::chrono::milliseconds{1'790'000'000'000}};

void AddUser(Stores& stores, const std::string& name, Role role) {
  auto hash = HashPassword(name + "-pass-123");
  REQUIRE(hash);
  REQUIRE(stores.identity->AddUser(name, role, *hash, kSetup, kT0));
}

// An admin and a viewer; verified credentials are cached (the default), so every change below
// must apply at once through the admin API, not by the cache expiring.
TestServer StartServer(Backend backend = Backend::kSqlite) {
  return TestServer(
      backend, [](ServerConfig& config) { config.auth = true; },
      [](Stores& stores) {
        AddUser(stores, "ada", Role::kAdmin);
        AddUser(stores, "vera", Role::kViewer);
      });
}

Headers As(const std::string& name, const std::string& password = "") {
  return {{"Authorization",
           BasicAuthorization(name, password.empty() ? name + "-pass-123" : password)}};
}

// What the console's page sends: the cookie, and the Origin of the page it came from (the
// server it is sent to, as Host names it).
Headers Page(const std::string& cookie, std::uint16_t port) {
  std::string host = "127.0.0.1:" + std::to_string(port);
  return {{"Cookie", cookie}, {"Host", host}, {"Origin", "http://" + host}};
}

// "market_session=mks_..." from a sign-in's Set-Cookie; empty when there is none.
std::string CookieOf(const Reply& reply) {
  std::string set = reply.Header("set-cookie");
  return set.substr(0, set.find(';'));
}

std::string SignIn(TestClient& client, const std::string& name,
                   const std::string& password = "") {
  Reply reply = client.Send("POST", "/api/session/new", "", "", As(name, password));
  REQUIRE(reply.Code() == 10000);
  std::string cookie = CookieOf(reply);
  REQUIRE(cookie.starts_with("market_session=mks_"));
  return cookie;
}

json Content(const Reply& reply) { return reply.Json()["content"]; }

}  // namespace

TEST_CASE("a sign-in sets an HttpOnly SameSite=Strict session cookie, sign-out ends it",
          "[http][auth][session]") {
  TestServer server = StartServer();
  TestClient client(server.port());
  Reply signed_in = client.Send("POST", "/api/session/new", "", "", As("vera"));
  REQUIRE(signed_in.Code() == 10000);
  CHECK(Content(signed_in)["name"] == "vera");
  CHECK(Content(signed_in)["role"] == "viewer");
  std::string set_cookie = signed_in.Header("set-cookie");
  CHECK_THAT(set_cookie, Catch::Contains("HttpOnly"));
  CHECK_THAT(set_cookie, Catch::Contains("SameSite=Strict"));
  CHECK_THAT(set_cookie, Catch::Contains("Path=/"));
  CHECK_THAT(set_cookie, Catch::Contains("Max-Age=43200"));
  CHECK_THAT(set_cookie, !Catch::Contains("Secure"));  // plain HTTP: a Secure cookie is dropped
  CHECK(signed_in.Header("cache-control") == "no-store");
  CHECK(signed_in.body.find("mks_") == std::string::npos);  // the secret is in the cookie only
  std::string cookie = CookieOf(signed_in);

  Reply me = client.Get("/api/whoami", {{"Cookie", "theme=dark; " + cookie + "; lang=zh"}});
  REQUIRE(me.Code() == 10000);
  CHECK(Content(me)["name"] == "vera");

  // Behind a TLS proxy the cookie never travels over plain HTTP.
  Reply over_tls = client.Send("POST", "/api/session/new", "", "",
                               {{"Authorization", As("vera").at("Authorization")},
                                {"X-Forwarded-Proto", "https"}});
  CHECK_THAT(over_tls.Header("set-cookie"), Catch::Contains("; Secure"));

  // A session is made from a password only: not from a token, not from another session.
  Reply from_cookie = client.Send("POST", "/api/session/new", "", "", Page(cookie, server.port()));
  CHECK(from_cookie.status == 400);
  CHECK(from_cookie.Code() == 10006);
  CHECK(CookieOf(from_cookie).empty());
  Reply wrong = client.Send("POST", "/api/session/new", "", "", As("vera", "wrong-password"));
  CHECK(wrong.status == 401);
  CHECK(CookieOf(wrong).empty());

  Reply out = client.Send("POST", "/api/session/delete", "", "", Page(cookie, server.port()));
  CHECK(out.Code() == 10000);
  CHECK_THAT(out.Header("set-cookie"), Catch::Contains("market_session=;"));
  CHECK_THAT(out.Header("set-cookie"), Catch::Contains("Max-Age=0"));
  Reply after = client.Get("/api/whoami", {{"Cookie", cookie}});
  CHECK(after.status == 401);
  CHECK(after.Code() == 10018);
}

TEST_CASE("made-up session cookies are refused and never count as failed sign-ins",
          "[http][auth][session][attack]") {
  TestServer server = StartServer();
  TestClient client(server.port());
  // More than signin-max-failures (10): a stale cookie on a page's parallel requests must not
  // lock its owner out, and guessing 256 random bits needs no throttle.
  for (int i = 0; i < 15; ++i) {
    Reply guessed = client.Get("/api/project/list",
                               {{"Cookie", "market_session=mks_guess" + std::to_string(i)}});
    CHECK(guessed.status == 401);
  }
  CHECK(client.Get("/api/project/list", {{"Cookie", "market_session="}}).status == 401);
  CHECK(client.Get("/api/project/list", {{"Cookie", "market_session=Basic x"}}).status == 401);
  CHECK(client.Send("POST", "/api/session/new", "", "", As("vera")).Code() == 10000);
}

TEST_CASE("another page cannot use the cookie: a change needs this server's Origin",
          "[http][auth][session][attack]") {
  TestServer server = StartServer();
  TestClient client(server.port());
  std::string cookie = SignIn(client, "ada");
  auto create = [&](const std::string& name, Headers headers) {
    return client.PostForm("/api/project/new", "projectName=" + name, headers);
  };

  // A form or script that says nothing of where it comes from (an old browser, a plugin).
  Reply unsaid = create("csrf1", {{"Cookie", cookie}});
  CHECK(unsaid.status == 403);
  CHECK_THAT(unsaid.Json()["errMsg"].get<std::string>(), Catch::Contains("session cookie"));
  // A page of the same site on another port: SameSite=Strict still sends the cookie.
  Headers other_page = Page(cookie, server.port());
  other_page["Origin"] = "http://127.0.0.1:" + std::to_string(server.port() + 1);
  CHECK(create("csrf2", other_page).status == 403);
  CHECK(create("csrf3", {{"Cookie", cookie}, {"Sec-Fetch-Site", "same-site"}}).status == 403);
  CHECK(create("csrf4", {{"Cookie", cookie}, {"Origin", "null"}}).status == 403);
  CHECK(client.Get("/api/project/info?projectName=csrf1", As("ada")).Code() == 10008);
  CHECK(client.Get("/api/project/info?projectName=csrf2", As("ada")).Code() == 10008);
  // Signing out is a change too: another page cannot sign the user out.
  CHECK(client.Send("POST", "/api/session/delete", "", "", other_page).status == 403);

  // The console's own page, and a browser's same-origin fetch.
  CHECK(create("mine", Page(cookie, server.port())).Code() == 10000);
  CHECK(create("mine2", {{"Cookie", cookie}, {"Sec-Fetch-Site", "same-origin"}}).Code() == 10000);
  CHECK(client.Get("/api/project/info?projectName=mine", {{"Cookie", cookie}})
            .Json()["content"]["creator"] == "ada");
}

TEST_CASE("a session follows its user: a new role applies at once, a new password or a delete "
          "ends it",
          "[http][auth][session]") {
  TestServer server = StartServer();
  TestClient client(server.port());
  std::string admin = SignIn(client, "ada");
  Headers as_admin = Page(admin, server.port());
  REQUIRE(client.PostForm("/api/user/new", "name=carol&role=viewer&password=carol-pass-1",
                          as_admin)
              .Code() == 10000);
  std::string carol = SignIn(client, "carol", "carol-pass-1");
  Headers as_carol = Page(carol, server.port());
  CHECK(client.PostForm("/api/project/new", "projectName=c1", as_carol).status == 403);

  REQUIRE(client.PostForm("/api/user/role", "name=carol&role=developer", as_admin).Code() ==
          10000);
  CHECK(client.PostForm("/api/project/new", "projectName=c1", as_carol).Code() == 10000);

  REQUIRE(client.PostForm("/api/user/password", "name=carol&password=carol-pass-2", as_admin)
              .Code() == 10000);
  CHECK(client.Get("/api/whoami", {{"Cookie", carol}}).status == 401);
  CHECK(client.Get("/api/whoami", As("carol", "carol-pass-1")).status == 401);
  carol = SignIn(client, "carol", "carol-pass-2");
  CHECK(client.Get("/api/whoami", {{"Cookie", carol}}).Code() == 10000);

  REQUIRE(client.PostForm("/api/user/delete", "name=carol", as_admin).Code() == 10000);
  CHECK(client.Get("/api/whoami", {{"Cookie", carol}}).status == 401);
}

TEST_CASE("admins manage users over the API, bad input names its field and changes nothing",
          "[http][auth][admin]") {
  Backend backend = GENERATE(from_range(market::testing::AvailableBackends()));
  INFO("backend " << market::testing::ToString(backend));
  TestServer server = StartServer(backend);
  TestClient client(server.port());
  Headers ada = As("ada");

  auto refused = [&](const std::string& path, const std::string& body, int status, int code,
                     const std::string& words) {
    INFO(path << " " << body);
    Reply reply = client.PostForm(path, body, ada);
    CHECK(reply.status == status);
    CHECK(reply.Code() == code);
    CHECK_THAT(reply.Json()["errMsg"].get<std::string>(), Catch::Contains(words));
  };
  refused("/api/user/new", "role=viewer&password=long-enough", 400, 10006, "name");
  refused("/api/user/new", "name=bad%20name&role=viewer&password=long-enough", 400, 10006,
          "name");
  refused("/api/user/new", "name=dan&role=root&password=long-enough", 400, 10006, "role");
  refused("/api/user/new", "name=dan&role=viewer&password=short", 400, 10006, "password");
  refused("/api/user/new", "name=dan&role=viewer", 400, 10006, "password");
  refused("/api/user/new", "name=vera&role=admin&password=long-enough", 409, 10001, "vera");
  refused("/api/user/role", "name=nobody&role=admin", 404, 10008, "nobody");
  refused("/api/user/delete", "name=nobody", 404, 10008, "nobody");
  // The last admin cannot lock everyone out.
  refused("/api/user/role", "name=ada&role=viewer", 403, 10019, "own role");
  refused("/api/user/delete", "name=ada", 403, 10019, "itself");
  // A password in the URL would end up in logs: refused even with a body.
  Reply in_url = client.PostForm("/api/user/new?password=long-enough",
                                 "name=dan&role=viewer&password=long-enough", ada);
  CHECK(in_url.Code() == 10006);
  CHECK_THAT(in_url.Json()["errMsg"].get<std::string>(), Catch::Contains("URL"));

  Reply users = client.Get("/api/user/list", ada);
  REQUIRE(users.Code() == 10000);
  REQUIRE(Content(users).size() == 2);  // nothing above added anyone
  CHECK(Content(users)[0]["name"] == "ada");
  CHECK(Content(users)[0]["role"] == "admin");
  CHECK(users.body.find("argon2") == std::string::npos);

  REQUIRE(client.PostJson("/api/user/new",
                          {{"name", "dan"}, {"role", "developer"}, {"password", "dan-pass-123"}},
                          ada)
              .Code() == 10000);
  CHECK(client.Get("/api/whoami", As("dan")).Json()["content"]["role"] == "developer");
  // Viewers and developers see none of it.
  CHECK(client.Get("/api/user/list", As("dan")).status == 403);
  CHECK(client.PostForm("/api/user/role", "name=dan&role=admin", As("dan")).status == 403);

  Reply audit = client.Get("/api/audit?action=user.add&actor=ada", ada);
  REQUIRE(audit.Code() == 10000);
  REQUIRE(Content(audit).size() == 1);
  CHECK(Content(audit)[0]["actor"] == "ada");
  CHECK(Content(audit)[0]["target"] == "user:dan");
  CHECK(audit.body.find("dan-pass-123") == std::string::npos);
  CHECK(audit.body.find("argon2") == std::string::npos);
}

TEST_CASE("a token made in the API is shown once, works as Bearer, and stops when revoked",
          "[http][auth][admin]") {
  TestServer server = StartServer();
  TestClient client(server.port());
  Headers ada = As("ada");
  Reply made = client.PostForm("/api/token/new", "user=vera&label=ci", ada);
  REQUIRE(made.Code() == 10000);
  CHECK(made.Header("cache-control") == "no-store");
  std::string token = Content(made)["token"];
  CHECK(token.starts_with(std::string(kTokenPrefix)));
  std::int64_t id = Content(made)["id"];
  CHECK(Content(made)["prefix"] == token.substr(0, Content(made)["prefix"].get<std::string>().size()));

  Headers bearer = {{"Authorization", "Bearer " + token}};
  CHECK(client.Get("/api/whoami", bearer).Json()["content"]["name"] == "vera");
  Reply listed = client.Get("/api/token/list?user=vera", ada);
  REQUIRE(Content(listed).size() == 1);
  CHECK(listed.body.find(token) == std::string::npos);
  CHECK(Content(listed)[0]["revokedAt"].is_null());
  CHECK(Content(client.Get("/api/token/list?user=ada", ada)).empty());
  Reply audit = client.Get("/api/audit?action=token.create", ada);
  REQUIRE(Content(audit).size() == 1);
  CHECK(audit.body.find(token) == std::string::npos);

  CHECK(client.PostForm("/api/token/new", "user=nobody", ada).Code() == 10008);
  CHECK(client.PostForm("/api/token/new", "user=vera&label=" + std::string(65, 'x'), ada).Code() ==
        10006);
  CHECK(client.PostForm("/api/token/revoke", "id=abc", ada).Code() == 10006);
  CHECK(client.PostForm("/api/token/revoke", "id=999999", ada).Code() == 10008);

  // Remembered credentials are forgotten at once: no waiting for the cache.
  Reply revoked = client.PostForm("/api/token/revoke", "id=" + std::to_string(id), ada);
  REQUIRE(revoked.Code() == 10000);
  CHECK(Content(revoked)["revokedAt"].is_string());
  CHECK(client.Get("/api/whoami", bearer).status == 401);
}

TEST_CASE("the audit filters by action and time over HTTP, a bad time names its parameter",
          "[http][auth][audit]") {
  TestServer server = StartServer();
  TestClient client(server.port());
  Headers ada = As("ada");
  REQUIRE(client.PostForm("/api/project/new", "projectName=web", ada).Code() == 10000);
  REQUIRE(client.PostForm("/api/project/new", "projectName=api", ada).Code() == 10000);

  Reply news = client.Get("/api/audit?action=project.new", ada);
  REQUIRE(news.Code() == 10000);
  CHECK(news.Json()["total_count"] == 2);
  CHECK(client.Get("/api/audit?action=project.delete", ada).Json()["total_count"] == 0);
  CHECK(client.Get("/api/audit?action=project.new&since=2100-01-01T00:00:00Z", ada)
            .Json()["total_count"] == 0);
  CHECK(client.Get("/api/audit?action=project.new&until=2000-01-01T00:00:00Z", ada)
            .Json()["total_count"] == 0);
  CHECK(client.Get("/api/audit?action=project.new&since=2000-01-01T00:00:00Z&until=2100-01-01T00:00:00Z",
                   ada)
            .Json()["total_count"] == 2);

  Reply bad = client.Get("/api/audit?since=yesterday", ada);
  CHECK(bad.status == 400);
  CHECK_THAT(bad.Json()["errMsg"].get<std::string>(), Catch::Contains("since"));
  Reply backwards =
      client.Get("/api/audit?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", ada);
  CHECK(backwards.Code() == 10006);
  CHECK_THAT(backwards.Json()["errMsg"].get<std::string>(), Catch::Contains("until"));
}

TEST_CASE("with authentication off there are no users to manage and no session to start",
          "[http][auth][admin]") {
  TestServer server;
  TestClient client(server.port());
  Reply users = client.Get("/api/user/list");
  CHECK(users.status == 403);
  CHECK_THAT(users.Json()["errMsg"].get<std::string>(), Catch::Contains("authentication on"));
  CHECK(client.PostForm("/api/user/new", "name=x&role=admin&password=long-enough").status == 403);
  CHECK(client.PostForm("/api/token/new", "user=x").status == 403);
  Reply session = client.Send("POST", "/api/session/new");
  CHECK(session.Code() == 10006);
  CHECK(CookieOf(session).empty());
  // Signing out needs nothing, and clears whatever cookie the browser kept.
  CHECK(client.Send("POST", "/api/session/delete").Code() == 10000);
}

}  // namespace market::server::testing
