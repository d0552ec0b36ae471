#include "market/events.hpp"

#include "market/domain_json.hpp"

#include <openssl/rand.h>

#include <array>
#include <stdexcept>

#include "hex.hpp"
#include "market/domain_json.hpp"

namespace market {

namespace {

struct EventTypeName {
  EventType type;
  std::string_view name;
};

// Declaration order: SubscribableEventTypes lists them in it.
constexpr std::array<EventTypeName, 11> kEventTypeNames = {{
    {EventType::kBuildQueued, "build.queued"},
    {EventType::kBuildStarted, "build.started"},
    {EventType::kBuildSucceeded, "build.succeeded"},
    {EventType::kBuildFailed, "build.failed"},
    {EventType::kBuildCancelled, "build.cancelled"},
    {EventType::kTagPushed, "tag.pushed"},
    {EventType::kTagDeleted, "tag.deleted"},
    {EventType::kProjectCreated, "project.created"},
    {EventType::kProjectDeleted, "project.deleted"},
    {EventType::kRetentionRun, "retention.run"},
    {EventType::kWebhookTest, "webhook.test"},
}};

constexpr std::string_view kCloudEventsTypePrefix = "io.imagemarket.";

// Receivers test for a field's presence, so a field the event lacks is absent, never "".
void PutText(nlohmann::json& object, const char* key, std::string_view value) {
  if (!value.empty()) object[key] = value;
}

void PutTime(nlohmann::json& object, const char* key, const std::optional<TimePoint>& t) {
  if (t) object[key] = FormatIso8601(*t);
}

nlohmann::json BuildJson(const Build& build, const std::optional<BuildTrigger>& trigger) {
  nlohmann::json out = {{"id", build.id}};
  PutText(out, "tag", build.tag);
  PutText(out, "image", build.image);
  PutText(out, "digest", build.digest);
  // The size is measured when the image is pushed: before that there is none to give.
  if (build.state == BuildState::kSucceeded) out["size"] = build.size;
  if (build.started_at && build.finished_at) {
    out["durationMs"] = (*build.finished_at - *build.started_at).count();
  }
  out["state"] = ToString(build.state);
  PutText(out, "reason", build.reason);
  out["queuedAt"] = FormatIso8601(build.queued_at);
  PutTime(out, "startedAt", build.started_at);
  PutTime(out, "finishedAt", build.finished_at);
  if (!build.extra_tags.empty()) out["extraTags"] = build.extra_tags;
  if (trigger) out["trigger"] = BuildTriggerToJson(*trigger);
  return out;
}

nlohmann::json RetentionJson(const RetentionRunNote& run) {
  return {{"runId", run.run_id},          {"ruleSetId", run.rule_set_id},
          {"ruleSet", run.rule_set},      {"cluster", run.cluster},
          {"state", run.state},           {"repositories", run.repositories},
          {"total", run.total},           {"kept", run.kept},
          {"deleted", run.deleted},       {"errors", run.errors},
          {"bytesUnreferenced", run.bytes_unreferenced}};
}

// Everything but the envelope's fields (id, type, occurredAt): CloudEvents' data.
nlohmann::json EventData(const Event& event) {
  nlohmann::json out = nlohmann::json::object();
  PutText(out, "operator", event.operator_name);
  if (!event.project.empty()) out["project"] = {{"name", event.project}};
  PutText(out, "repository", event.repository);
  PutText(out, "tag", event.tag);
  PutText(out, "digest", event.digest);
  if (event.build) out["build"] = BuildJson(*event.build, event.trigger);
  if (event.retention) out["retention"] = RetentionJson(*event.retention);
  return out;
}

// What the event is about: the image for tag and build events, the cluster for retention
// runs, else the project.
std::string Subject(const Event& event) {
  if (event.retention) return event.retention->cluster;
  if (!event.repository.empty()) {
    return event.tag.empty() ? event.repository : event.repository + ":" + event.tag;
  }
  return event.project;
}

Event NewEvent(EventType type, TimePoint at) {
  Event event;
  event.id = NewEventId();
  event.type = type;
  event.occurred_at = at;
  return event;
}

}  // namespace

std::string_view ToString(EventType type) {
  for (const auto& entry : kEventTypeNames) {
    if (entry.type == type) return entry.name;
  }
  return "unknown";
}

std::optional<EventType> ParseEventType(std::string_view text) {
  for (const auto& entry : kEventTypeNames) {
    if (entry.name == text) return entry.type;
  }
  return std::nullopt;
}

const std::vector<EventType>& SubscribableEventTypes() {
  static const std::vector<EventType> types = [] {
    std::vector<EventType> out;
    for (const auto& entry : kEventTypeNames) {
      if (entry.type != EventType::kWebhookTest) out.push_back(entry.type);
    }
    return out;
  }();
  return types;
}

Event Event::ForBuild(EventType type, const Build& build, std::string_view repository,
                      TimePoint at) {
  Event event = NewEvent(type, at);
  event.operator_name = build.operator_name;
  event.project = build.project;
  event.repository = std::string(repository);
  event.tag = build.tag;
  event.digest = build.digest;
  event.build = build;
  event.trigger = build.trigger;
  if (event.trigger->kind.empty()) event.trigger->kind = "manual";  // a person asked
  return event;
}

Event Event::ForProject(EventType type, std::string_view project, std::string_view operator_name,
                        TimePoint at) {
  Event event = NewEvent(type, at);
  event.operator_name = std::string(operator_name);
  event.project = std::string(project);
  return event;
}

Event Event::ForTag(EventType type, std::string_view repository, std::string_view tag,
                    std::string_view digest, std::string_view operator_name, TimePoint at) {
  Event event = NewEvent(type, at);
  event.operator_name = std::string(operator_name);
  event.repository = std::string(repository);
  event.tag = std::string(tag);
  event.digest = std::string(digest);
  return event;
}

Event Event::ForRetentionRun(const RetentionRunNote& run, std::string_view operator_name,
                             TimePoint at) {
  Event event = NewEvent(EventType::kRetentionRun, at);
  event.operator_name = std::string(operator_name);
  event.retention = run;
  return event;
}

std::string NewEventId() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) {
    // No randomness from the system: nothing later could be trusted either.
    throw std::runtime_error("the system's random number generator failed");
  }
  bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0f) | 0x40);  // version 4
  bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3f) | 0x80);  // variant 10 (RFC 4122)
  const std::string hex = HexEncode(std::string_view(reinterpret_cast<const char*>(bytes), 16));
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20);
}

std::string_view ToString(PayloadFormat format) {
  return format == PayloadFormat::kCloudEvents ? "cloudevents" : "default";
}

std::optional<PayloadFormat> ParsePayloadFormat(std::string_view text) {
  if (text == "default") return PayloadFormat::kDefault;
  if (text == "cloudevents") return PayloadFormat::kCloudEvents;
  return std::nullopt;
}

std::string_view PayloadContentType(PayloadFormat format) {
  return format == PayloadFormat::kCloudEvents ? "application/cloudevents+json"
                                               : "application/json";
}

nlohmann::json EventPayload(const Event& event, PayloadFormat format, std::string_view source) {
  const std::string time = FormatIso8601(event.occurred_at);
  if (format == PayloadFormat::kCloudEvents) {
    nlohmann::json out = {
        {"specversion", "1.0"},
        {"id", event.id},
        {"source", source},
        {"type", std::string(kCloudEventsTypePrefix) + std::string(ToString(event.type))},
        {"time", time},
    };
    PutText(out, "subject", Subject(event));
    out["datacontenttype"] = "application/json";
    out["data"] = EventData(event);
    return out;
  }
  nlohmann::json out = {{"id", event.id}, {"type", ToString(event.type)}, {"occurredAt", time}};
  out.update(EventData(event));
  return out;
}

}  // namespace market
