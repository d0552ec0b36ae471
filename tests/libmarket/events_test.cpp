// Event names, ids and the bodies receivers get: the bodies are compared whole, so a field that
// appears or goes is a failing test, not a surprise for someone's receiver.

#include "market/events.hpp"

#include <catch2/catch.hpp>

#include <regex>
#include <set>

namespace market {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

const TimePoint kQueued{milliseconds{1'790'000'000'000}};  // 2026-09-21T14:13:20.000Z

Build SucceededBuild() {
  Build b;
  b.id = 42;
  b.project = "web";
  b.tag = "v1";
  b.operator_name = "bob";
  b.image = "registry.test:5000/team/web:v1";
  b.digest = "sha256:abc";
  b.size = 1234;
  b.queued_at = kQueued;
  b.started_at = kQueued + milliseconds{1000};
  b.finished_at = kQueued + milliseconds{3500};
  b.state = BuildState::kSucceeded;
  return b;
}

TEST_CASE("Event type names round trip, and only they parse", "[events]") {
  const std::vector<std::pair<EventType, std::string>> names = {
      {EventType::kBuildQueued, "build.queued"},
      {EventType::kBuildStarted, "build.started"},
      {EventType::kBuildSucceeded, "build.succeeded"},
      {EventType::kBuildFailed, "build.failed"},
      {EventType::kBuildCancelled, "build.cancelled"},
      {EventType::kTagPushed, "tag.pushed"},
      {EventType::kTagDeleted, "tag.deleted"},
      {EventType::kProjectCreated, "project.created"},
      {EventType::kProjectDeleted, "project.deleted"},
      {EventType::kWebhookTest, "webhook.test"},
      {EventType::kRetentionRun, "retention.run"},
  };
  for (const auto& [type, name] : names) {
    CHECK(ToString(type) == name);
    CHECK(ParseEventType(name) == type);
  }
  CHECK_FALSE(ParseEventType(""));
  CHECK_FALSE(ParseEventType("Build.Queued"));
  CHECK_FALSE(ParseEventType("build.queued "));
  CHECK_FALSE(ParseEventType("build"));
}

TEST_CASE("Every type but webhook.test may be subscribed to, in declaration order", "[events]") {
  const std::vector<EventType> expected = {
      EventType::kBuildQueued, EventType::kBuildStarted,   EventType::kBuildSucceeded,
      EventType::kBuildFailed, EventType::kBuildCancelled, EventType::kTagPushed,
      EventType::kTagDeleted,  EventType::kProjectCreated, EventType::kProjectDeleted,
      EventType::kRetentionRun,
  };
  CHECK(SubscribableEventTypes() == expected);
}

TEST_CASE("Event ids are random version 4 UUIDs in lower case", "[events]") {
  const std::regex shape("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string id = NewEventId();
    REQUIRE(std::regex_match(id, shape));
    seen.insert(id);
  }
  CHECK(seen.size() == 1000);
}

TEST_CASE("Each constructor gives the event a new id", "[events]") {
  Event a = Event::ForProject(EventType::kProjectCreated, "web", "bob", kQueued);
  Event b = Event::ForProject(EventType::kProjectCreated, "web", "bob", kQueued);
  Event c = Event::ForTag(EventType::kTagDeleted, "team/web", "v1", "", "bob", kQueued);
  Event d = Event::ForBuild(EventType::kBuildQueued, SucceededBuild(), "team/web", kQueued);
  CHECK(std::set<std::string>{a.id, b.id, c.id, d.id}.size() == 4);
}

TEST_CASE("The default body of a succeeded build", "[events]") {
  Event e = Event::ForBuild(EventType::kBuildSucceeded, SucceededBuild(), "team/web",
                            kQueued + milliseconds{3500});
  json expected = {
      {"id", e.id},
      {"type", "build.succeeded"},
      {"occurredAt", "2026-09-21T14:13:23.500Z"},
      {"operator", "bob"},
      {"project", {{"name", "web"}}},
      {"repository", "team/web"},
      {"tag", "v1"},
      {"digest", "sha256:abc"},
      {"build",
       {{"id", 42},
        {"tag", "v1"},
        {"image", "registry.test:5000/team/web:v1"},
        {"digest", "sha256:abc"},
        {"size", 1234},
        {"durationMs", 2500},
        {"state", "succeeded"},
        {"queuedAt", "2026-09-21T14:13:20.000Z"},
        {"startedAt", "2026-09-21T14:13:21.000Z"},
        {"finishedAt", "2026-09-21T14:13:23.500Z"},
        {"trigger", {{"kind", "manual"}}}}},
  };
  CHECK(EventPayload(e, PayloadFormat::kDefault, "image-market") == expected);
}

TEST_CASE("A queued build's body has none of what it does not know yet", "[events]") {
  Build b;
  b.id = 7;
  b.project = "web";
  b.tag = "v2";
  b.operator_name = "bob";
  b.image = "registry.test:5000/team/web:v2";
  b.queued_at = kQueued;
  Event e = Event::ForBuild(EventType::kBuildQueued, b, "team/web", kQueued);
  b.trigger = BuildTrigger{"git-push", 4, "refs/heads/main", "", "https://git.test/web.git", "d-1"};
  b.extra_tags = {"latest"};
  e = Event::ForBuild(EventType::kBuildQueued, b, "team/web", kQueued);
  json body = EventPayload(e, PayloadFormat::kDefault, "image-market");
  CHECK_FALSE(body.contains("digest"));
  CHECK(body["build"] ==
        json{{"id", 7},
             {"tag", "v2"},
             {"image", "registry.test:5000/team/web:v2"},
             {"state", "queued"},
             {"queuedAt", "2026-09-21T14:13:20.000Z"},
             {"extraTags", {"latest"}},
             {"trigger",
              {{"kind", "git-push"},
               {"triggerId", 4},
               {"ref", "refs/heads/main"},
               {"repository", "https://git.test/web.git"},
               {"delivery", "d-1"}}}});
}

TEST_CASE("A failed build's body gives the reason and no size", "[events]") {
  Build b = SucceededBuild();
  b.state = BuildState::kFailed;
  b.digest.clear();
  b.size = 0;
  b.reason = "RUN exited with status 1";
  json body = EventPayload(Event::ForBuild(EventType::kBuildFailed, b, "team/web", kQueued),
                           PayloadFormat::kDefault, "image-market");
  CHECK(body["type"] == "build.failed");
  CHECK_FALSE(body.contains("digest"));
  CHECK(body["build"]["reason"] == "RUN exited with status 1");
  CHECK(body["build"]["state"] == "failed");
  CHECK(body["build"]["durationMs"] == 2500);
  CHECK_FALSE(body["build"].contains("size"));
  CHECK_FALSE(body["build"].contains("digest"));
}

TEST_CASE("The default bodies of tag and project events", "[events]") {
  Event pushed =
      Event::ForTag(EventType::kTagPushed, "team/web", "v1", "sha256:abc", "bob", kQueued);
  CHECK(EventPayload(pushed, PayloadFormat::kDefault, "image-market") ==
        json{{"id", pushed.id},
             {"type", "tag.pushed"},
             {"occurredAt", "2026-09-21T14:13:20.000Z"},
             {"operator", "bob"},
             {"repository", "team/web"},
             {"tag", "v1"},
             {"digest", "sha256:abc"}});

  // A tag deleted by nobody in particular: neither operator nor digest.
  Event deleted = Event::ForTag(EventType::kTagDeleted, "team/web", "v1", "", "", kQueued);
  CHECK(EventPayload(deleted, PayloadFormat::kDefault, "image-market") ==
        json{{"id", deleted.id},
             {"type", "tag.deleted"},
             {"occurredAt", "2026-09-21T14:13:20.000Z"},
             {"repository", "team/web"},
             {"tag", "v1"}});

  Event created = Event::ForProject(EventType::kProjectCreated, "web", "alice", kQueued);
  CHECK(EventPayload(created, PayloadFormat::kDefault, "image-market") ==
        json{{"id", created.id},
             {"type", "project.created"},
             {"occurredAt", "2026-09-21T14:13:20.000Z"},
             {"operator", "alice"},
             {"project", {{"name", "web"}}}});
}

TEST_CASE("The CloudEvents 1.0 structured envelope", "[events]") {
  Event built = Event::ForBuild(EventType::kBuildSucceeded, SucceededBuild(), "team/web",
                                kQueued + milliseconds{3500});
  json body = EventPayload(built, PayloadFormat::kCloudEvents, "https://market.example/");
  json data = EventPayload(built, PayloadFormat::kDefault, "ignored");
  data.erase("id");
  data.erase("type");
  data.erase("occurredAt");
  CHECK(body == json{{"specversion", "1.0"},
                     {"id", built.id},
                     {"source", "https://market.example/"},
                     {"type", "io.imagemarket.build.succeeded"},
                     {"time", "2026-09-21T14:13:23.500Z"},
                     {"subject", "team/web:v1"},
                     {"datacontenttype", "application/json"},
                     {"data", data}});

  Event deleted = Event::ForTag(EventType::kTagDeleted, "team/web", "v1", "", "bob", kQueued);
  json tag_body = EventPayload(deleted, PayloadFormat::kCloudEvents, "image-market");
  CHECK(tag_body["type"] == "io.imagemarket.tag.deleted");
  CHECK(tag_body["subject"] == "team/web:v1");
  CHECK(tag_body["data"] == json{{"operator", "bob"}, {"repository", "team/web"}, {"tag", "v1"}});

  Event removed = Event::ForProject(EventType::kProjectDeleted, "web", "bob", kQueued);
  json project_body = EventPayload(removed, PayloadFormat::kCloudEvents, "image-market");
  CHECK(project_body["type"] == "io.imagemarket.project.deleted");
  CHECK(project_body["subject"] == "web");
  CHECK(project_body["data"] == json{{"operator", "bob"}, {"project", {{"name", "web"}}}});
}

TEST_CASE("Payload formats: names and content types", "[events]") {
  CHECK(ToString(PayloadFormat::kDefault) == "default");
  CHECK(ToString(PayloadFormat::kCloudEvents) == "cloudevents");
  CHECK(ParsePayloadFormat("default") == PayloadFormat::kDefault);
  CHECK(ParsePayloadFormat("cloudevents") == PayloadFormat::kCloudEvents);
  CHECK_FALSE(ParsePayloadFormat(""));
  CHECK_FALSE(ParsePayloadFormat("CloudEvents"));
  CHECK(PayloadContentType(PayloadFormat::kDefault) == "application/json");
  CHECK(PayloadContentType(PayloadFormat::kCloudEvents) == "application/cloudevents+json");
}

}  // namespace
}  // namespace market
