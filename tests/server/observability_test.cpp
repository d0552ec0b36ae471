// /metrics, /readyz and /healthz through the real server, and the metrics of builds and registry
// calls against a real database and a real (throwaway) registry.

#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "auth.hpp"
#include "harbor_client/registry_process.hpp"
#include "market/harbor_client/registry_factory.hpp"
#include "market/store_monitor.hpp"
#include "metrics_service.hpp"
#include "server_harness.hpp"

namespace market::server {
namespace {

using market::testing::Backend;
using testing::TestClient;
using testing::TestServer;

// The value of the sample written exactly as `series` (name and labels); nullopt when absent.
std::optional<double> SampleValue(const std::string& text, const std::string& series) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  return std::nullopt;
}

// Every line is a comment or `name{labels} value`, the exposition format's grammar.
void CheckWellFormed(const std::string& text) {
  static const std::regex kSample(
      R"re([a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? (-?[0-9.e+-]+|\+Inf|-Inf|NaN))re");
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) continue;
    INFO("line: " << line);
    CHECK(std::regex_match(line, kSample));
  }
}

}  // namespace

TEST_CASE("/metrics counts requests by route pattern, method and status", "[metrics][api]") {
  TestServer server;
  TestClient client(server.port());
  for (int i = 0; i < 2; ++i) {
    REQUIRE(client.Get("/api/project/info?projectName=nosuch&token=s3cret").status == 404);
  }
  REQUIRE(client.Get("/healthz").status == 200);
  REQUIRE(client.Get("/no/such/path/12345").status == 404);
  REQUIRE(client.PostJson("/api/project/new", {{"projectName", "metered"}, {"operator", "root"}})
              .status == 200);

  testing::Reply reply = client.Get("/metrics");
  REQUIRE(reply.status == 200);
  CHECK(reply.Header("content-type") == "text/plain; version=0.0.4; charset=utf-8");
  const std::string& text = reply.body;
  CheckWellFormed(text);
  CHECK(SampleValue(text, R"(market_http_requests_total{method="GET",route="/api/project/info",status="404"})") == 2);
  CHECK(SampleValue(text, R"(market_http_request_duration_seconds_count{method="GET",route="/api/project/info",status="404"})") == 2);
  CHECK(SampleValue(text, R"(market_http_request_duration_seconds_bucket{method="GET",route="/api/project/info",status="404",le="+Inf"})") == 2);
  CHECK(SampleValue(text, R"(market_http_requests_total{method="GET",route="/healthz",status="200"})") == 1);
  CHECK(SampleValue(text, R"(market_http_requests_total{method="POST",route="/api/project/new",status="200"})") == 1);
  CHECK(SampleValue(text, R"(market_http_requests_total{method="-",route="unmatched",status="404"})") == 1);
  // Labels come from the route table: no raw path, query value or project name.
  CHECK(text.find("nosuch") == std::string::npos);
  CHECK(text.find("s3cret") == std::string::npos);
  CHECK(text.find("/no/such") == std::string::npos);
  CHECK(text.find("metered") == std::string::npos);

  // Scrape-time figures from the database and the pool.
  CHECK(SampleValue(text, "market_metrics_database_up") == 1);
  CHECK(SampleValue(text, R"(market_builds{state="queued"})") == 0);
  CHECK(SampleValue(text, R"(market_builds{state="running"})") == 0);
  CHECK(SampleValue(text, "market_build_queue_depth") == 0);
  CHECK(SampleValue(text, "market_db_pool_size").value_or(0) >= 4);
  // Read before the scrape's own query, so no session need be in use; the two add up.
  std::optional<double> in_use = SampleValue(text, R"(market_db_pool_sessions{state="in_use"})");
  std::optional<double> idle = SampleValue(text, R"(market_db_pool_sessions{state="idle"})");
  REQUIRE(in_use);
  REQUIRE(idle);
  CHECK(*in_use + *idle == SampleValue(text, "market_db_pool_size"));
  CHECK(SampleValue(text, R"(market_builds_finished_total{state="succeeded"})") == 0);
  CHECK(SampleValue(text, "market_build_workers") == 1);

  // The scrape itself shows up in the next one; counts only grow.
  std::string again = client.Get("/metrics").body;
  CHECK(SampleValue(again, R"(market_http_requests_total{method="GET",route="/metrics",status="200"})") == 1);
  CHECK(SampleValue(again, R"(market_http_requests_total{method="GET",route="/api/project/info",status="404"})") == 2);
}

TEST_CASE("/metrics counts a wrong method under the route's pattern with 405", "[metrics][api]") {
  TestServer server;
  TestClient client(server.port());
  REQUIRE(client.Request(boost::beast::http::verb::put, "/api/project/list").status == 405);
  REQUIRE(client.Request(boost::beast::http::verb::patch, "/api/project/list").status == 405);
  REQUIRE(client.Request(boost::beast::http::verb::get, "/api/project/new").status == 405);
  const std::string text = client.Get("/metrics").body;
  CheckWellFormed(text);
  CHECK(SampleValue(text, R"(market_http_requests_total{method="-",route="/api/project/list",status="405"})") == 2);
  CHECK(SampleValue(text, R"(market_http_requests_total{method="-",route="/api/project/new",status="405"})") == 1);
  CHECK_FALSE(SampleValue(text, R"(market_http_requests_total{method="-",route="unmatched",status="405"})"));
}

TEST_CASE("/metrics needs no credentials when authentication is on", "[metrics][api]") {
  market::testing::TempDir dir;
  Result<std::string> hash = HashPassword("correct horse");
  REQUIRE(hash);
  std::filesystem::path users = dir.path() / "users";
  {
    std::ofstream out(users);
    out << "alice:" << *hash << "\n";
  }
  TestServer server(Backend::kSqlite, [&](ServerConfig& config) {
    config.auth = true;
    config.auth_users_file = users.string();
  });
  // Authentication is really on: the API refuses a request without credentials.
  CHECK(testing::Call(server.port(), boost::beast::http::verb::get, "/api/project/list").status ==
        401);
  for (const std::string path : {"/metrics", "/healthz", "/readyz"}) {
    INFO(path);
    CHECK(testing::Call(server.port(), boost::beast::http::verb::get, path).status == 200);
  }
}

TEST_CASE("builds by state, durations and queue depth through the instrumented store",
          "[metrics]") {
  for (Backend backend : market::testing::AvailableBackends()) {
    DYNAMIC_SECTION(market::testing::ToString(backend)) {
      market::testing::TestDatabase database(backend);
      Result<Stores> stores = database.Open();
      REQUIRE(stores);
      ServiceMetrics service(MakeStoreMonitor(*stores), 2);
      std::unique_ptr<BuildStore> builds = service.Instrument(*stores->builds);

      Project project;
      project.name = "counted";
      project.creator = "root";
      project.last_modify_operator = "root";
      project.cluster = "default_cluster";
      REQUIRE(stores->projects->Insert(project));
      TimePoint t0 = TimePoint{std::chrono::milliseconds{1'700'000'000'000}};
      auto enqueue = [&](const std::string& tag) {
        Build build;
        build.project = "counted";
        build.tag = tag;
        build.operator_name = "root";
        build.image = "r/default_cluster/counted:" + tag;
        build.queued_at = t0;
        Result<Build> queued = builds->Enqueue(build);
        REQUIRE(queued);
        return *queued;
      };
      Build first = enqueue("v1");
      Build second = enqueue("v2");
      Build third = enqueue("v3");
      std::string text = service.Render();
      CHECK(SampleValue(text, "market_builds_enqueued_total") == 3);
      CHECK(SampleValue(text, R"(market_builds{state="queued"})") == 3);
      CHECK(SampleValue(text, "market_build_queue_depth") == 3);

      // One runs 90 s and succeeds; one queued is cancelled at once.
      Result<std::optional<Build>> claimed =
          builds->ClaimNext("w1", t0, t0 + std::chrono::seconds(30));
      REQUIRE(claimed);
      REQUIRE(claimed->has_value());
      text = service.Render();
      CHECK(SampleValue(text, R"(market_builds{state="queued"})") == 2);
      CHECK(SampleValue(text, R"(market_builds{state="running"})") == 1);
      BuildResult success;
      success.state = BuildState::kSucceeded;
      success.digest = "sha256:" + std::string(64, 'a');
      REQUIRE(builds->Finish((*claimed)->id, success, t0 + std::chrono::seconds(90)));
      REQUIRE(builds->RequestCancel(third.id, "no longer wanted", t0 + std::chrono::seconds(91)));
      (void)first;
      (void)second;

      text = service.Render();
      CHECK(SampleValue(text, R"(market_builds_finished_total{state="succeeded"})") == 1);
      CHECK(SampleValue(text, R"(market_builds_finished_total{state="cancelled"})") == 1);
      CHECK(SampleValue(text, R"(market_builds_finished_total{state="failed"})") == 0);
      CHECK(SampleValue(text, R"(market_build_duration_seconds_count{state="succeeded"})") == 1);
      CHECK(SampleValue(text, R"(market_build_duration_seconds_sum{state="succeeded"})") == 90);
      CHECK(SampleValue(text, R"(market_build_duration_seconds_bucket{state="succeeded",le="60"})") == 0);
      CHECK(SampleValue(text, R"(market_build_duration_seconds_bucket{state="succeeded",le="120"})") == 1);
      // Never started: no duration to observe.
      CHECK_FALSE(SampleValue(text, R"(market_build_duration_seconds_count{state="cancelled"})"));
      CHECK(SampleValue(text, R"(market_builds{state="queued"})") == 1);
      CHECK(SampleValue(text, R"(market_builds{state="running"})") == 0);
      CHECK(SampleValue(text, R"(market_db_pool_sessions{state="in_use"})") == 0);
    }
  }
}

TEST_CASE("/readyz fails while the registry is down, /healthz stays up", "[metrics][api][registry]") {
  auto registry = std::make_unique<market::testing::RegistryProcess>(
      market::testing::RegistryProcess::Options{});
  std::string url = registry->Url();
  TestServer server(Backend::kSqlite, [&](ServerConfig& config) {
    config.registry_url = url;
    config.registry_kind = "distribution";
    config.registry_insecure = true;
  });
  TestClient client(server.port());
  testing::Reply ready = client.Get("/readyz");
  INFO(ready.body);
  REQUIRE(ready.status == 200);
  CHECK(ready.Json()["checks"]["registry"] == "ok");
  CHECK(ready.Json()["checks"]["database"] == "ok");

  registry.reset();  // stops the registry process
  // /readyz answers from a result at most a second old: wait for the next one.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  testing::Reply down = client.Get("/readyz");
  INFO(down.body);
  CHECK(down.status == 503);
  CHECK(down.Json()["status"] == "not ready");
  CHECK(down.Json()["checks"]["database"] == "ok");
  CHECK(down.Json()["checks"]["registry"] != "ok");
  CHECK(client.Get("/healthz").status == 200);

  std::string text = client.Get("/metrics").body;
  CHECK(SampleValue(text, R"(market_registry_requests_total{operation="ping"})") == 2);
  CHECK(SampleValue(text, R"(market_registry_request_duration_seconds_count{operation="ping"})") == 2);
  std::regex error_line(R"re(market_registry_errors_total\{operation="ping",code="100\d\d"\} 1)re");
  CHECK(std::regex_search(text, error_line));
  CHECK(SampleValue(text, R"(market_http_requests_total{method="GET",route="/readyz",status="503"})") == 1);
}

TEST_CASE("/readyz fails while the database is unreachable and recovers", "[metrics][api][postgres]") {
  if (!market::testing::PostgresUrl()) {
    WARN("MARKET_TEST_POSTGRES_URL is not set: skipping the unreachable-database test");
    return;
  }
  market::testing::TestDatabase database(Backend::kPostgres);
  TestServer server(Backend::kSqlite, [&](ServerConfig& config) {
    config.database = database.url();
  });
  TestClient client(server.port());
  REQUIRE(client.Get("/readyz").status == 200);

  // No new connections, and the server's are cut: as good as a database that went away.
  const std::string name = database.database_name();
  database.AdminExec(fmt::format("ALTER DATABASE {} ALLOW_CONNECTIONS false", name));
  database.AdminExec(fmt::format(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}'", name));
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // past the cached answer
  testing::Reply down = client.Get("/readyz");
  INFO(down.body);
  CHECK(down.status == 503);
  CHECK(down.Json()["checks"]["database"] != "ok");
  CHECK(client.Get("/healthz").status == 200);
  testing::Reply scrape = client.Get("/metrics");
  CHECK(scrape.status == 200);  // metrics stay readable: that is when they matter
  CHECK(SampleValue(scrape.body, "market_metrics_database_up") == 0);

  database.AdminExec(fmt::format("ALTER DATABASE {} ALLOW_CONNECTIONS true", name));
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  testing::Reply back = client.Get("/readyz");
  INFO(back.body);
  CHECK(back.status == 200);
}

}  // namespace market::server
