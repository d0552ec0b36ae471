// Hostile input at the door (docs/security.md): other sites' pages, foreign Host names,
// password guessing, floods of sign-ins, connections and log streams, and the headers every
// answer carries. The real server over real sockets.

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <regex>
#include <thread>
#include <vector>


#include "auth.hpp"
#include "server_harness.hpp"

namespace market::server::testing {
namespace {

using market::testing::Backend;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

const AuditActor kSetup{"test-setup", "", ""};
const TimePoint kT0{std::chrono::milliseconds{1'790'000'000'000}};

std::string Basic(const std::string& user, const std::string& password) {
  return BasicAuthorization(user, password);
}

void AddUser(Stores& stores, const std::string& name, Role role) {
  auto hash = HashPassword(name + "-pass-123");
  REQUIRE(hash);
  REQUIRE(stores.identity->AddUser(name, role, *hash, kSetup, kT0));
}

Headers As(const std::string& name) { return {{"Authorization", Basic(name, name + "-pass-123")}}; }

// A connection from a chosen loopback address (127.0.0.2 is another client to the server).
TestClient Conn(std::uint16_t port, const std::string& from = "127.0.0.1") {
  return TestClient(port, std::chrono::seconds(30), from);
}

double Metric(const std::string& text, const std::string& sample) {
  std::size_t at = text.find("\n" + sample + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + sample.size() + 2));
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

bool Exists(TestClient& client, const std::string& name, const Headers& headers = {}) {
  return client.Get("/api/project/info?projectName=" + name, headers).Code() == 10000;
}

void AuthOn(ServerConfig& config) {
  config.auth = true;
  config.auth_cache_ttl = std::chrono::seconds(0);  // every request verifies its password
}

}  // namespace

TEST_CASE("another site's page cannot change anything, same origin, listed sites and curl can",
          "[http][admission]") {
  TestServer server(Backend::kSqlite, [](ServerConfig& config) {
    config.allowed_origins = {"https://console.example.com"};
  });
  TestClient client(server.port());
  const std::string self = "127.0.0.1:" + std::to_string(server.port());
  REQUIRE(client.PostForm("/api/project/new", "projectName=kept&operator=me").Code() == 10000);

  const std::vector<Headers> hostile = {
      {{"Origin", "http://evil.example"}, {"Sec-Fetch-Site", "cross-site"}},
      {{"Origin", "http://evil.example"}},                  // an older browser
      {{"Sec-Fetch-Site", "cross-site"}},                   // a browser that sent no Origin
      {{"Origin", "null"}, {"Sec-Fetch-Site", "cross-site"}},  // a sandboxed frame
      {{"Origin", "http://127.0.0.1:1"}, {"Sec-Fetch-Site", "same-site"}},  // another port
      {{"Origin", "http://evil.example"}, {"Host", "evil.example"}, {"Sec-Fetch-Site", "same-site"}},
  };
  for (const Headers& headers : hostile) {
    INFO("headers: " << json(headers).dump());
    Reply made = client.PostForm("/api/project/new", "projectName=evil&operator=me", headers);
    if (headers.contains("Host")) {
      CHECK(made.status == 421);  // the Host is refused first
      continue;
    }
    CHECK(made.status == 403);
    CHECK(made.Code() == 10019);
    if (headers.contains("Origin")) {
      CHECK_THAT(made.Json()["errMsg"].get<std::string>(),
                 Catch::Contains(headers.at("Origin")) && Catch::Contains("allowed-origins"));
    }
    Reply deleted = client.PostForm("/api/project/delete", "projectName=kept&operator=me", headers);
    CHECK(deleted.status == 403);
    CHECK(deleted.Code() == 10019);
    // The seed's method override and a real DELETE are changes too (no registry here: without
    // the refusal they would answer 10013).
    CHECK(client.PostForm("/repositories", "repoName=1&projectName=a/b&method=DELETE", headers)
              .status == 403);
    CHECK(client.Request(http::verb::delete_, "/repositories?repoName=1&projectName=a/b", "", "",
                         headers)
              .status == 403);
  }
  // Nothing changed.
  CHECK_FALSE(Exists(client, "evil"));
  CHECK(Exists(client, "kept"));

  // Reading is no change: a cross-site GET is answered (the browser keeps its body from the page).
  CHECK(client.Get("/api/project/list", {{"Origin", "http://evil.example"},
                                         {"Sec-Fetch-Site", "cross-site"}})
            .status == 200);
  // A listed site may.
  Reply listed = client.PostForm("/api/project/new", "projectName=listed&operator=me",
                                 {{"Origin", "https://console.example.com"},
                                  {"Sec-Fetch-Site", "cross-site"}});
  CHECK(listed.Code() == 10000);
  // The page itself: Origin is the server's own, as its Host names it.
  Reply same = client.PostForm("/api/project/new", "projectName=same&operator=me",
                               {{"Origin", "http://" + self}, {"Host", self},
                                {"Sec-Fetch-Site", "same-origin"}});
  CHECK(same.Code() == 10000);
  Reply by_name = client.PostForm("/api/project/delete", "projectName=same&operator=me",
                                  {{"Origin", "http://localhost:" + std::to_string(server.port())},
                                   {"Host", "localhost:" + std::to_string(server.port())}});
  CHECK(by_name.Code() == 10000);
  // An Origin that only a careless reader takes for the server's own.
  for (const std::string& origin : {"http://" + self + "@evil.example",
                                    "http://evil.example\\@" + self, "http://" + self + "/x"}) {
    INFO(origin);
    Reply forged = client.PostForm("/api/project/new", "projectName=forged&operator=me",
                                   {{"Origin", origin}, {"Host", self}});
    CHECK(forged.status == 403);
    CHECK(forged.Code() == 10019);
  }
  CHECK_FALSE(Exists(client, "forged"));
  // curl, the CLI and the original's client send no Origin.
  CHECK(client.PostForm("/api/project/delete", "projectName=listed&operator=me").Code() == 10000);
  CHECK(client.PostForm("/api/project/delete", "projectName=kept&operator=me",
                        {{"Sec-Fetch-Site", "none"}})  // typed into the address bar
            .Code() == 10000);
  std::string metrics = client.Get("/metrics").body;
  CHECK(Metric(metrics, R"(market_http_refused_total{reason="cross_site"})") >= 20);
}

TEST_CASE("a Host that does not name the server is 421, the probes answer any Host",
          "[http][admission]") {
  TestServer server;
  TestClient client(server.port());
  const std::string port = std::to_string(server.port());
  Reply rebound = client.Get("/api/project/list", {{"Host", "evil.example:" + port}});
  CHECK(rebound.status == 421);
  CHECK(rebound.Code() == 10019);
  CHECK_THAT(rebound.Json()["errMsg"].get<std::string>(),
             Catch::Contains("evil.example") && Catch::Contains("allowed-hosts"));
  CHECK(client.PostForm("/api/project/new", "projectName=x&operator=me", {{"Host", "evil.example"}})
            .status == 421);
  CHECK(client.Get("/view/config/independent?projectName=x", {{"Host", "evil.example"}}).status ==
        421);
  for (const std::string path : {"/healthz", "/readyz", "/metrics"}) {
    INFO(path);
    CHECK(client.Get(path, {{"Host", "evil.example"}}).status == 200);
  }
  for (const std::string& host : std::vector<std::string>{"127.0.0.1", "127.0.0.1:" + port,
                                                          "localhost", "LOCALHOST:" + port,
                                                          "[::1]:" + port, "[::1]"}) {
    INFO(host);
    CHECK(client.Get("/api/project/list", {{"Host", host}}).status == 200);
  }
  CHECK_FALSE(Exists(client, "x"));
}

TEST_CASE("allowed-hosts replaces the default names", "[http][admission]") {
  TestServer server(Backend::kSqlite, [](ServerConfig& config) {
    config.allowed_hosts = {"market.example", "proxy.example:8443"};
  });
  TestClient client(server.port());
  CHECK(client.Get("/api/project/list", {{"Host", "market.example"}}).status == 200);
  CHECK(client.Get("/api/project/list", {{"Host", "Market.Example:8080"}}).status == 200);
  CHECK(client.Get("/api/project/list", {{"Host", "proxy.example:8443"}}).status == 200);
  CHECK(client.Get("/api/project/list", {{"Host", "proxy.example:9000"}}).status == 421);
  CHECK(client.Get("/api/project/list", {{"Host", "127.0.0.1"}}).status == 421);
  CHECK(client.Get("/healthz").status == 200);
}

TEST_CASE("password guessing: past signin-max-failures even the right password is 429",
          "[http][admission][auth]") {
  TestServer server(
      Backend::kSqlite,
      [](ServerConfig& config) {
        AuthOn(config);
        // Long enough that all ten failures fall in one window however slow the machine is
        // (each is an argon2 verification); the window's end is the next test's.
        config.signin_max_failures = 10;
        config.signin_window = std::chrono::seconds(120);
      },
      [](Stores& stores) {
        AddUser(stores, "dave", Role::kDeveloper);
        AddUser(stores, "vera", Role::kViewer);
      });
  TestClient client(server.port());
  int unauthorized = 0, refused = 0;
  Reply last;
  for (int i = 0; i < 41; ++i) {
    last = client.Get("/api/project/list", {{"Authorization", Basic("dave", "guess-" + std::to_string(i))}});
    if (last.status == 401) ++unauthorized;
    if (last.status == 429) ++refused;
  }
  CHECK(unauthorized == 10);
  CHECK(refused == 31);
  Reply right = client.Get("/api/project/list", As("dave"));
  CHECK(right.status == 429);
  CHECK(right.Code() == 10020);
  int retry_after = std::stoi(right.Header("retry-after"));
  CHECK(retry_after >= 1);
  CHECK(retry_after <= 120);
  // The address is blocked, for any name; the name is blocked, from any address.
  CHECK(client.Get("/api/project/list", As("vera")).status == 429);
  TestClient other = Conn(server.port(), "127.0.0.2");
  CHECK(other.Get("/api/project/list", As("dave")).status == 429);
  CHECK(other.Get("/api/project/list", As("vera")).status == 200);
  // Probes need no sign-in and are never refused.
  CHECK(client.Get("/healthz").status == 200);

  // Each failure was audited with the address, the name and the count.
  auto stores = server.database().Open(1);
  REQUIRE(stores);
  AuditQuery query;
  query.page = 1;
  query.page_size = 100;
  query.target = "user:dave";
  auto page = stores->audit->List(query);
  REQUIRE(page);
  std::vector<AuditEntry> failures;  // the target also has the set-up's user.add
  for (const AuditEntry& entry : page->entries) {
    if (entry.action == "auth.signin_failed") failures.push_back(entry);
  }
  REQUIRE(failures.size() == 10);
  json newest = json::parse(failures.front().after_json);
  CHECK(failures.front().actor == "anonymous");
  CHECK(newest["address"] == "127.0.0.1");
  CHECK(newest["user"] == "dave");
  CHECK(newest["failures"] == 10);
  std::string metrics = client.Get("/metrics").body;
  CHECK(Metric(metrics, "market_signin_failures_total") == 10);
  CHECK(Metric(metrics, R"(market_http_refused_total{reason="signin_throttled"})") >= 33);
}

TEST_CASE("password guessing: once the window ends the right password signs in again",
          "[http][admission][auth]") {
  TestServer server(
      Backend::kSqlite,
      [](ServerConfig& config) {
        AuthOn(config);
        config.signin_max_failures = 1;  // one failure fills the window whatever the timing
        config.signin_window = std::chrono::seconds(2);
      },
      [](Stores& stores) { AddUser(stores, "dave", Role::kDeveloper); });
  TestClient client(server.port());
  CHECK(client.Get("/api/project/list", {{"Authorization", Basic("dave", "guess")}}).status == 401);
  Reply blocked = client.Get("/api/project/list", As("dave"));
  REQUIRE(blocked.status == 429);
  int retry_after = std::stoi(blocked.Header("retry-after"));
  CHECK(retry_after >= 1);
  CHECK(retry_after <= 2);
  std::this_thread::sleep_for(std::chrono::seconds(retry_after) + std::chrono::milliseconds(200));
  CHECK(client.Get("/api/project/list", As("dave")).status == 200);
}

TEST_CASE("an unknown user name costs what a known one costs", "[http][admission][auth]") {
  TestServer server(
      Backend::kSqlite,
      [](ServerConfig& config) {
        AuthOn(config);
        config.signin_max_failures = 1000;
      },
      [](Stores& stores) { AddUser(stores, "dave", Role::kDeveloper); });
  TestClient client(server.port());
  auto verifications = [&] {
    return Metric(client.Get("/metrics").body, "market_auth_password_verifications_total");
  };
  // The dummy hash is checked for a name nobody has: one argon2id, as for a real name.
  double before = verifications();
  Reply unknown = client.Get("/api/project/list", {{"Authorization", Basic("nobody", "x")}});
  CHECK(unknown.status == 401);
  CHECK(verifications() == before + 1);
  Reply known = client.Get("/api/project/list", {{"Authorization", Basic("dave", "x")}});
  CHECK(known.status == 401);
  CHECK(verifications() == before + 2);
  // The same answer for both.
  CHECK(unknown.body == known.body);

  // And about the same time: medians of a few tries each, interleaved so that load on the
  // machine hits both alike. Without the dummy hash the unknown name answered ~100x faster.
  std::vector<double> unknown_ms, known_ms;
  for (int i = 0; i < 5; ++i) {
    for (auto [user, times] : {std::pair{"nobody-" + std::to_string(i), &unknown_ms},
                               std::pair{std::string("dave"), &known_ms}}) {
      auto start = Clock::now();
      CHECK(client.Get("/api/project/list", {{"Authorization", Basic(user, "wrong")}}).status ==
            401);
      times->push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    }
  }
  double u = Median(unknown_ms), k = Median(known_ms);
  INFO("median unknown " << u << " ms, known " << k << " ms");
  CHECK(u * 3 > k);
  CHECK(k * 3 > u);
}

TEST_CASE("a flood of sign-ins is refused at once and does not starve other requests",
          "[http][admission][auth]") {
  TestServer server(
      Backend::kSqlite,
      [](ServerConfig& config) {
        config.auth = true;  // the cache on: a signed-in caller is not verified again
        config.signin_max_concurrent = 1;
        config.signin_max_failures = 100000;
      },
      [](Stores& stores) { AddUser(stores, "dave", Role::kDeveloper); });
  TestClient signed_in(server.port());
  REQUIRE(signed_in.Get("/api/project/list", As("dave")).status == 200);

  std::atomic<bool> stop{false};
  std::atomic<int> busy{0}, wrong{0}, retry_after_missing{0};
  std::vector<std::thread> flood;
  for (int t = 0; t < 12; ++t) {
    flood.emplace_back([&, t] {
      TestClient client(server.port());
      for (int i = 0; !stop && i < 40; ++i) {
        // Each a different guess: none shares another's verification.
        Reply reply = client.Get(
            "/api/project/list",
            {{"Authorization", Basic("user" + std::to_string(t), "guess" + std::to_string(i))}});
        if (reply.status == 429) {
          ++busy;
          if (reply.Header("retry-after").empty()) ++retry_after_missing;
        } else if (reply.status == 401) {
          ++wrong;
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::vector<double> list_ms;
  for (int i = 0; i < 10; ++i) {
    auto start = Clock::now();
    CHECK(signed_in.Get("/api/project/list", As("dave")).status == 200);
    list_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
  }
  stop = true;
  for (std::thread& thread : flood) thread.join();
  INFO("429: " << busy << ", 401: " << wrong << ", list ms: " << json(list_ms).dump());
  CHECK(busy > 0);
  CHECK(wrong > 0);
  CHECK(retry_after_missing == 0);
  // A signed-in caller is answered promptly throughout (an argon2id is ~50-100 ms).
  CHECK(Median(list_ms) < 250);
  CHECK(*std::max_element(list_ms.begin(), list_ms.end()) < 2000);
  std::string metrics = signed_in.Get("/metrics").body;
  CHECK(Metric(metrics, R"(market_http_refused_total{reason="signin_busy"})") == busy);
}

TEST_CASE("parallel requests with one sign-in share its verification", "[http][admission][auth]") {
  // The page's first requests after signing in go out together with the same credentials.
  TestServer server(
      Backend::kSqlite,
      [](ServerConfig& config) {
        AuthOn(config);
        config.signin_max_concurrent = 1;
      },
      [](Stores& stores) { AddUser(stores, "dave", Role::kDeveloper); });
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&] {
      TestClient client(server.port());
      for (int i = 0; i < 3; ++i) {
        if (client.Get("/api/whoami", As("dave")).status == 200) ++ok;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  CHECK(ok == 18);
}

TEST_CASE("security headers on every answer, no Basic dialog for a browser",
          "[http][admission][auth]") {
  TestServer server(Backend::kSqlite, AuthOn, [](Stores& stores) {
    AddUser(stores, "dave", Role::kDeveloper);
  });
  TestClient client(server.port());
  REQUIRE(client.PostForm("/api/project/new", "projectName=page", As("dave")).Code() == 10000);
  Reply list = client.Get("/api/project/list", As("dave"));
  Reply page = client.Get("/view/config/independent?projectName=page");
  Reply missing = client.Get("/no/such/path");
  Reply script = client.Get("/static/app.js");
  Reply host = client.Get("/api/project/list", {{"Host", "evil.example"}});
  for (const Reply* reply : {&list, &page, &missing, &script, &host}) {
    INFO("status " << reply->status << ": " << reply->body.substr(0, 80));
    CHECK(reply->Header("x-content-type-options") == "nosniff");
    CHECK(reply->Header("referrer-policy") == "no-referrer");
  }
  CHECK_THAT(page.Header("content-type"), Catch::StartsWith("text/html"));
  CHECK_THAT(page.Header("content-security-policy"), Catch::Contains("frame-ancestors 'none'"));
  CHECK(page.Header("x-frame-options") == "DENY");
  CHECK(list.Header("x-frame-options").empty());

  // A browser navigating, or a script: a Bearer challenge, which opens no login dialog.
  Reply navigation = client.Get("/api/project/list", {{"Accept", "text/html"},
                                                      {"Sec-Fetch-Mode", "navigate"}});
  CHECK(navigation.status == 401);
  CHECK(navigation.Code() == 10018);
  CHECK_THAT(navigation.Header("www-authenticate"), Catch::StartsWith("Bearer"));
  Reply page_script = client.Get("/api/project/list", {{"X-Requested-With", "XMLHttpRequest"},
                                                       {"Authorization", Basic("dave", "no")}});
  CHECK_THAT(page_script.Header("www-authenticate"), Catch::StartsWith("Bearer"));
  // A client that speaks Basic already (curl -u) is told so.
  Reply curl = client.Get("/api/project/list", {{"Authorization", Basic("dave", "no")}});
  CHECK(curl.status == 401);
  CHECK_THAT(curl.Header("www-authenticate"), Catch::StartsWith("Basic"));
}

TEST_CASE("connections from one address are bounded", "[http][admission]") {
  TestServer server(Backend::kSqlite,
                    [](ServerConfig& config) { config.max_connections_per_address = 3; });
  std::vector<std::unique_ptr<TestClient>> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(std::make_unique<TestClient>(server.port()));
    REQUIRE(held.back()->Get("/healthz").status == 200);
  }
  TestClient fourth(server.port());
  CHECK(fourth.ClosedByServer(std::chrono::seconds(10)));
  // Another address is served; the held connections still are.
  TestClient other = Conn(server.port(), "127.0.0.2");
  CHECK(other.Get("/healthz").status == 200);
  CHECK(held.front()->Get("/api/project/list").status == 200);
  // One closed, one more may come.
  held.pop_back();
  bool served = false;
  for (int i = 0; i < 50 && !served; ++i) {  // the server notices the close asynchronously
    TestClient again(server.port());
    served = !again.ClosedByServer(std::chrono::milliseconds(100));
    if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(served);
  std::string metrics = held.front()->Get("/metrics").body;
  CHECK(Metric(metrics, R"(market_http_refused_total{reason="connections_per_address"})") >= 1);
}

TEST_CASE("live log streams per caller are bounded", "[http][admission]") {
  std::int64_t build_id = 0;
  TestServer server(
      Backend::kSqlite, [](ServerConfig& config) { config.max_log_follows = 2; },
      [&](Stores& stores) {
        Project project;
        project.name = "followed";
        project.creator = "me";
        project.last_modify_operator = "me";
        REQUIRE(stores.projects->Insert(project));
        Build build;
        build.project = "followed";
        build.tag = "1";
        build.operator_name = "me";
        build.image = "127.0.0.1:5000/default_cluster/followed:1";
        build.queued_at = kT0;
        REQUIRE(stores.builds->Enqueue(build));
        // Running on a worker elsewhere, with a long lease: its log stays open.
        auto now = std::chrono::time_point_cast<std::chrono::milliseconds>(
            std::chrono::system_clock::now());
        auto claimed = stores.builds->ClaimNext("elsewhere/1", now, now + std::chrono::hours(1));
        REQUIRE(claimed);
        REQUIRE(claimed->has_value());
        build_id = (*claimed)->id;
      });
  const std::string target = "/api/project/buildLog?follow=1&id=" + std::to_string(build_id);
  TestClient first(server.port()), second(server.port()), third(server.port());
  CHECK(first.GetHead(target).status == 200);
  CHECK(second.GetHead(target).status == 200);
  Reply refused = third.GetHead(target);
  CHECK(refused.status == 429);
  CHECK_THAT(refused.body, Catch::Contains("10020") && Catch::Contains("max-log-follows"));
  CHECK_FALSE(refused.Header("retry-after").empty());
  // Another caller has its own.
  TestClient other = Conn(server.port(), "127.0.0.2");
  CHECK(other.GetHead(target).status == 200);
  // A stream closed gives its place back.
  first.Close();
  bool served = false;
  for (int i = 0; i < 50 && !served; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the server sees the close
    TestClient again(server.port());
    served = again.GetHead(target).status == 200;
  }
  CHECK(served);
}

TEST_CASE("/readyz answers from a result at most a second old", "[http][admission]") {
  // A registry that refuses connections: each readiness check pings it, and the metrics count
  // the pings.
  TestServer server(Backend::kSqlite, [](ServerConfig& config) {
    config.registry_url = "http://127.0.0.1:1";
    config.registry_insecure = true;
  });
  TestClient client(server.port());
  auto pings = [&] {
    return Metric(client.Get("/metrics").body,
                  R"(market_registry_requests_total{operation="ping"})");
  };
  auto start = Clock::now();
  int answered = 0;
  while (Clock::now() - start < std::chrono::milliseconds(1500)) {
    Reply ready = client.Get("/readyz");
    REQUIRE(ready.status == 503);
    CHECK(ready.Json()["checks"]["registry"] != "ok");
    ++answered;
  }
  INFO(answered << " probes");
  CHECK(answered > 20);
  CHECK(pings() >= 1);
  CHECK(pings() <= 3);  // once a second (and a probe at the edge)
}

}  // namespace market::server::testing
