// Retention runs are rows in the database: two market-server processes on one PostgreSQL
// database queue a due schedule once and execute each queued run once.

#include <catch2/catch.hpp>

#include <string>
#include <thread>

#include "market/store.hpp"
#include "server_harness.hpp"
#include "support/ports.hpp"
#include "support/server_process.hpp"

namespace market::server::testing {
namespace {

using json = nlohmann::json;
using market::testing::ServerProcess;
using namespace std::chrono_literals;

std::vector<std::string> InstanceArgs(const std::string& database,
                                      const std::filesystem::path& workspace,
                                      std::uint16_t port) {
  return {"--listen",           "127.0.0.1:" + std::to_string(port),
          "--database",         database,
          "--workspace",        workspace.string(),
          "--registry",         "http://" + *market::testing::RegistryHost(),
          "--registry-kind",    "distribution",
          "--registry-insecure", "on",
          "--retention-poll",   "1",
          "--retention-max-deletes-per-minute", "0"};
}

int CountRunLines(const std::string& log, std::int64_t run) {
  const std::string needle = "retention: run " + std::to_string(run) + " of ";
  int count = 0;
  for (std::size_t at = log.find(needle); at != std::string::npos; at = log.find(needle, at + 1)) {
    ++count;
  }
  return count;
}

}  // namespace

TEST_CASE("two instances on one database queue a due schedule once and run each run once",
          "[process][retention][postgres]") {
  if (market::testing::AvailableBackends().size() < 2 || !market::testing::RegistryHost()) {
    WARN("MARKET_TEST_POSTGRES_URL or MARKET_TEST_REGISTRY is not set: skipping");
    return;
  }
  market::testing::TestDatabase database(market::testing::Backend::kPostgres);
  market::testing::TempDir workspace_a, workspace_b;
  const auto port_a = static_cast<std::uint16_t>(market::testing::FreeLoopbackPort());
  const auto port_b = static_cast<std::uint16_t>(market::testing::FreeLoopbackPort());
  ServerProcess server_a(InstanceArgs(database.url(), workspace_a.path(), port_a));
  ServerProcess server_b(InstanceArgs(database.url(), workspace_b.path(), port_b));
  TestClient client(port_a);

  Reply made = client.PostJson("/api/retention/new",
                               {{"cluster", "rt-fleet-empty"},
                                {"name", "hourly"},
                                {"schedule", "every 1h"},
                                {"rules", R"([{"keepLatest":1}])"},
                                {"operator", "root"}});
  INFO(made.body);
  REQUIRE(made.Code() == 10000);
  const std::int64_t set = made.Json()["content"]["id"];

  // Make the slot due now, as an hour passing would; both instances look every second.
  {
    auto stores = market::OpenStores({.url = database.url(), .pool_size = 1});
    REQUIRE(stores);
    auto rule_set = stores->retention->GetRuleSet(set).value();
    rule_set.next_run_at = market::SystemClock().Now();
    REQUIRE(stores->retention->UpdateRuleSet(rule_set));
  }
  json runs;
  REQUIRE(market::testing::WaitFor(
      [&] {
        runs = TestClient(port_b).Get("/api/retention/runs?ruleSet=" + std::to_string(set))
                   .Json()["content"];
        return runs.size() == 1 && runs[0]["state"] == "succeeded";
      },
      30s));
  CHECK(runs[0]["trigger"] == "schedule");
  // Several more polls of both instances: still one run for the slot, and the next slot is an
  // hour on.
  std::this_thread::sleep_for(3s);
  runs = client.Get("/api/retention/runs?ruleSet=" + std::to_string(set)).Json()["content"];
  CHECK(runs.size() == 1);
  const json stored = client.Get("/api/retention/get?id=" + std::to_string(set)).Json()["content"];
  CHECK(*ParseIso8601(stored["nextRunAt"].get<std::string>()) > SystemClock().Now() + 50min);

  // Runs started by hand on either instance: each executed by exactly one of them.
  std::vector<std::int64_t> started;
  for (int i = 0; i < 6; ++i) {
    Reply queued = TestClient(i % 2 == 0 ? port_a : port_b)
                       .PostJson("/api/retention/dryrun", {{"id", set}, {"operator", "root"}});
    REQUIRE(queued.Code() == 10000);
    started.push_back(queued.Json()["content"]["id"]);
  }
  REQUIRE(market::testing::WaitFor(
      [&] {
        for (auto id : started) {
          json run = client.Get("/api/retention/runs/get?id=" + std::to_string(id)).Json()["content"];
          if (run["state"] != "succeeded") return false;
        }
        return true;
      },
      60s));
  const std::string log_a = server_a.Log(), log_b = server_b.Log();
  for (auto id : started) {
    INFO("run " << id);
    CHECK(CountRunLines(log_a, id) + CountRunLines(log_b, id) == 1);
  }
  CHECK(CountRunLines(log_a, runs[0]["id"]) + CountRunLines(log_b, runs[0]["id"]) == 1);
}

}  // namespace market::server::testing
