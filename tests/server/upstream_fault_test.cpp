// The registry endpoints when the registry is down or hangs: a clear code and HTTP 502/504
// within the configured timeout, while the rest of the server keeps answering.

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "server_harness.hpp"
#include "support/ports.hpp"

namespace market::server::testing {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

// Accepts connections and never answers: a registry that hangs.
class SilentUpstream {
 public:
  SilentUpstream()
      : acceptor_(io_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)),
        thread_([this] {
          while (!stopping_) {
            tcp::socket socket(io_);
            boost::system::error_code ec;
            acceptor_.accept(socket, ec);
            if (!ec) held_.push_back(std::move(socket));
          }
        }) {}
  ~SilentUpstream() {
    stopping_ = true;
    // Wake the blocking accept with one last connection.
    net::io_context io;
    tcp::socket poke(io);
    boost::system::error_code ec;
    poke.connect(acceptor_.local_endpoint(), ec);
    thread_.join();
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

 private:
  net::io_context io_;
  tcp::acceptor acceptor_;
  std::atomic<bool> stopping_{false};
  std::vector<tcp::socket> held_;
  std::thread thread_;
};

void PointAt(ServerConfig& config, std::uint16_t port, int timeout_seconds) {
  config.registry_url = "http://127.0.0.1:" + std::to_string(port);
  config.registry_kind = "distribution";
  config.registry_insecure = true;
  config.registry_timeout = std::chrono::seconds(timeout_seconds);
}

const std::vector<std::string> kRegistryReads = {
    "/projects?page=1&page_size=10", "/repositories?project_id=1",
    "/repositories/tags?repo_name=base/busybox",
    "/repositories/manifests?repo_name=base/busybox&tag=latest"};

}  // namespace

TEST_CASE("registry down: registry endpoints answer 502 at once, the server stays healthy",
          "[api][registry][fault]") {
  // Nothing listens there: it was bound once, then released.
  const auto port = static_cast<std::uint16_t>(market::testing::FreeLoopbackPort());
  TestServer server(market::testing::Backend::kSqlite,
                    [&](ServerConfig& config) { PointAt(config, port, 5); });
  TestClient client(server.port());
  for (const auto& target : kRegistryReads) {
    INFO(target);
    const auto start = Clock::now();
    Reply reply = client.Get(target);
    CHECK(Clock::now() - start < std::chrono::seconds(5));  // refused, not waited out
    CHECK(reply.status == 502);
    CHECK(reply.Code() == 10014);
    CHECK_THAT(reply.Json()["errMsg"].get<std::string>(), Catch::Contains("127.0.0.1"));
  }
  Reply removed = client.Request(http::verb::delete_, "/repositories",
                                 R"({"repoName": "1", "projectName": "base/busybox"})",
                                 "application/json");
  CHECK(removed.status == 502);
  CHECK(removed.Json()["code"] != 0);
  CHECK(client.Get("/healthz").status == 200);
  CHECK(client.Get("/readyz").status == 503);
  CHECK(client.Get("/api/project/list").Code() == 10000);
}

TEST_CASE("registry hangs: 504 within the timeout while other requests are served",
          "[api][registry][fault]") {
  SilentUpstream upstream;
  constexpr int kTimeoutSeconds = 2;
  TestServer server(market::testing::Backend::kSqlite, [&](ServerConfig& config) {
    PointAt(config, upstream.port(), kTimeoutSeconds);
  });
  // Several hung calls at once, each on its own connection.
  std::vector<std::future<std::pair<Reply, Clock::duration>>> hung;
  for (const auto& target : kRegistryReads) {
    hung.push_back(std::async(std::launch::async, [&server, target] {
      TestClient slow(server.port());
      const auto start = Clock::now();
      Reply reply = slow.Get(target);
      return std::make_pair(reply, Clock::now() - start);
    }));
  }
  // Meanwhile the project API and the liveness check answer.
  TestClient client(server.port());
  REQUIRE(client.PostJson("/api/project/new", {{"projectName", "alive"}, {"operator", "r"}})
              .Code() == 10000);
  CHECK(client.Get("/api/project/info?projectName=alive").Code() == 10000);
  CHECK(client.Get("/healthz").status == 200);
  for (auto& call : hung) {
    auto [reply, took] = call.get();
    INFO(reply.body);
    CHECK(reply.status == 504);
    CHECK(reply.Code() == 10015);
    // Timeouts are not retried: one timeout's wait, plus scheduling slack on a busy machine.
    CHECK(took >= std::chrono::seconds(kTimeoutSeconds));
    CHECK(took < std::chrono::seconds(kTimeoutSeconds * 3));
  }
  CHECK(client.Get("/healthz").status == 200);
}

}  // namespace market::server::testing
