// Webhook deliveries are rows in the database: two market-server processes on one PostgreSQL
// database send each delivery once, and a delivery whose sender was killed with SIGKILL in the
// middle of its attempt is sent again by the restarted server, with the same webhook-id.

#include <catch2/catch.hpp>

#include <signal.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "server_harness.hpp"
#include "harbor_client/fake_http_server.hpp"
#include "support/ports.hpp"
#include "support/server_process.hpp"

namespace market::server::testing {
namespace {

using json = nlohmann::json;
using market::testing::FakeHttpServer;
using market::testing::FakeResponse;
using market::testing::RecordedRequest;
using market::testing::ServerProcess;
using namespace std::chrono_literals;

struct Instance {
  std::uint16_t port;
  std::vector<std::string> args;
};

Instance InstanceOn(const std::string& database, const std::filesystem::path& workspace) {
  const auto port = static_cast<std::uint16_t>(market::testing::FreeLoopbackPort());
  return {port,
          {"--listen", "127.0.0.1:" + std::to_string(port), "--database", database, "--workspace",
           workspace.string(), "--webhook-allow-networks", "127.0.0.0/8", "--webhook-timeout",
           "2", "--webhook-retry-first", "1", "--webhook-senders", "2"}};
}

bool Healthy(std::uint16_t port) {
  return market::testing::WaitFor([&] { return TestClient(port).Get("/healthz").status == 200; },
                                  60s);
}

std::int64_t NewGlobalPolicy(std::uint16_t port, const std::string& url) {
  TestClient client(port);
  Reply reply = client.PostJson("/api/webhooks/new", {{"name", "fleet"},
                                                      {"url", url},
                                                      {"events", "project.created"},
                                                      {"secret", "fleet-secret"},
                                                      {"operator", "ops"}});
  INFO(reply.body);
  REQUIRE(reply.Code() == 10000);
  return reply.Json()["content"]["id"];
}

}  // namespace

TEST_CASE("two instances on one database send each delivery once",
          "[process][webhooks][postgres]") {
  if (market::testing::AvailableBackends().size() < 2) {
    WARN("MARKET_TEST_POSTGRES_URL is not set: skipping the two-instance webhook test");
    return;
  }
  market::testing::TestDatabase database(market::testing::Backend::kPostgres);
  market::testing::TempDir dir;
  FakeHttpServer receiver([](const RecordedRequest&) { return FakeResponse{200}; });
  Instance a = InstanceOn(database.url(), dir.path() / "a");
  Instance b = InstanceOn(database.url(), dir.path() / "b");
  ServerProcess server_a(a.args);
  ServerProcess server_b(b.args);
  REQUIRE(Healthy(a.port));
  REQUIRE(Healthy(b.port));
  NewGlobalPolicy(a.port, receiver.Url());

  constexpr int kEvents = 40;
  TestClient client_a(a.port), client_b(b.port);
  for (int i = 0; i < kEvents; ++i) {
    TestClient& client = i % 2 == 0 ? client_a : client_b;
    Reply reply = client.PostForm("/api/project/new",
                                  "projectName=fleet" + std::to_string(i) + "&operator=ops");
    REQUIRE(reply.Code() == 10000);
  }
  REQUIRE(market::testing::WaitFor(
      [&] { return receiver.Requests().size() >= static_cast<std::size_t>(kEvents); }, 60s));
  std::this_thread::sleep_for(1500ms);  // a second sender of any delivery would show by now
  std::map<std::string, int> sends;
  std::set<std::string> senders_seen;
  for (const RecordedRequest& request : receiver.Requests()) {
    ++sends[request.Header("webhook-id")];
  }
  CHECK(receiver.Requests().size() == static_cast<std::size_t>(kEvents));
  CHECK(sends.size() == static_cast<std::size_t>(kEvents));
  for (const auto& [id, count] : sends) {
    INFO(id);
    CHECK(count == 1);
  }
  // Both instances sent some: the claim is shared, not one instance's.
  const std::string log = server_a.Log() + server_b.Log();
  CHECK(server_a.Log().find("webhook delivery") != std::string::npos);
  CHECK(server_b.Log().find("webhook delivery") != std::string::npos);
  CHECK(log.find("fleet-secret") == std::string::npos);
}

TEST_CASE("kill -9 in the middle of a delivery: the restarted server sends it again",
          "[process][webhooks]") {
  market::testing::TempDir dir;
  const std::string database = "sqlite:" + (dir.path() / "market.db").string();
  std::mutex mutex;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> calls{0};
  // The first attempt hangs until the test ends; later ones are answered.
  FakeHttpServer receiver([&](const RecordedRequest&) {
    if (++calls == 1) {
      std::unique_lock lock(mutex);
      cv.wait_for(lock, 60s, [&] { return release; });
    }
    return FakeResponse{200};
  });
  Instance instance = InstanceOn(database, dir.path() / "workspace");
  std::string event_id;
  {
    ServerProcess server(instance.args);
    REQUIRE(Healthy(instance.port));
    NewGlobalPolicy(instance.port, receiver.Url());
    TestClient client(instance.port);
    REQUIRE(client.PostForm("/api/project/new", "projectName=killed&operator=ops").Code() ==
            10000);
    REQUIRE(market::testing::WaitFor([&] { return receiver.Requests().size() == 1; }, 30s));
    event_id = receiver.Requests()[0].Header("webhook-id");
    server.Signal(SIGKILL);
    REQUIRE(server.Wait(10s));
  }
  ServerProcess restarted(instance.args);
  REQUIRE(Healthy(instance.port));
  INFO(restarted.Log());
  // Under the same worker id (host and listen address), the restarted server releases what its
  // previous life held and sends it at once, not after the lease (2 x timeout + 10 s) ran out.
  REQUIRE(market::testing::WaitFor([&] { return receiver.Requests().size() >= 2; }, 60s));
  CHECK(restarted.Log().find("due again") != std::string::npos);
  CHECK(receiver.Requests()[1].Header("webhook-id") == event_id);
  CHECK(receiver.Requests()[1].body == receiver.Requests()[0].body);
  TestClient client(instance.port);
  Reply list = client.Get("/api/webhooks/list");
  REQUIRE(list.Code() == 10000);
  const std::int64_t policy = list.Json()["content"][0]["id"];
  REQUIRE(market::testing::WaitFor(
      [&] {
        Reply deliveries =
            client.Get("/api/webhooks/deliveries?id=" + std::to_string(policy));
        return deliveries.Code() == 10000 &&
               deliveries.Json()["content"]["deliveries"][0]["state"] == "delivered";
      },
      30s));
  {
    std::lock_guard lock(mutex);
    release = true;
  }
  cv.notify_all();
}

}  // namespace market::server::testing
