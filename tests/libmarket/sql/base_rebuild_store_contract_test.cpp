// The BaseRebuildStore contract and the base images of builds, run against every available
// backend.

#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "market/base_rebuild_store.hpp"
#include "market/build_store.hpp"
#include "market/store.hpp"
#include "store_contract_support.hpp"
#include "support/test_stores.hpp"

using market::BaseImage;
using market::BaseRebuildClaim;
using market::Build;
using market::Errc;
using market::TimePoint;
using market::testing::AddProject;
using market::testing::OpenOrFail;
using market::testing::PickBackend;
using market::testing::TestDatabase;

namespace {

const TimePoint kT0{std::chrono::milliseconds{1'790'000'000'000}};

std::string Digest(int n) {
  std::string hex = std::to_string(n);
  return "sha256:" + std::string(64 - hex.size(), '0') + hex;
}

Build Queued(const std::string& project, TimePoint at) {
  Build build;
  build.project = project;
  build.tag = "latest";
  build.operator_name = "alice";
  build.image = "registry.test/team/" + project + ":latest";
  build.queued_at = at;
  return build;
}

BaseRebuildClaim ClaimOf(const std::string& project, const std::string& new_digest) {
  BaseRebuildClaim claim;
  claim.project = project;
  claim.base_image = "registry.test/team/a:latest";
  claim.old_digest = Digest(1);
  claim.new_digest = new_digest;
  claim.cause_build_id = 7;
  claim.created_at = kT0;
  return claim;
}

}  // namespace

TEST_CASE("Builds keep their base images and base-image trigger", "[sql][base-rebuild]") {
  TestDatabase db(PickBackend());
  auto stores = OpenOrFail(db);
  AddProject(*stores.projects, "b");
  Build build = Queued("b", kT0);
  build.trigger.kind = "base-image";
  build.trigger.base_image = "registry.test/team/a:latest";
  build.trigger.old_digest = Digest(1);
  build.trigger.new_digest = Digest(2);
  build.trigger.cause_build_id = 41;
  auto queued = stores.builds->Enqueue(build);
  REQUIRE(queued);
  CHECK(queued->trigger == build.trigger);
  CHECK(queued->base_images.empty());

  const std::vector<BaseImage> bases = {{"registry.test/team/a:latest", Digest(2)},
                                        {"golang:1.22 'quoted' \"too\"", ""}};
  REQUIRE(stores.builds->RecordBaseImages(queued->id, bases));
  auto read = stores.builds->Get(queued->id);
  REQUIRE(read);
  CHECK(read->base_images == bases);
  CHECK(read->trigger == build.trigger);
  market::BuildFilter filter;
  filter.project = "b";
  auto listed = stores.builds->List(filter);
  REQUIRE(listed);
  REQUIRE(listed->size() == 1);
  CHECK(listed->front().base_images == bases);

  auto missing = stores.builds->RecordBaseImages(queued->id + 100, bases);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == Errc::kBuildNotFound);
}

TEST_CASE("The opt-in is off until set, per project, and goes with its project",
          "[sql][base-rebuild]") {
  TestDatabase db(PickBackend());
  auto stores = OpenOrFail(db);
  AddProject(*stores.projects, "a");
  AddProject(*stores.projects, "b");
  auto off = stores.base_rebuilds->GetSetting("a");
  REQUIRE(off);
  CHECK(off->project == "a");
  CHECK_FALSE(off->enabled);
  CHECK_FALSE(off->updated_at);

  auto on = stores.base_rebuilds->SetSetting("a", true, "alice", kT0);
  REQUIRE(on);
  CHECK(on->enabled);
  auto again = stores.base_rebuilds->SetSetting("b", true, "bob", kT0);
  REQUIRE(again);
  REQUIRE(stores.base_rebuilds->SetSetting("b", false, "carol", kT0 + std::chrono::seconds(1)));
  auto b = stores.base_rebuilds->GetSetting("b");
  REQUIRE(b);
  CHECK_FALSE(b->enabled);
  CHECK(b->operator_name == "carol");
  CHECK(b->updated_at == kT0 + std::chrono::seconds(1));

  auto enabled = stores.base_rebuilds->Enabled();
  REQUIRE(enabled);
  REQUIRE(enabled->size() == 1);
  CHECK(enabled->front().project == "a");
  CHECK(enabled->front().operator_name == "alice");

  auto nobody = stores.base_rebuilds->SetSetting("nosuch", true, "alice", kT0);
  REQUIRE_FALSE(nobody);
  CHECK(nobody.error().code == Errc::kBuildProjectMissing);
  CHECK(stores.base_rebuilds->GetSetting("nosuch").error().code == Errc::kBuildProjectMissing);

  REQUIRE(stores.projects->Remove("a"));
  enabled = stores.base_rebuilds->Enabled();
  REQUIRE(enabled);
  CHECK(enabled->empty());
}

TEST_CASE("A base change is claimed once, also by racing callers", "[sql][base-rebuild]") {
  TestDatabase db(PickBackend());
  auto stores = OpenOrFail(db);
  AddProject(*stores.projects, "b");
  AddProject(*stores.projects, "c");

  BaseRebuildClaim first = ClaimOf("b", Digest(2));
  auto claimed = stores.base_rebuilds->Claim(first);
  REQUIRE(claimed);
  CHECK(*claimed);
  CHECK(first.id > 0);
  BaseRebuildClaim repeat = ClaimOf("b", Digest(2));
  auto again = stores.base_rebuilds->Claim(repeat);
  REQUIRE(again);
  CHECK_FALSE(*again);
  // Another project, or another new digest, is another change.
  BaseRebuildClaim other_project = ClaimOf("c", Digest(2));
  CHECK(stores.base_rebuilds->Claim(other_project).value());
  BaseRebuildClaim newer = ClaimOf("b", Digest(3));
  CHECK(stores.base_rebuilds->Claim(newer).value());

  REQUIRE(stores.base_rebuilds->SetOutcome(first.id, 12, "queued"));
  auto claims = stores.base_rebuilds->Claims("b", 10);
  REQUIRE(claims);
  REQUIRE(claims->size() == 2);
  CHECK(claims->at(0).id == newer.id);  // newest first
  CHECK(claims->at(1).build_id == 12);
  CHECK(claims->at(1).outcome == "queued");
  CHECK(claims->at(1).old_digest == Digest(1));
  CHECK(claims->at(1).new_digest == Digest(2));
  CHECK(claims->at(1).cause_build_id == 7);
  CHECK(claims->at(1).created_at == kT0);
  CHECK(stores.base_rebuilds->SetOutcome(first.id + 100, 1, "x").error().code == Errc::kNotFound);

  // A released claim may be made again (its rebuild failed to queue for a passing reason).
  REQUIRE(stores.base_rebuilds->Release(newer.id));
  BaseRebuildClaim retry = ClaimOf("b", Digest(3));
  CHECK(stores.base_rebuilds->Claim(retry).value());

  BaseRebuildClaim nobody = ClaimOf("nosuch", Digest(2));
  CHECK(stores.base_rebuilds->Claim(nobody).error().code == Errc::kBuildProjectMissing);

  SECTION("racing callers: exactly one claims") {
    std::vector<int> won(8, 0);
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; ++i) {
      threads.emplace_back([&, i] {
        BaseRebuildClaim mine = ClaimOf("c", Digest(9));
        auto r = stores.base_rebuilds->Claim(mine);
        won[i] = r && *r ? 1 : 0;
      });
    }
    for (auto& t : threads) t.join();
    int total = 0;
    for (int w : won) total += w;
    CHECK(total == 1);
  }
}

TEST_CASE("Base-image builds are counted from a time on, over all projects",
          "[sql][base-rebuild]") {
  TestDatabase db(PickBackend());
  auto stores = OpenOrFail(db);
  AddProject(*stores.projects, "a");
  AddProject(*stores.projects, "b");
  for (int minute : {0, 30, 59, 61}) {
    Build build = Queued(minute % 2 == 0 ? "a" : "b", kT0 + std::chrono::minutes(minute));
    build.trigger.kind = "base-image";
    REQUIRE(stores.builds->Enqueue(build));
  }
  REQUIRE(stores.builds->Enqueue(Queued("a", kT0 + std::chrono::minutes(60))));  // a person's
  auto n = stores.base_rebuilds->CountQueuedSince(kT0 + std::chrono::minutes(30));
  REQUIRE(n);
  CHECK(*n == 3);
  CHECK(stores.base_rebuilds->CountQueuedSince(kT0).value() == 4);
  CHECK(stores.base_rebuilds->CountQueuedSince(kT0 + std::chrono::minutes(62)).value() == 0);
}
