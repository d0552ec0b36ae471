// The TriggerStore contract, and what the build store keeps of a trigger (its fields, and one
// build per event), run against every available backend.

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "market/store.hpp"
#include "market/trigger_store.hpp"
#include "store_contract_support.hpp"
#include "support/test_stores.hpp"

using market::Build;
using market::BuildTrigger;
using market::BuildTriggerRule;
using market::Errc;
using market::TimePoint;
using market::testing::AddProject;
using market::testing::OpenOrFail;
using market::testing::PickBackend;
using market::testing::TestDatabase;

namespace {

const TimePoint kT0{std::chrono::milliseconds{1'790'000'000'000}};
const std::string kSha = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";

BuildTriggerRule MakeRule(const std::string& project, const std::string& name) {
  BuildTriggerRule rule;
  rule.project = project;
  rule.name = name;
  rule.secret = "s3cret";
  rule.branches = "release/.*";
  rule.tags = R"(v\d+)";
  rule.tag_templates = {"${branch}-${short_sha}", "${tag}"};
  rule.latest = false;
  rule.default_branch = "trunk";
  rule.creator = "alice";
  return rule;
}

Build TriggeredBuild(std::int64_t trigger_id, const std::string& delivery, const std::string& tag) {
  Build b;
  b.project = "web";
  b.tag = tag;
  b.operator_name = "alice";
  b.image = "registry.test/team/web:" + tag;
  b.queued_at = kT0;
  b.extra_tags = {"latest", "stable"};
  b.trigger = BuildTrigger{"git-push", trigger_id, "refs/heads/main", kSha,
                           "https://git.test/web.git", delivery};
  return b;
}

}  // namespace

TEST_CASE("Triggers are stored whole and listed by project and name", "[sql][triggers]") {
  TestDatabase db(PickBackend());
  auto stores = OpenOrFail(db);
  AddProject(*stores.projects, "web");
  AddProject(*stores.projects, "api");
  auto made = stores.triggers->Create(MakeRule("web", "b-rule"));
  REQUIRE(made);
  CHECK(made->id > 0);
  CHECK(made->tag_templates == std::vector<std::string>{"${branch}-${short_sha}", "${tag}"});
  CHECK(made->default_branch == "trunk");
  CHECK_FALSE(made->latest);
  CHECK(made->enabled);
  CHECK(made->consecutive_failures == 0);
  REQUIRE(stores.triggers->Create(MakeRule("web", "a-rule")));
  REQUIRE(stores.triggers->Create(MakeRule("api", "c-rule")));
  CHECK(stores.triggers->Get(made->id).value() == *made);

  auto web = stores.triggers->List("web");
  REQUIRE(web);
  REQUIRE(web->size() == 2);
  CHECK((*web)[0].name == "a-rule");
  CHECK(stores.triggers->List("").value().size() == 3);

  auto clash = stores.triggers->Create(MakeRule("web", "a-rule"));
  REQUIRE_FALSE(clash);
  CHECK(clash.error().code == Errc::kAlreadyExists);
  CHECK(stores.triggers->Create(MakeRule("nope", "x")).error().code ==
        Errc::kBuildProjectMissing);

  BuildTriggerRule changed = *made;
  changed.name = "renamed";
  changed.tag_templates = {};
  changed.secret = "n3w";
  auto updated = stores.triggers->Update(changed);
  REQUIRE(updated);
  CHECK(updated->name == "renamed");
  CHECK(updated->tag_templates.empty());
  CHECK(updated->secret == "n3w");
  changed.name = "a-rule";
  CHECK(stores.triggers->Update(changed).error().code == Errc::kAlreadyExists);

  REQUIRE(stores.triggers->Delete(made->id));
  CHECK(stores.triggers->Delete(made->id).error().code == Errc::kNotFound);
  // Deleting a project deletes its triggers.
  REQUIRE(stores.projects->Remove("api"));
  CHECK(stores.triggers->List("api").value().empty());
}

TEST_CASE("Failures in a row disable a trigger and enabling clears them", "[sql][triggers]") {
  TestDatabase db(PickBackend());
  auto stores = OpenOrFail(db);
  AddProject(*stores.projects, "web");
  auto rule = stores.triggers->Create(MakeRule("web", "r")).value();
  auto& triggers = *stores.triggers;
  CHECK(triggers.RecordBuildEnd(rule.id, false, 3, "too many", kT0).value().consecutive_failures ==
        1);
  CHECK(triggers.RecordBuildEnd(rule.id, true, 3, "too many", kT0).value().consecutive_failures ==
        0);
  triggers.RecordBuildEnd(rule.id, false, 3, "too many", kT0).value();
  triggers.RecordBuildEnd(rule.id, false, 3, "too many", kT0).value();
  auto third = triggers.RecordBuildEnd(rule.id, false, 3, "too many", kT0);
  REQUIRE(third);
  CHECK_FALSE(third->enabled);
  CHECK(third->disabled_reason == "too many");
  // A fourth keeps the first reason.
  CHECK(triggers.RecordBuildEnd(rule.id, false, 3, "later", kT0).value().disabled_reason ==
        "too many");
  BuildTriggerRule on = *third;
  on.enabled = true;
  auto enabled = triggers.Update(on);
  REQUIRE(enabled);
  CHECK(enabled->consecutive_failures == 0);
  CHECK(enabled->disabled_reason.empty());
  // 0: never disabled.
  for (int i = 0; i < 5; ++i) triggers.RecordBuildEnd(rule.id, false, 0, "x", kT0).value();
  CHECK(triggers.Get(rule.id).value().enabled);
  CHECK(triggers.RecordBuildEnd(rule.id + 99, false, 3, "x", kT0).error().code ==
        Errc::kNotFound);
}

TEST_CASE("Received events are kept newest first, per trigger, the newest N", "[sql][triggers]") {
  TestDatabase db(PickBackend());
  auto stores = OpenOrFail(db);
  AddProject(*stores.projects, "web");
  auto& triggers = *stores.triggers;
  auto one = triggers.Create(MakeRule("web", "one")).value();
  auto two = triggers.Create(MakeRule("web", "two")).value();
  auto delivery = [&](std::int64_t trigger_id, int n) {
    market::TriggerDelivery d;
    d.trigger_id = trigger_id;
    d.received_at = kT0 + std::chrono::seconds(n);
    d.host = "gitlab";
    d.event = "push";
    d.delivery_id = "uuid-" + std::to_string(n);
    d.ref = "refs/heads/main";
    d.sha = kSha;
    d.outcome = n % 2 == 0 ? "queued" : "skipped";
    d.reason = n % 2 == 0 ? "" : "no rule matches";
    d.build_id = n % 2 == 0 ? 40 + n : 0;
    return d;
  };
  auto first = triggers.RecordDelivery(delivery(one.id, 1), 3);
  REQUIRE(first);
  CHECK(first->id > 0);
  market::TriggerDelivery expected = delivery(one.id, 1);
  expected.id = first->id;
  CHECK(*first == expected);
  for (int n = 2; n <= 5; ++n) REQUIRE(triggers.RecordDelivery(delivery(one.id, n), 3));
  REQUIRE(triggers.RecordDelivery(delivery(two.id, 9), 3));

  auto kept = triggers.ListDeliveries(one.id, 100);
  REQUIRE(kept);
  REQUIRE(kept->size() == 3);  // 5, 4, 3: the two oldest went
  CHECK((*kept)[0].delivery_id == "uuid-5");
  CHECK((*kept)[2].delivery_id == "uuid-3");
  CHECK((*kept)[1] == [&] {
    auto d = delivery(one.id, 4);
    d.id = (*kept)[1].id;
    return d;
  }());
  CHECK(triggers.ListDeliveries(one.id, 2).value().size() == 2);
  CHECK(triggers.ListDeliveries(two.id, 100).value().size() == 1);

  // Text from outside is stored as valid UTF-8.
  auto odd = delivery(two.id, 10);
  odd.ref = std::string("refs/heads/\xff\0x", 15);
  auto stored = triggers.RecordDelivery(odd, 3);
  REQUIRE(stored);
  CHECK(triggers.ListDeliveries(two.id, 1).value().front().ref == stored->ref);
  CHECK(stored->ref.find('\0') == std::string::npos);

  CHECK(triggers.RecordDelivery(delivery(two.id + 99, 1), 3).error().code == Errc::kNotFound);
  // Deleting a trigger deletes what it received.
  REQUIRE(triggers.Delete(one.id));
  CHECK(triggers.ListDeliveries(one.id, 100).value().empty());
}

TEST_CASE("Builds keep their trigger and extra tags", "[sql][triggers]") {
  TestDatabase db(PickBackend());
  auto stores = OpenOrFail(db);
  AddProject(*stores.projects, "web");
  auto queued = stores.builds->Enqueue(TriggeredBuild(7, "d-1", "4b825dc"));
  REQUIRE(queued);
  CHECK(queued->trigger == TriggeredBuild(7, "d-1", "4b825dc").trigger);
  CHECK(queued->extra_tags == std::vector<std::string>{"latest", "stable"});
  CHECK(stores.builds->Get(queued->id).value() == *queued);
  // A build a person asked for has none.
  Build manual = TriggeredBuild(0, "", "v1");
  manual.trigger = {};
  manual.extra_tags = {};
  auto plain = stores.builds->Enqueue(manual);
  REQUIRE(plain);
  CHECK(plain->trigger.empty());
  CHECK(plain->extra_tags.empty());
}

TEST_CASE("One build per trigger event: by delivery id, or by commit and tag", "[sql][triggers]") {
  TestDatabase db(PickBackend());
  auto stores = OpenOrFail(db);
  AddProject(*stores.projects, "web");
  auto& builds = *stores.builds;
  auto first = builds.Enqueue(TriggeredBuild(7, "d-1", "4b825dc"));
  REQUIRE(first);

  CHECK(builds.FindTriggered(TriggeredBuild(7, "d-1", "other")).value()->id == first->id);
  CHECK(builds.FindTriggered(TriggeredBuild(7, "d-2", "4b825dc")).value()->id == first->id);
  CHECK_FALSE(builds.FindTriggered(TriggeredBuild(8, "d-1", "4b825dc")).value());
  CHECK_FALSE(builds.FindTriggered(TriggeredBuild(7, "d-2", "other")).value());

  auto same_delivery = builds.Enqueue(TriggeredBuild(7, "d-1", "other"));
  REQUIRE_FALSE(same_delivery);
  CHECK(same_delivery.error().code == Errc::kAlreadyExists);
  auto same_commit = builds.Enqueue(TriggeredBuild(7, "d-2", "4b825dc"));
  REQUIRE_FALSE(same_commit);
  CHECK(same_commit.error().code == Errc::kAlreadyExists);
  // Another trigger, or a manual start of the same commit, builds again.
  CHECK(builds.Enqueue(TriggeredBuild(8, "d-1", "4b825dc")));
  Build start = TriggeredBuild(7, "", "4b825dc");
  start.trigger.kind = "start";
  CHECK(builds.Enqueue(start));
  CHECK(builds.Enqueue(start));
}

TEST_CASE("Two callers queueing one event at once queue one build", "[sql][triggers]") {
  TestDatabase db(PickBackend());
  auto stores = OpenOrFail(db);
  AddProject(*stores.projects, "web");
  std::atomic<int> queued{0}, duplicates{0}, other{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&] {
      auto result = stores.builds->Enqueue(TriggeredBuild(7, "d-race", "4b825dc"));
      if (result) {
        ++queued;
      } else if (result.error().code == Errc::kAlreadyExists) {
        ++duplicates;
      } else {
        ++other;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(queued == 1);
  CHECK(duplicates == 5);
  CHECK(other == 0);
  CHECK(stores.builds->QueueDepth().value() == 1);
}
