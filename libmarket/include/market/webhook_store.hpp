#pragma once
// Webhook policies (who hears of which events) and their deliveries: rows in the database, so
// they survive restarts and are claimed once across instances, like builds.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "market/error.hpp"
#include "market/events.hpp"
#include "market/time.hpp"

namespace market {

struct WebhookPolicy {
  std::int64_t id = 0;
  // The Image Market project it belongs to (deleting the project deletes it); empty: global.
  std::string project;
  std::string name;     // unique within its project (or among the global ones)
  bool enabled = true;
  std::string url;      // http or https
  std::vector<EventType> events;  // at least one
  std::string repository_glob;    // a glob on "<cluster>/<project>" ("*" stays within a path
                                  // component, "**" crosses '/'); empty: any
  std::string tag_glob;           // on the tag; empty: any
  std::string secret;             // the HMAC key; empty: unsigned
  PayloadFormat format = PayloadFormat::kDefault;
  int consecutive_failures = 0;   // deliveries that failed in a row (reset by a success)
  std::string disabled_reason;    // why it was disabled by the service; "" when by a person
  std::string creator;
  TimePoint created_at{};
  TimePoint updated_at{};

  bool operator==(const WebhookPolicy&) const = default;
};

enum class DeliveryState { kPending, kDelivered, kFailed };
std::string_view ToString(DeliveryState state);  // "pending", "delivered", "failed"
std::optional<DeliveryState> ParseDeliveryState(std::string_view text);

// One event on its way to one policy's target.
struct WebhookDelivery {
  std::int64_t id = 0;
  std::int64_t policy_id = 0;
  std::string event_id;    // the webhook-id header; the same on every attempt and redelivery
  std::string event_type;  // "build.succeeded", ...
  std::string body;        // exactly the bytes sent (and signed)
  std::string content_type;
  DeliveryState state = DeliveryState::kPending;
  int attempts = 0;
  TimePoint created_at{};
  TimePoint next_attempt_at{};  // pending: when it may be tried (again)
  std::optional<TimePoint> finished_at;  // delivered or failed
  int last_status = 0;     // the receiver's last HTTP status; 0: none (it was not reached)
  std::string last_error;  // why the last attempt failed; "" after a success
  std::optional<std::int64_t> redelivery_of;  // a manual redelivery: the delivery it repeats

  bool operator==(const WebhookDelivery&) const = default;
};

// One try of a delivery, as the receiver answered it.
struct DeliveryAttempt {
  std::int64_t id = 0;
  std::int64_t delivery_id = 0;
  int number = 1;  // 1 for the first try of its delivery
  TimePoint started_at{};
  std::int64_t duration_ms = 0;
  int status = 0;                 // 0: no HTTP answer (refused, timed out, ...)
  std::string error;              // why it failed; "" on success
  std::string request_headers;    // JSON object, signatures and secrets removed
  std::string response_headers;   // JSON object
  std::string response_excerpt;   // the first kResponseExcerptBytes of the body

  bool operator==(const DeliveryAttempt&) const = default;

  static constexpr std::size_t kResponseExcerptBytes = 4096;
};

// What the dispatcher decided after an attempt.
struct AttemptOutcome {
  DeliveryAttempt attempt;
  DeliveryState next_state = DeliveryState::kPending;  // kPending: retry at retry_at
  TimePoint retry_at{};
  // When next_state is kFailed: the policy's consecutive failures reach this bound, so the
  // policy is disabled with `disable_reason` in the same transaction. 0: never.
  int disable_after = 0;
  std::string disable_reason;
};

struct DeliveryPage {
  std::vector<WebhookDelivery> deliveries;  // newest first
  std::optional<std::int64_t> next_before;  // the cursor of the next page; none on the last
};

class WebhookStore {
 public:
  virtual ~WebhookStore() = default;

  // kAlreadyExists when the project (or the global scope) has a policy of that name;
  // kBuildProjectMissing when `project` names no project. Fills id and the times.
  virtual Result<WebhookPolicy> CreatePolicy(const WebhookPolicy& policy) = 0;
  // Replaces every field a person sets (name, enabled, url, events, globs, secret, format);
  // enabling clears consecutive_failures and disabled_reason. kNotFound; kAlreadyExists.
  virtual Result<WebhookPolicy> UpdatePolicy(const WebhookPolicy& policy) = 0;
  // Deletes the policy and its deliveries. kNotFound.
  virtual Result<void> DeletePolicy(std::int64_t id) = 0;
  virtual Result<WebhookPolicy> GetPolicy(std::int64_t id) = 0;  // kNotFound
  // A project's policies, or the global ones when `project` is empty; by name.
  virtual Result<std::vector<WebhookPolicy>> ListPolicies(std::string_view project) = 0;
  // The enabled policies that may hear of an event of `project`: its own and the global ones.
  virtual Result<std::vector<WebhookPolicy>> EnabledPoliciesFor(std::string_view project) = 0;

  // Records pending deliveries (ids filled; created_at as given, now when unset), in one
  // transaction. A delivery whose policy has been deleted meanwhile is left out of the store
  // and of the result.
  virtual Result<std::vector<WebhookDelivery>> Enqueue(
      const std::vector<WebhookDelivery>& deliveries) = 0;
  // Takes the oldest pending delivery due at `now` whose policy is enabled (a "webhook.test"
  // one: enabled or not) and that no live lease holds; leases it to `worker` until
  // `lease_until`. Several processes may claim at once; each delivery is held by one worker at
  // a time.
  virtual Result<std::optional<WebhookDelivery>> ClaimDue(std::string_view worker,
                                                          TimePoint now,
                                                          TimePoint lease_until) = 0;
  // Records the attempt and the delivery's new state, and the policy's consecutive failures
  // (reset on kDelivered, counted on kFailed), in one transaction, only while `worker` still
  // holds the lease: false (nothing recorded) when it does not.
  virtual Result<bool> RecordAttempt(std::int64_t delivery_id, std::string_view worker,
                                     const AttemptOutcome& outcome, TimePoint now) = 0;
  // Ends the leases held by `instance`'s senders ("INSTANCE/..."): this instance's previous
  // life, whose attempts died with it, so its deliveries are due again at once instead of when
  // the leases run out. Returns how many.
  virtual Result<int> ReleaseLeasesOf(std::string_view instance) = 0;
  virtual Result<WebhookDelivery> GetDelivery(std::int64_t id) = 0;  // kNotFound
  // A policy's deliveries newest first, ids below `before` when given; at most `limit`.
  virtual Result<DeliveryPage> ListDeliveries(std::int64_t policy_id,
                                              std::optional<std::int64_t> before,
                                              int limit) = 0;
  // Oldest first.
  virtual Result<std::vector<DeliveryAttempt>> ListAttempts(std::int64_t delivery_id) = 0;
  // Deletes at most `limit` delivered or failed deliveries (and their attempts) that finished
  // before `finished_before`; returns how many. Bounded so it never holds the tables long.
  virtual Result<int> PruneDeliveries(TimePoint finished_before, int limit) = 0;
};

using WebhookStorePtr = std::unique_ptr<WebhookStore>;

}  // namespace market
