#pragma once
// What happened in Image Market, as other systems hear of it: builds queued, started and
// ended, tags pushed and deleted, projects created and deleted. The services publish events to
// an EventSink (the webhook dispatcher in the server; anything an embedder likes).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "market/build.hpp"
#include "market/time.hpp"

namespace market {

enum class EventType {
  kBuildQueued,
  kBuildStarted,
  kBuildSucceeded,
  kBuildFailed,
  kBuildCancelled,
  kTagPushed,
  kTagDeleted,
  kProjectCreated,
  kProjectDeleted,
  kWebhookTest,  // sent by "send test event" only; never published by the services
  kRetentionRun,  // a tag retention run ended
};

std::string_view ToString(EventType type);  // "build.queued", ..., "webhook.test"
std::optional<EventType> ParseEventType(std::string_view text);
// Every type a policy may subscribe to (all but kWebhookTest), in declaration order.
const std::vector<EventType>& SubscribableEventTypes();

// What a retention.run event tells of the run (counts summed over its repositories).
struct RetentionRunNote {
  std::int64_t run_id = 0;
  std::int64_t rule_set_id = 0;
  std::string rule_set;     // its name
  std::string cluster;      // the registry project it applies to
  std::string state;        // "succeeded", "failed"
  std::int64_t repositories = 0;
  std::int64_t total = 0;   // tags seen
  std::int64_t kept = 0;
  std::int64_t deleted = 0;
  std::int64_t errors = 0;
  std::int64_t bytes_unreferenced = 0;
};

struct Event {
  std::string id;  // a random UUID (version 4), the receivers' de-duplication key
  EventType type = EventType::kBuildQueued;
  TimePoint occurred_at{};
  std::string operator_name;  // who the change is recorded for ("" when nobody: a worker)
  std::string project;        // the Image Market project; may be empty for tag events
  std::string repository;     // tag events and builds: "<cluster>/<project>" in the registry
  std::string tag;            // tag events and builds
  std::string digest;         // tag.pushed and succeeded builds
  std::optional<Build> build;  // build.* events
  std::optional<BuildTrigger> trigger;  // build.* events: the build's ("manual" when none)
  std::optional<RetentionRunNote> retention;  // retention.run events

  // Events of the same kind fill the same fields; the constructors below say which.
  static Event ForBuild(EventType type, const Build& build, std::string_view repository,
                        TimePoint at);
  static Event ForProject(EventType type, std::string_view project,
                          std::string_view operator_name, TimePoint at);
  static Event ForTag(EventType type, std::string_view repository, std::string_view tag,
                      std::string_view digest, std::string_view operator_name, TimePoint at);
  static Event ForRetentionRun(const RetentionRunNote& run, std::string_view operator_name,
                               TimePoint at);
};

// A new random UUID version 4 ("6f1d...-4...-[89ab]...-..."), from the system's CSPRNG.
std::string NewEventId();

// The body a webhook receiver gets, as JSON.
// Default: {"id","type","occurredAt","operator","project":{"name"},"repository","tag","digest",
//           "build":{"id","tag","image","digest","size","durationMs","state","reason",
//                    "trigger":{...}},
//           "retention":{"runId","ruleSetId","ruleSet","cluster","state","repositories",
//                        "total","kept","deleted","errors","bytesUnreferenced"}}
//           (fields an event does not have are left out).
// CloudEvents 1.0 structured mode: {"specversion":"1.0","id","source":source,
//   "type":"io.imagemarket." + type,"time","subject","datacontenttype":"application/json",
//   "data": the default body without id/type/occurredAt}.
enum class PayloadFormat { kDefault, kCloudEvents };
std::string_view ToString(PayloadFormat format);  // "default", "cloudevents"
std::optional<PayloadFormat> ParsePayloadFormat(std::string_view text);
nlohmann::json EventPayload(const Event& event, PayloadFormat format, std::string_view source);
// The Content-Type the format is sent with.
std::string_view PayloadContentType(PayloadFormat format);

class EventSink {
 public:
  virtual ~EventSink() = default;
  // Called after the change is committed, on the thread that made it. Must not throw and must
  // not wait on the network: a slow receiver may never delay a build or an API answer.
  virtual void Publish(const Event& event) = 0;
};

// Hands each event to several sinks in order (e.g. webhooks and build triggers). Sinks are
// added before events flow; each sink's Publish does not throw (EventSink's contract).
class EventFanOut final : public EventSink {
 public:
  void Add(EventSink* sink) { sinks_.push_back(sink); }
  void Publish(const Event& event) override {
    for (EventSink* sink : sinks_) sink->Publish(event);
  }

 private:
  std::vector<EventSink*> sinks_;
};

}  // namespace market
