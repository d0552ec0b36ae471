// The RetentionStore contract (rule sets; runs queued, claimed once, leased and finished), run
// against every available backend.

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "market/retention_store.hpp"
#include "market/store.hpp"
#include "store_contract_support.hpp"
#include "support/test_stores.hpp"

using market::Errc;
using market::RetentionItem;
using market::RetentionRepositorySummary;
using market::RetentionRule;
using market::RetentionRuleSet;
using market::RetentionRun;
using market::RetentionRunState;
using market::TimePoint;
using market::testing::OpenOrFail;
using market::testing::PickBackend;
using market::testing::TestDatabase;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

const TimePoint kT0{milliseconds{1'790'000'000'000}};

RetentionRuleSet MakeSet(const std::string& cluster, const std::string& name) {
  RetentionRuleSet set;
  set.cluster = cluster;
  set.name = name;
  set.schedule = "every 1h";
  set.next_run_at = kT0 + seconds(3600);
  set.rules = {RetentionRule{"web*", R"(v\d+)", "", 3, 0},
               RetentionRule{"", "", "dev-.*", 0, 14}};
  set.creator = "root";
  return set;
}

}  // namespace

TEST_CASE("Retention rule sets are stored whole, unique by cluster and name", "[sql][retention]") {
  TestDatabase db(PickBackend());
  auto stores = OpenOrFail(db);
  auto& store = *stores.retention;
  auto made = store.CreateRuleSet(MakeSet("team", "b-set"));
  REQUIRE(made);
  CHECK(made->id > 0);
  CHECK(made->rules == MakeSet("team", "b-set").rules);
  CHECK(made->next_run_at == kT0 + seconds(3600));
  CHECK(store.GetRuleSet(made->id).value() == *made);
  REQUIRE(store.CreateRuleSet(MakeSet("team", "a-set")));
  REQUIRE(store.CreateRuleSet(MakeSet("other", "b-set")));  // another cluster: fine
  auto taken = store.CreateRuleSet(MakeSet("team", "b-set"));
  REQUIRE_FALSE(taken);
  CHECK(taken.error().code == Errc::kAlreadyExists);

  auto team = store.ListRuleSets("team");
  REQUIRE(team);
  REQUIRE(team->size() == 2);
  CHECK((*team)[0].name == "a-set");
  CHECK(store.ListRuleSets("").value().size() == 3);

  RetentionRuleSet changed = *made;
  changed.name = "c-set";
  changed.enabled = false;
  changed.schedule = "";
  changed.next_run_at.reset();
  changed.rules = {RetentionRule{"", "", "", 1, 0}};
  auto updated = store.UpdateRuleSet(changed);
  REQUIRE(updated);
  CHECK(updated->name == "c-set");
  CHECK_FALSE(updated->enabled);
  CHECK_FALSE(updated->next_run_at);
  CHECK(updated->rules == changed.rules);
  changed.name = "a-set";
  CHECK(store.UpdateRuleSet(changed).error().code == Errc::kAlreadyExists);

  REQUIRE(store.DeleteRuleSet(made->id));
  CHECK(store.GetRuleSet(made->id).error().code == Errc::kNotFound);
  CHECK(store.DeleteRuleSet(made->id).error().code == Errc::kNotFound);
  changed.id = made->id;
  CHECK(store.UpdateRuleSet(changed).error().code == Errc::kNotFound);
}

TEST_CASE("A retention run is claimed by one worker, leased, and finished by its holder only",
          "[sql][retention]") {
  TestDatabase db(PickBackend());
  auto stores = OpenOrFail(db);
  auto& store = *stores.retention;
  auto set = store.CreateRuleSet(MakeSet("team", "weekly")).value();
  auto queued = store.QueueRun(set.id, true, "manual", "ada", kT0);
  REQUIRE(queued);
  CHECK(queued->state == RetentionRunState::kQueued);
  CHECK(queued->cluster == "team");
  CHECK(queued->rule_set == "weekly");
  CHECK(queued->dry_run);
  CHECK(store.QueueRun(set.id + 1000, false, "manual", "ada", kT0).error().code ==
        Errc::kNotFound);

  auto claimed = store.ClaimRun("w1", kT0, kT0 + seconds(60));
  REQUIRE(claimed);
  REQUIRE(*claimed);
  CHECK((*claimed)->id == queued->id);
  CHECK((*claimed)->state == RetentionRunState::kRunning);
  CHECK_FALSE(store.ClaimRun("w2", kT0 + seconds(1), kT0 + seconds(61)).value());
  CHECK(store.RenewLease(queued->id, "w1", kT0 + seconds(120)).value());
  CHECK_FALSE(store.RenewLease(queued->id, "w2", kT0 + seconds(120)).value());

  // The lease ran out: another worker takes the run over; the first can no longer finish it.
  auto taken = store.ClaimRun("w2", kT0 + seconds(121), kT0 + seconds(181));
  REQUIRE(taken.value());
  CHECK((*taken)->id == queued->id);

  RetentionRun done = **taken;
  done.state = RetentionRunState::kSucceeded;
  done.repositories = {RetentionRepositorySummary{"team/web", 3, 2, 1, 0, 4096, ""}};
  done.items = {RetentionItem{"team/web", "v1", "sha256:aa", kT0, false, "no rule keeps it", ""},
                RetentionItem{"team/web", "v2", "sha256:bb", std::nullopt, true, "rule 1", ""}};
  CHECK_FALSE(store.FinishRun(done, "w1", kT0 + seconds(130)).value());
  CHECK(store.FinishRun(done, "w2", kT0 + seconds(130)).value());
  auto stored = store.GetRun(queued->id);
  REQUIRE(stored);
  CHECK(stored->state == RetentionRunState::kSucceeded);
  CHECK(stored->finished_at == kT0 + seconds(130));
  CHECK(stored->repositories == done.repositories);
  CHECK(stored->items == done.items);
  // Finished: nothing left to claim or renew.
  CHECK_FALSE(store.ClaimRun("w3", kT0 + seconds(999), kT0 + seconds(1999)).value());
  CHECK_FALSE(store.RenewLease(queued->id, "w2", kT0 + seconds(999)).value());

  auto second = store.QueueRun(set.id, false, "manual", "ada", kT0 + seconds(200)).value();
  auto runs = store.ListRuns(set.id, 10);
  REQUIRE(runs);
  REQUIRE(runs->size() == 2);
  CHECK((*runs)[0].id == second.id);  // newest first
  CHECK((*runs)[1].items.empty());    // lists carry no items
  CHECK(store.ListRuns(0, 1).value().size() == 1);
  CHECK(store.ListRuns(set.id + 1000, 10).value().empty());
  // Deleting the set keeps its runs' history.
  REQUIRE(store.DeleteRuleSet(set.id));
  CHECK(store.GetRun(queued->id));
}

TEST_CASE("A scheduled slot queues one run however many instances see it due",
          "[sql][retention]") {
  TestDatabase db(PickBackend());
  auto stores = OpenOrFail(db);
  auto& store = *stores.retention;
  auto set = store.CreateRuleSet(MakeSet("team", "hourly")).value();
  const TimePoint due = *set.next_run_at;
  std::atomic<int> queued{0};
  std::vector<std::thread> instances;
  for (int i = 0; i < 4; ++i) {
    instances.emplace_back([&] {
      auto run = store.QueueScheduled(set.id, due, due + seconds(3600), due);
      if (run && *run) ++queued;
    });
  }
  for (auto& t : instances) t.join();
  CHECK(queued == 1);
  CHECK(store.GetRuleSet(set.id).value().next_run_at == due + seconds(3600));
  auto runs = store.ListRuns(set.id, 10).value();
  REQUIRE(runs.size() == 1);
  CHECK(runs[0].trigger == "schedule");
  CHECK_FALSE(runs[0].dry_run);

  // A disabled set queues nothing.
  auto disabled = store.GetRuleSet(set.id).value();
  disabled.enabled = false;
  REQUIRE(store.UpdateRuleSet(disabled));
  CHECK_FALSE(store.QueueScheduled(set.id, due + seconds(3600), due + seconds(7200), due)
                  .value());
}

TEST_CASE("Concurrent claims take each queued retention run once", "[sql][retention]") {
  TestDatabase db(PickBackend());
  auto stores = OpenOrFail(db);
  auto& store = *stores.retention;
  auto set = store.CreateRuleSet(MakeSet("team", "many")).value();
  for (int i = 0; i < 6; ++i) REQUIRE(store.QueueRun(set.id, true, "manual", "ada", kT0));
  std::mutex mu;
  std::multiset<std::int64_t> seen;
  std::vector<std::thread> workers;
  for (int w = 0; w < 3; ++w) {
    workers.emplace_back([&, w] {
      while (true) {
        auto run = store.ClaimRun("w" + std::to_string(w), kT0, kT0 + seconds(600));
        if (!run || !*run) break;
        std::lock_guard lock(mu);
        seen.insert((*run)->id);
      }
    });
  }
  for (auto& t : workers) t.join();
  CHECK(seen.size() == 6);
  CHECK(std::set<std::int64_t>(seen.begin(), seen.end()).size() == 6);
}
