// Webhooks out against the real server and real receivers on loopback: policies through the
// API, signed deliveries verified as a receiver would, retries with backoff, disabling after
// repeated failure, redelivery, test events, and a receiver that hangs delaying nothing.

#include <catch2/catch.hpp>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "market/webhook_signature.hpp"
#include "server_harness.hpp"
#include "harbor_client/fake_http_server.hpp"

namespace market::server::testing {
namespace {

using market::testing::FakeHttpServer;
using market::testing::FakeResponse;
using market::testing::RecordedRequest;
using json = nlohmann::json;

constexpr char kSecret[] = "It's a Secret to Everybody";

// Receivers on loopback are allowed (a production server refuses them); retries start after a
// second so a test sees several attempts.
TestServer StartServer(int disable_after = 10) {
  return TestServer(market::testing::Backend::kSqlite, [disable_after](ServerConfig& config) {
    config.webhook_allow_networks = "127.0.0.0/8";
    config.webhook_timeout = std::chrono::seconds(2);
    config.webhook_retry_first = std::chrono::seconds(1);
    config.webhook_disable_after = disable_after;
  });
}

json Content(const Reply& reply) { return reply.Json()["content"]; }

// Polls `fn` every 50 ms for up to `limit`; whether it became true.
template <class Fn>
bool Eventually(Fn fn, std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (fn()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return fn();
}

json NewPolicy(TestClient& client, json body) {
  body["operator"] = "ada";
  Reply reply = client.PostJson("/api/webhooks/new", body);
  INFO(reply.body);
  REQUIRE(reply.Code() == 10000);
  return Content(reply);
}

void NewProject(TestClient& client, const std::string& name) {
  Reply reply = client.PostForm("/api/project/new", "projectName=" + name + "&operator=ada");
  INFO(reply.body);
  REQUIRE(reply.Code() == 10000);
}

json Deliveries(TestClient& client, std::int64_t policy) {
  Reply reply = client.Get("/api/webhooks/deliveries?id=" + std::to_string(policy));
  REQUIRE(reply.Code() == 10000);
  return Content(reply)["deliveries"];
}

json Delivery(TestClient& client, std::int64_t id) {
  Reply reply = client.Get("/api/webhooks/delivery?id=" + std::to_string(id));
  REQUIRE(reply.Code() == 10000);
  return Content(reply);
}

// The delivery's state once it is no longer pending (or "pending" after the wait).
std::string SettledState(TestClient& client, std::int64_t policy, std::size_t index = 0) {
  std::string state = "pending";
  Eventually([&] {
    json list = Deliveries(client, policy);
    if (list.size() <= index) return false;
    state = list[index]["state"].get<std::string>();
    return state != "pending";
  });
  return state;
}

}  // namespace

TEST_CASE("a webhook policy is created, read, changed and deleted, its secret is never answered",
          "[http][webhooks]") {
  TestServer server = StartServer();
  TestClient client(server.port());
  NewProject(client, "web");
  json policy = NewPolicy(client, {{"project", "web"},
                                   {"name", "chat"},
                                   {"url", "http://127.0.0.1:9/hook"},
                                   {"events", json::array({"build.succeeded", "tag.pushed"})},
                                   {"secret", kSecret},
                                   {"tag", "v*"}});
  CHECK(policy["project"] == "web");
  CHECK(policy["enabled"] == true);
  CHECK(policy["events"] == json::array({"build.succeeded", "tag.pushed"}));
  CHECK(policy["hasSecret"] == true);
  CHECK(policy["format"] == "default");
  const std::int64_t id = policy["id"];

  Reply got = client.Get("/api/webhooks/get?id=" + std::to_string(id));
  REQUIRE(got.Code() == 10000);
  CHECK(got.body.find("Secret to Everybody") == std::string::npos);

  Reply listed = client.Get("/api/webhooks/list?project=web");
  REQUIRE(listed.Code() == 10000);
  REQUIRE(Content(listed).size() == 1);
  CHECK(Content(listed)[0]["name"] == "chat");

  Reply updated = client.PostForm("/api/webhooks/update",
                                  "id=" + std::to_string(id) +
                                      "&enabled=false&events=project.deleted&operator=ada");
  REQUIRE(updated.Code() == 10000);
  CHECK(Content(updated)["enabled"] == false);
  CHECK(Content(updated)["events"] == json::array({"project.deleted"}));
  CHECK(Content(updated)["hasSecret"] == true);  // a missing secret keeps the stored one

  Reply deleted = client.PostForm("/api/webhooks/delete", "id=" + std::to_string(id) +
                                                              "&operator=ada");
  REQUIRE(deleted.Code() == 10000);
  CHECK(client.Get("/api/webhooks/get?id=" + std::to_string(id)).Code() == 10008);
}

TEST_CASE("bad webhook policies are refused naming the field, and change nothing",
          "[http][webhooks][bad-input]") {
  TestServer server = StartServer();
  TestClient client(server.port());
  NewProject(client, "web");
  const json good = {{"project", "web"}, {"name", "chat"}, {"url", "http://127.0.0.1:9/"},
                     {"events", "build.failed"}, {"operator", "ada"}};
  auto refused = [&](json change, const std::string& field) {
    json body = good;
    for (auto& [key, value] : change.items()) {
      if (value.is_null()) {
        body.erase(key);
      } else {
        body[key] = value;
      }
    }
    Reply reply = client.PostJson("/api/webhooks/new", body);
    INFO(body.dump() << " -> " << reply.body);
    CHECK(reply.status == 400);
    CHECK(reply.Code() == 10006);
    CHECK_THAT(reply.Json()["errMsg"].get<std::string>(), Catch::Contains(field));
  };
  refused({{"url", nullptr}}, "url");
  refused({{"url", "ftp://127.0.0.1/"}}, "url");
  refused({{"url", "http://user:pw@127.0.0.1/"}}, "url");
  refused({{"events", "build.done"}}, "events");
  refused({{"events", ""}}, "events");
  refused({{"name", "a b"}}, "name");
  refused({{"format", "xml"}}, "format");
  refused({{"enabled", "maybe"}}, "enabled");
  refused({{"secret", "line\nbreak"}}, "secret");
  refused({{"project", "NO*"}}, "project");

  json elsewhere = good;
  elsewhere["project"] = "nothere";
  Reply missing_project = client.PostJson("/api/webhooks/new", elsewhere);
  CHECK(missing_project.Code() == 10007);
  REQUIRE(client.PostJson("/api/webhooks/new", good).Code() == 10000);
  CHECK(client.PostJson("/api/webhooks/new", good).Code() == 10001);  // the same name twice
  CHECK(Content(client.Get("/api/webhooks/list?project=web")).size() == 1);
  CHECK(client.Get("/api/webhooks/get?id=abc").Code() == 10006);
  CHECK(client.Get("/api/webhooks/deliveries?id=999").Code() == 10008);
}

TEST_CASE("a target on loopback is refused unless webhook-allow-networks lists it",
          "[http][webhooks][ssrf]") {
  TestServer server(market::testing::Backend::kSqlite);  // nothing allowed
  TestClient client(server.port());
  for (const std::string url : {"http://127.0.0.1:8080/", "http://[::1]/", "http://0.0.0.0/",
                                "http://169.254.169.254/latest/meta-data/",
                                "http://[::ffff:127.0.0.1]/"}) {
    Reply reply = client.PostJson("/api/webhooks/new", {{"name", "probe"},
                                                        {"url", url},
                                                        {"events", "project.created"},
                                                        {"operator", "ada"}});
    INFO(url << " -> " << reply.body);
    CHECK(reply.Code() == 10006);
    CHECK_THAT(reply.Json()["errMsg"].get<std::string>(), Catch::Contains("url"));
  }
  CHECK(Content(client.Get("/api/webhooks/list")).empty());
}

TEST_CASE("a delivery carries both signatures, verifiable with the policy's secret",
          "[http][webhooks]") {
  FakeHttpServer receiver([](const RecordedRequest&) { return FakeResponse{204}; });
  TestServer server = StartServer();
  TestClient client(server.port());
  json policy = NewPolicy(client, {{"name", "audit-sink"},
                                   {"url", receiver.Url() + "/events?src=market"},
                                   {"events", "project.created"},
                                   {"secret", kSecret}});
  NewProject(client, "signed");
  REQUIRE(SettledState(client, policy["id"]) == "delivered");
  REQUIRE(receiver.Requests().size() == 1);
  const RecordedRequest request = receiver.Requests()[0];
  CHECK(request.method == "POST");
  CHECK(request.target == "/events?src=market");
  CHECK(request.Header("content-type") == "application/json");
  CHECK(request.Header("x-market-event") == "project.created");
  CHECK(request.Header("user-agent").starts_with("ImageMarket-Webhook/"));

  // What a receiver checks: GitHub's scheme over the raw body...
  CHECK(request.Header("x-market-signature-256") ==
        "sha256=" + HmacSha256Hex(kSecret, request.body));
  // ...and Standard Webhooks' over id.timestamp.body.
  const std::string id = request.Header("webhook-id");
  const std::string timestamp = request.Header("webhook-timestamp");
  CHECK(request.Header("webhook-signature") ==
        "v1," + HmacSha256Base64(kSecret, id + "." + timestamp + "." + request.body));
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  CHECK(std::abs(now - std::stoll(timestamp)) < 60);

  json body = json::parse(request.body);
  CHECK(body["id"] == id);
  CHECK(body["type"] == "project.created");
  CHECK(body["operator"] == "ada");
  CHECK(body["project"]["name"] == "signed");

  // The recorded attempt shows the headers sent, the signatures' values removed.
  json delivery = Delivery(client, Deliveries(client, policy["id"])[0]["id"]);
  CHECK(delivery["attempts"] == 1);
  REQUIRE(delivery["attemptLog"].size() == 1);
  json attempt = delivery["attemptLog"][0];
  CHECK(attempt["status"] == 204);
  CHECK(attempt["requestHeaders"]["webhook-id"] == id);
  CHECK(attempt["requestHeaders"]["webhook-signature"] == "(removed)");
  CHECK(attempt["requestHeaders"]["X-Market-Signature-256"] == "(removed)");
  CHECK(delivery.dump().find(HmacSha256Hex(kSecret, request.body)) == std::string::npos);
}

TEST_CASE("a CloudEvents policy gets structured-mode events", "[http][webhooks]") {
  FakeHttpServer receiver([](const RecordedRequest&) { return FakeResponse{200}; });
  TestServer server = StartServer();
  TestClient client(server.port());
  json policy = NewPolicy(client, {{"name", "ce"},
                                   {"url", receiver.Url()},
                                   {"events", "project.created,project.deleted"},
                                   {"format", "cloudevents"}});
  NewProject(client, "clouds");
  REQUIRE(SettledState(client, policy["id"]) == "delivered");
  const RecordedRequest request = receiver.Requests().at(0);
  CHECK(request.Header("content-type") == "application/cloudevents+json");
  CHECK(request.Header("x-market-signature-256").empty());  // no secret, no signature
  json body = json::parse(request.body);
  CHECK(body["specversion"] == "1.0");
  CHECK(body["type"] == "io.imagemarket.project.created");
  CHECK(body["id"] == request.Header("webhook-id"));
  CHECK(body["data"]["project"]["name"] == "clouds");
}

TEST_CASE("a receiver failing with 503 gets retries with growing waits until it answers",
          "[http][webhooks][retry]") {
  std::atomic<int> calls{0};
  FakeHttpServer receiver([&](const RecordedRequest&) {
    return FakeResponse{++calls <= 2 ? 503 : 200, {}, "busy"};
  });
  TestServer server = StartServer();
  TestClient client(server.port());
  json policy = NewPolicy(client, {{"name", "flaky"},
                                   {"url", receiver.Url()},
                                   {"events", "project.created"}});
  NewProject(client, "retried");
  REQUIRE(SettledState(client, policy["id"]) == "delivered");
  json delivery = Delivery(client, Deliveries(client, policy["id"])[0]["id"]);
  CHECK(delivery["attempts"] == 3);
  json log = delivery["attemptLog"];
  REQUIRE(log.size() == 3);
  CHECK(log[0]["status"] == 503);
  CHECK(log[0]["responseExcerpt"] == "busy");
  CHECK(log[1]["status"] == 503);
  CHECK(log[2]["status"] == 200);
  // Every attempt carried the same webhook-id: receivers de-duplicate by it.
  std::set<std::string> ids;
  for (const RecordedRequest& request : receiver.Requests()) ids.insert(request.Header("webhook-id"));
  CHECK(ids.size() == 1);
  // Backoff: about 1 s (80-100%), then about 2 s.
  auto started = [&](int i) {
    return *ParseIso8601(log[i]["startedAt"].get<std::string>());
  };
  CHECK(started(1) - started(0) >= std::chrono::milliseconds(800));
  CHECK(started(2) - started(1) >= std::chrono::milliseconds(1600));
}

TEST_CASE("failed deliveries in a row disable the policy with the reason, enabling resumes",
          "[http][webhooks][disable]") {
  std::atomic<int> status{400};
  FakeHttpServer receiver([&](const RecordedRequest&) { return FakeResponse{status.load()}; });
  TestServer server = StartServer(/*disable_after=*/3);
  TestClient client(server.port());
  json policy = NewPolicy(client, {{"name", "wrong-secret"},
                                   {"url", receiver.Url()},
                                   {"events", "project.created"}});
  const std::int64_t id = policy["id"];
  for (int i = 0; i < 3; ++i) {
    NewProject(client, "p" + std::to_string(i));
    // A 400 is not retried: each delivery fails after one attempt.
    REQUIRE(SettledState(client, id, 0) == "failed");
  }
  json disabled = Content(client.Get("/api/webhooks/get?id=" + std::to_string(id)));
  CHECK(disabled["enabled"] == false);
  CHECK(disabled["consecutiveFailures"] == 3);
  CHECK_THAT(disabled["disabledReason"].get<std::string>(), Catch::Contains("3 failed"));
  CHECK_THAT(disabled["disabledReason"].get<std::string>(), Catch::Contains("400"));
  CHECK(receiver.Requests().size() == 3);

  NewProject(client, "unheard");  // a disabled policy hears nothing
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(Deliveries(client, id).size() == 3);
  // ...but a test event goes out, so the receiver can be checked before enabling it again.
  Reply test = client.PostForm("/api/webhooks/test", "id=" + std::to_string(id) + "&operator=ada");
  REQUIRE(test.Code() == 10000);
  REQUIRE(Eventually([&] { return receiver.Requests().size() == 4; }));
  CHECK(json::parse(receiver.Requests()[3].body)["type"] == "webhook.test");
  REQUIRE(SettledState(client, id, 0) == "failed");

  status = 200;
  Reply enabled = client.PostForm("/api/webhooks/update",
                                  "id=" + std::to_string(id) + "&enabled=true&operator=ada");
  REQUIRE(enabled.Code() == 10000);
  CHECK(Content(enabled)["consecutiveFailures"] == 0);
  CHECK(Content(enabled)["disabledReason"] == "");
  NewProject(client, "heard");
  REQUIRE(SettledState(client, id, 0) == "delivered");
}

TEST_CASE("a redelivery sends the same body with the same webhook-id, a test event arrives",
          "[http][webhooks]") {
  FakeHttpServer receiver([](const RecordedRequest&) { return FakeResponse{200}; });
  TestServer server = StartServer();
  TestClient client(server.port());
  json policy = NewPolicy(client, {{"name", "again"},
                                   {"url", receiver.Url()},
                                   {"events", "project.created"},
                                   {"secret", kSecret}});
  const std::int64_t id = policy["id"];
  NewProject(client, "once");
  REQUIRE(SettledState(client, id) == "delivered");
  const std::int64_t first = Deliveries(client, id)[0]["id"];
  Reply again = client.PostForm("/api/webhooks/redeliver",
                                "delivery=" + std::to_string(first) + "&operator=ada");
  REQUIRE(again.Code() == 10000);
  CHECK(Content(again)["redeliveryOf"] == first);
  REQUIRE(Eventually([&] { return receiver.Requests().size() == 2; }));
  auto requests = receiver.Requests();
  CHECK(requests[0].body == requests[1].body);
  CHECK(requests[0].Header("webhook-id") == requests[1].Header("webhook-id"));

  Reply test = client.PostForm("/api/webhooks/test", "id=" + std::to_string(id) + "&operator=ada");
  REQUIRE(test.Code() == 10000);
  REQUIRE(Eventually([&] { return receiver.Requests().size() == 3; }));
  json body = json::parse(receiver.Requests()[2].body);
  CHECK(body["type"] == "webhook.test");
  CHECK(client.PostForm("/api/webhooks/redeliver", "delivery=424242&operator=ada").Code() ==
        10008);
}

TEST_CASE("a receiver that never answers delays no API answer and times out on its own",
          "[http][webhooks][slow]") {
  std::mutex mutex;
  std::condition_variable released_cv;
  bool released = false;
  FakeHttpServer receiver([&](const RecordedRequest&) {
    std::unique_lock lock(mutex);
    released_cv.wait_for(lock, std::chrono::seconds(20), [&] { return released; });
    return FakeResponse{200};
  });
  TestServer server = StartServer();
  TestClient client(server.port(), std::chrono::seconds(5));
  json policy = NewPolicy(client, {{"name", "stuck"},
                                   {"url", receiver.Url()},
                                   {"events", "project.created"}});
  // Each of these answers while the receiver holds the first delivery: were a request to wait
  // for it, the client's 5 s timeout would fail it.
  for (int i = 0; i < 5; ++i) NewProject(client, "busy" + std::to_string(i));
  CHECK(client.Get("/api/project/list").Code() == 10000);
  // The attempt times out after webhook-timeout (2 s) and is retried later.
  REQUIRE(Eventually([&] {
    json list = Deliveries(client, policy["id"]);
    for (const json& delivery : list) {
      if (delivery["attempts"] >= 1 && delivery["lastStatus"] == 0 &&
          !delivery["lastError"].get<std::string>().empty()) {
        return true;
      }
    }
    return false;
  }));
  {
    std::lock_guard lock(mutex);
    released = true;
  }
  released_cv.notify_all();
}

}  // namespace market::server::testing
