// Base-image rebuilds with the fake builder and registry on the real SQLite stores: a pushed
// base queues its opted-in dependents once, polling finds a base changed in the registry, and
// the loop guard and the per-hour cap bound what is queued.

#include "market/base_rebuild_service.hpp"

#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "libmarket/build/build_world.hpp"
#include "market/immutability.hpp"
#include "market/testing/recording_event_sink.hpp"

namespace market {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kHost = "registry.test:5000";

std::string ImageOf(const std::string& project) {
  return std::string(kHost) + "/team/" + project + ":latest";
}

struct Fixture : testing::BuildWorld {
  explicit Fixture(int per_hour = 30) {
    protection = std::make_unique<ImmutabilityService>(*stores.immutability, clock);
    BuildDependencies deps = Dependencies();
    deps.tag_protection = protection.get();
    deps.events = &events;
    builds = std::make_unique<BuildService>(deps, Options("base-rebuild-test:1", 2));
    rebuilds = std::make_unique<BaseRebuildService>(
        BaseRebuildDependencies{.store = stores.base_rebuilds.get(),
                                .builds = builds.get(),
                                .build_store = stores.builds.get(),
                                .registry = &registry,
                                .clock = &clock,
                                .audit = stores.audit.get()},
        BaseRebuildOptions{.poll_interval = 0ms, .per_hour = per_hour});
    // The rebuild service hears each event before the recorder, which the tests wait on.
    events.Add(rebuilds.get());
    events.Add(&heard);
    registry.AddTag("base/busybox", "1", Digest(900));
    builds->Start();
  }
  ~Fixture() { builds->Stop(); }

  static std::string Digest(int n) { return fmt::format("sha256:{:064x}", n); }

  void AddProject(const std::string& name, const std::string& base) {
    InsertProject(name, {PluginInstance{"base_image_choose_from_harbor", {{"handleInput", base}}}});
  }

  void OptIn(const std::string& name) {
    auto set = rebuilds->Set(BaseRebuildRequest{name, true, "alice"});
    REQUIRE(set);
    CHECK(set->enabled);
  }

  std::size_t Succeeded() const {
    std::size_t n = 0;
    for (EventType type : heard.Types()) n += type == EventType::kBuildSucceeded ? 1 : 0;
    return n;
  }

  // Waits until `id` ended and its end was heard; the tag it pushed is then in the registry.
  Build WaitFinished(std::int64_t id) {
    auto deadline = std::chrono::steady_clock::now() + 15s;
    for (;;) {
      auto b = stores.builds->Get(id);
      REQUIRE(b);
      if (IsFinished(b->state)) {
        bool heard_end = false;
        for (const Event& e : heard.Events()) {
          heard_end =
              heard_end || (e.build && e.build->id == id && e.type != EventType::kBuildQueued &&
                            e.type != EventType::kBuildStarted);
        }
        if (heard_end) {
          if (b->state == BuildState::kSucceeded)
            registry.AddTag("team/" + b->project, b->tag, b->digest);
          return *b;
        }
      }
      REQUIRE(std::chrono::steady_clock::now() < deadline);
      std::this_thread::sleep_for(10ms);
    }
  }

  Build BuildNow(const std::string& project) {
    auto queued = builds->Enqueue(project, "latest", "alice");
    REQUIRE(queued);
    return WaitFinished(queued->id);
  }

  std::vector<Build> BaseImageBuilds(const std::string& project) {
    BuildFilter filter;
    filter.project = project;
    filter.limit = 50;
    auto all = stores.builds->List(filter);
    REQUIRE(all);
    std::vector<Build> out;
    for (Build& b : *all) {
      if (b.trigger.kind == "base-image") out.push_back(std::move(b));
    }
    return out;
  }

  testing::RecordingEventSink heard;
  EventFanOut events;
  std::unique_ptr<ImmutabilityService> protection;
  std::unique_ptr<BuildService> builds;
  std::unique_ptr<BaseRebuildService> rebuilds;
};

TEST_CASE("a build records its base images with the registry's digests", "[base-rebuild]") {
  Fixture f;
  f.AddProject("a", std::string(kHost) + "/base/busybox:1");
  Build a = f.BuildNow("a");
  REQUIRE(a.state == BuildState::kSucceeded);
  REQUIRE(a.base_images.size() == 1);
  CHECK(a.base_images[0].image == std::string(kHost) + "/base/busybox:1");
  CHECK(a.base_images[0].digest == Fixture::Digest(900));
}

TEST_CASE("a pushed base queues its opted-in dependent at once, once", "[base-rebuild]") {
  Fixture f;
  f.AddProject("a", std::string(kHost) + "/base/busybox:1");
  f.AddProject("b", ImageOf("a"));
  Build a1 = f.BuildNow("a");
  f.OptIn("b");
  Build b1 = f.BuildNow("b");
  REQUIRE(b1.base_images.size() == 1);
  CHECK(b1.base_images[0].digest == a1.digest);
  CHECK(f.rebuilds->ProcessPending() == 0);  // b was built from a's newest image

  Build a2 = f.BuildNow("a");
  REQUIRE(a2.digest != a1.digest);
  CHECK(f.rebuilds->ProcessPending() == 1);
  auto rebuilt = f.BaseImageBuilds("b");
  REQUIRE(rebuilt.size() == 1);
  const BuildTrigger& trigger = rebuilt[0].trigger;
  CHECK(trigger.base_image == ImageOf("a"));
  CHECK(trigger.old_digest == a1.digest);
  CHECK(trigger.new_digest == a2.digest);
  CHECK(trigger.cause_build_id == a2.id);
  CHECK(rebuilt[0].tag == "latest");
  CHECK(rebuilt[0].operator_name == "alice");
  Build b2 = f.WaitFinished(rebuilt[0].id);
  CHECK(b2.state == BuildState::kSucceeded);
  CHECK(b2.base_images[0].digest == a2.digest);

  SECTION("the same change heard again (another instance, the poll) queues nothing more") {
    BaseRebuildClaim again{.project = "b",
                           .base_image = ImageOf("a"),
                           .old_digest = a1.digest,
                           .new_digest = a2.digest,
                           .created_at = f.clock.Now()};
    auto claimed = f.stores.base_rebuilds->Claim(again);
    REQUIRE(claimed);
    CHECK_FALSE(*claimed);
    // b's latest build has a2 now; a poll sees nothing to do either.
    auto polled = f.rebuilds->Poll();
    REQUIRE(polled);
    CHECK(*polled == 0);
    CHECK(f.BaseImageBuilds("b").size() == 1);
  }
}

TEST_CASE("a base change queues one rebuild, also when heard again after it failed",
          "[base-rebuild]") {
  Fixture f;
  f.AddProject("a", std::string(kHost) + "/base/busybox:1");
  f.AddProject("b", ImageOf("a"));
  f.BuildNow("a");
  f.OptIn("b");
  f.BuildNow("b");
  Build a2 = f.BuildNow("a");
  // b's rebuild fails, so its latest successful build still has a's old digest.
  f.builder.SetFor("/b:", {.mode = testing::FakeImageBuilder::Mode::kFail});
  CHECK(f.rebuilds->ProcessPending() == 1);
  auto rebuilt = f.BaseImageBuilds("b");
  REQUIRE(rebuilt.size() == 1);
  CHECK(f.WaitFinished(rebuilt[0].id).state == BuildState::kFailed);

  // The same change heard again: the event from another instance, then the poll.
  f.rebuilds->Publish(Event::ForBuild(EventType::kBuildSucceeded, a2, "team/a", f.clock.Now()));
  CHECK(f.rebuilds->ProcessPending() == 0);
  auto polled = f.rebuilds->Poll();
  REQUIRE(polled);
  CHECK(*polled == 0);
  CHECK(f.BaseImageBuilds("b").size() == 1);
  CHECK(f.rebuilds->Counters().debounced == 2);
  CHECK(f.rebuilds->Counters().queued == 1);
}

TEST_CASE("two projects naming each other as base do not rebuild each other in a loop",
          "[base-rebuild]") {
  Fixture f;
  f.registry.AddTag("team/b", "latest", Fixture::Digest(500));
  f.AddProject("a", ImageOf("b"));
  f.AddProject("b", ImageOf("a"));
  f.OptIn("a");
  f.OptIn("b");
  Build a1 = f.BuildNow("a");
  Build b1 = f.BuildNow("b");
  CHECK(a1.base_images.at(0).digest == Fixture::Digest(500));
  CHECK(b1.base_images.at(0).digest == a1.digest);
  // b1 is a new base of a: a is rebuilt (b did change). a2 is then a new base of b, but b
  // caused it: refused.
  CHECK(f.rebuilds->ProcessPending() == 1);
  auto a_rebuilt = f.BaseImageBuilds("a");
  REQUIRE(a_rebuilt.size() == 1);
  CHECK(a_rebuilt[0].trigger.cause_build_id == b1.id);
  Build a2 = f.WaitFinished(a_rebuilt[0].id);
  REQUIRE(a2.state == BuildState::kSucceeded);
  CHECK(f.rebuilds->ProcessPending() == 0);
  CHECK(f.rebuilds->Counters().loops_refused == 1);
  CHECK(f.BaseImageBuilds("b").empty());

  // The poll sees b's base changed too, finds a2 as its cause, and refuses it without counting
  // the same change again.
  auto polled = f.rebuilds->Poll();
  REQUIRE(polled);
  CHECK(*polled == 0);
  CHECK(f.rebuilds->Counters().loops_refused == 1);
  CHECK(f.BaseImageBuilds("b").empty());
  CHECK(f.BaseImageBuilds("a").size() == 1);
  auto status = f.rebuilds->Get("b");
  REQUIRE(status);
  REQUIRE(status->rebuilds.size() == 1);
  CHECK(status->rebuilds[0].build_id == 0);
  CHECK(status->rebuilds[0].outcome.find("chain of causing builds") != std::string::npos);
}

TEST_CASE("the per-hour cap skips rebuilds until a later poll", "[base-rebuild]") {
  Fixture f(/*per_hour=*/1);
  f.AddProject("a", std::string(kHost) + "/base/busybox:1");
  f.AddProject("b", ImageOf("a"));
  f.AddProject("c", ImageOf("a"));
  f.BuildNow("a");
  f.OptIn("b");
  f.OptIn("c");
  f.BuildNow("b");
  f.BuildNow("c");
  Build a2 = f.BuildNow("a");
  CHECK(f.rebuilds->ProcessPending() == 1);
  CHECK(f.rebuilds->Counters().capped == 1);
  const auto first = f.BaseImageBuilds("b").size() + f.BaseImageBuilds("c").size();
  CHECK(first == 1);
  const std::string skipped = f.BaseImageBuilds("b").empty() ? "b" : "c";
  f.WaitFinished(
      (f.BaseImageBuilds("b").empty() ? f.BaseImageBuilds("c") : f.BaseImageBuilds("b")).at(0).id);

  auto polled = f.rebuilds->Poll();  // still within the hour
  REQUIRE(polled);
  CHECK(*polled == 0);
  CHECK(f.rebuilds->Counters().capped == 2);

  f.clock.Advance(61min);
  polled = f.rebuilds->Poll();
  REQUIRE(polled);
  CHECK(*polled == 1);
  auto late = f.BaseImageBuilds(skipped);
  REQUIRE(late.size() == 1);
  CHECK(late[0].trigger.new_digest == a2.digest);
  CHECK(late[0].trigger.cause_build_id == a2.id);
}

TEST_CASE("the poll finds a base changed in the registry", "[base-rebuild]") {
  Fixture f;
  f.AddProject("b", std::string(kHost) + "/base/busybox:1");
  f.OptIn("b");
  Build b1 = f.BuildNow("b");
  REQUIRE(b1.base_images.at(0).digest == Fixture::Digest(900));
  auto polled = f.rebuilds->Poll();
  REQUIRE(polled);
  CHECK(*polled == 0);

  f.registry.AddTag("base/busybox", "1", Fixture::Digest(901));  // pushed by someone else
  polled = f.rebuilds->Poll();
  REQUIRE(polled);
  CHECK(*polled == 1);
  auto rebuilt = f.BaseImageBuilds("b");
  REQUIRE(rebuilt.size() == 1);
  CHECK(rebuilt[0].trigger.base_image == std::string(kHost) + "/base/busybox:1");
  CHECK(rebuilt[0].trigger.old_digest == Fixture::Digest(900));
  CHECK(rebuilt[0].trigger.new_digest == Fixture::Digest(901));
  CHECK(rebuilt[0].trigger.cause_build_id == 0);
  Build b2 = f.WaitFinished(rebuilt[0].id);
  CHECK(b2.base_images.at(0).digest == Fixture::Digest(901));
  polled = f.rebuilds->Poll();
  REQUIRE(polled);
  CHECK(*polled == 0);
}

TEST_CASE("a project that did not opt in is not rebuilt", "[base-rebuild]") {
  Fixture f;
  f.AddProject("a", std::string(kHost) + "/base/busybox:1");
  f.AddProject("b", ImageOf("a"));
  f.BuildNow("a");
  f.BuildNow("b");
  f.BuildNow("a");
  f.registry.AddTag("base/busybox", "1", Fixture::Digest(901));
  CHECK(f.rebuilds->ProcessPending() == 0);
  auto polled = f.rebuilds->Poll();
  REQUIRE(polled);
  CHECK(*polled == 0);
  CHECK(f.BaseImageBuilds("a").empty());
  CHECK(f.BaseImageBuilds("b").empty());

  SECTION("nor after opting out again") {
    f.OptIn("b");
    auto off = f.rebuilds->Set(BaseRebuildRequest{"b", false, "alice"});
    REQUIRE(off);
    CHECK_FALSE(off->enabled);
    f.BuildNow("a");
    CHECK(f.rebuilds->ProcessPending() == 0);
    CHECK(f.BaseImageBuilds("b").empty());
  }
}

TEST_CASE("a protected tag refuses the rebuild once, and it is not retried", "[base-rebuild]") {
  Fixture f;
  f.AddProject("a", std::string(kHost) + "/base/busybox:1");
  f.AddProject("b", ImageOf("a"));
  f.BuildNow("a");
  f.OptIn("b");
  f.BuildNow("b");  // team/b:latest exists in the registry now
  ImmutabilityRequest rule;
  rule.repository = "team/b";
  rule.tag_pattern = "latest";
  REQUIRE(f.protection->Create(rule, "root"));
  Build a2 = f.BuildNow("a");
  CHECK(f.rebuilds->ProcessPending() == 0);
  CHECK(f.rebuilds->Counters().refused == 1);
  CHECK(f.BaseImageBuilds("b").empty());
  auto status = f.rebuilds->Get("b");
  REQUIRE(status);
  REQUIRE(status->rebuilds.size() == 1);
  CHECK(status->rebuilds[0].build_id == 0);
  CHECK(status->rebuilds[0].new_digest == a2.digest);
  CHECK(status->rebuilds[0].outcome.find("immutable") != std::string::npos);
  // Neither the same event again nor the poll tries it again.
  f.rebuilds->Publish(Event::ForBuild(EventType::kBuildSucceeded, a2, "team/a", f.clock.Now()));
  CHECK(f.rebuilds->ProcessPending() == 0);
  auto polled = f.rebuilds->Poll();
  REQUIRE(polled);
  CHECK(*polled == 0);
  CHECK(f.rebuilds->Counters().refused == 1);
  CHECK(f.rebuilds->Counters().debounced == 2);
}

TEST_CASE("a project with a queued or running build is not queued again", "[base-rebuild]") {
  Fixture f;
  f.AddProject("b", std::string(kHost) + "/base/busybox:1");
  f.OptIn("b");
  f.BuildNow("b");
  f.registry.AddTag("base/busybox", "1", Fixture::Digest(901));
  f.builder.SetFor("/b:", {.mode = testing::FakeImageBuilder::Mode::kHang});
  auto running = f.builds->Enqueue("b", "other", "alice");
  REQUIRE(running);
  REQUIRE(f.builder.WaitForRunning(1, 5s));
  auto polled = f.rebuilds->Poll();
  REQUIRE(polled);
  CHECK(*polled == 0);
  CHECK(f.rebuilds->Counters().busy == 1);
  CHECK(f.BaseImageBuilds("b").empty());
  // Nothing was claimed: once the running build ends, the change is compared again with what
  // that build recorded (the new digest here, so nothing is queued).
  f.builder.ReleaseAll();
  Build ended = f.WaitFinished(running->id);
  CHECK(ended.base_images.at(0).digest == Fixture::Digest(901));
  polled = f.rebuilds->Poll();
  REQUIRE(polled);
  CHECK(*polled == 0);
  CHECK(f.BaseImageBuilds("b").empty());
}

TEST_CASE("the opt-in refuses bad input and changes nothing", "[base-rebuild]") {
  Fixture f;
  f.AddProject("a", std::string(kHost) + "/base/busybox:1");
  auto missing = f.rebuilds->Set(BaseRebuildRequest{"a", std::nullopt, "alice"});
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == Errc::kInvalid);
  CHECK(missing.error().message.find("enabled") != std::string::npos);
  auto bad_name = f.rebuilds->Set(BaseRebuildRequest{"A*", true, "alice"});
  REQUIRE_FALSE(bad_name);
  CHECK(bad_name.error().code == Errc::kInvalid);
  auto nobody = f.rebuilds->Set(BaseRebuildRequest{"nosuch", true, "alice"});
  REQUIRE_FALSE(nobody);
  CHECK(nobody.error().code == Errc::kBuildProjectMissing);
  auto status = f.rebuilds->Get("a");
  REQUIRE(status);
  CHECK_FALSE(status->setting.enabled);
  CHECK_FALSE(status->latest);
}

}  // namespace
}  // namespace market
