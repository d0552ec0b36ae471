#include "market/registry_changes.hpp"

#include <catch2/catch.hpp>

#include "market/testing/fake_clock.hpp"
#include "market/testing/fake_registry.hpp"
#include "market/testing/in_memory_audit_log.hpp"
#include "market/testing/recording_event_sink.hpp"

using market::Errc;

TEST_CASE("a tag delete is audited for its operator, and a refused one is not",
          "[registry][audit]") {
  market::testing::FakeClock clock;
  market::testing::InMemoryAuditLog log;
  market::AuditTrail audit(&log, clock);
  market::testing::FakeRegistry registry;
  registry.AddTag("lib/app", "1.0", "sha256:aaa");
  registry.AddTag("lib/app", "latest", "sha256:aaa");
  registry.AddTag("lib/app", "2.0", "sha256:bbb");

  // v1.0 shares its image with latest: refused without force, and nothing is recorded.
  auto shared = market::DeleteTag(registry, audit, {"lib/app", "1.0", false, "carol"});
  REQUIRE_FALSE(shared);
  CHECK(shared.error().code == Errc::kTagShared);
  CHECK(log.Entries().empty());

  REQUIRE(market::DeleteTag(registry, audit, {"lib/app", "2.0", false, "carol"},
                            market::ChangeOrigin{"ada", "rid-7"}));
  auto entries = log.Entries();
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].action == "registry.tag.delete");
  CHECK(entries[0].target == "registry:lib/app:2.0");
  CHECK(entries[0].actor == "ada");
  CHECK(entries[0].on_behalf_of == "carol");
  CHECK(entries[0].request_id == "rid-7");
  CHECK(entries[0].before_json == R"({"force":false,"repository":"lib/app","tag":"2.0"})");
  CHECK(entries[0].after_json == "null");
  CHECK(entries[0].time == clock.Now());

  REQUIRE(market::DeleteTag(registry, audit, {"lib/app", "1.0", true, "carol"}));
  CHECK(log.Entries().size() == 2);
  CHECK(log.Entries()[1].actor == "carol");  // acting for itself
  CHECK(log.Entries()[1].on_behalf_of.empty());
}

TEST_CASE("a tag delete is published once the registry deleted it", "[registry][events]") {
  market::testing::FakeClock clock;
  market::AuditTrail audit(nullptr, clock);
  market::testing::FakeRegistry registry;
  market::testing::RecordingEventSink events;
  registry.AddTag("lib/app", "1.0", "sha256:aaa");
  registry.AddTag("lib/app", "latest", "sha256:aaa");
  registry.AddTag("lib/app", "2.0", "sha256:bbb");

  CHECK_FALSE(market::DeleteTag(registry, audit, {"lib/app", "1.0", false, "carol"}, {}, &events));
  CHECK_FALSE(market::DeleteTag(registry, audit, {"lib/app", "nope", false, "carol"}, {}, &events));
  CHECK(events.Events().empty());

  REQUIRE(market::DeleteTag(registry, audit, {"lib/app", "1.0", true, "carol"}, {}, &events));
  auto heard = events.Events();
  REQUIRE(heard.size() == 1);
  CHECK(heard[0].type == market::EventType::kTagDeleted);
  CHECK(heard[0].repository == "lib/app");
  CHECK(heard[0].tag == "1.0");
  CHECK(heard[0].operator_name == "carol");
  CHECK(heard[0].digest.empty());
  CHECK(heard[0].occurred_at == clock.Now());

  // Without a sink the delete works as before.
  REQUIRE(market::DeleteTag(registry, audit, {"lib/app", "2.0", false, "carol"}));
  CHECK(events.Events().size() == 1);
}
