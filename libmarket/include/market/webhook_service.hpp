#pragma once
// Webhooks out: policies say which events go where; every published event becomes one stored
// delivery per matching policy; sender threads claim due deliveries (once across instances),
// sign and send them, record each attempt, retry with backoff, and disable a policy whose
// deliveries keep failing. A slow receiver delays only its own deliveries.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "market/audit_trail.hpp"
#include "market/error.hpp"
#include "market/events.hpp"
#include "market/identity.hpp"
#include "market/project_store.hpp"
#include "market/time.hpp"
#include "market/webhook_signature.hpp"
#include "market/webhook_store.hpp"

namespace market {

// One POST of a delivery, as the transport sends it.
struct WebhookPost {
  std::string url;
  std::vector<SignedHeader> headers;  // Content-Type, the event, the signatures (the
                                      // transport adds User-Agent and Content-Length)
  std::string body;
  std::chrono::milliseconds timeout{10000};
};

struct WebhookAnswer {
  int status = 0;
  std::vector<SignedHeader> headers;
  std::string body;  // at most what the transport keeps (a few KiB)
};

// Sends webhook POSTs; the server's is HTTP(S) that refuses destinations the build sandbox
// refuses (loopback, link-local, the host's own addresses, build-deny-networks) unless an
// operator allowed them, and never follows a redirect.
class WebhookTransport {
 public:
  virtual ~WebhookTransport() = default;
  // Any HTTP status is a value. kForbidden: the destination is refused (the message says
  // why); kUpstreamTimeout; kUpstreamFailed: not reached or the exchange broke.
  virtual Result<WebhookAnswer> Post(const WebhookPost& post) = 0;
  // Before a policy is saved: kInvalid naming `url` when it is not an absolute http(s) URL
  // without user info or fragment, or when its host is an address that would be refused.
  // A host name that does not resolve now is accepted (it is checked again on each send).
  virtual Result<void> CheckTarget(std::string_view url) = 0;
};

struct WebhookOptions {
  std::chrono::milliseconds timeout{10000};        // per attempt
  std::chrono::milliseconds first_retry{10000};    // doubled per attempt, with jitter
  std::chrono::milliseconds max_retry{3600000};    // the longest wait between attempts
  std::chrono::milliseconds retry_for{86400000};   // after this, a delivery is given up
  int disable_after = 10;  // failed deliveries in a row that disable a policy; 0: never
  int senders = 2;         // sender threads per instance
  std::chrono::milliseconds poll_interval{500};
  std::chrono::hours keep_deliveries{24 * 30};  // finished deliveries older are pruned
  std::string worker_prefix;  // unique per instance; empty: host:pid
  std::string source = "image-market";  // CloudEvents' source
};

// A policy as a request gives it: texts as received. On update, a missing field keeps the
// stored value.
struct WebhookPolicyRequest {
  std::string project;  // empty: a global policy (admins only)
  std::optional<std::string> name;
  std::optional<std::string> enabled;  // "true" or "false"
  std::optional<std::string> url;
  std::optional<std::string> events;   // comma-separated event types
  std::optional<std::string> repository;  // glob
  std::optional<std::string> tag;         // glob
  std::optional<std::string> secret;
  std::optional<std::string> format;   // "default" or "cloudevents"
};

// A delivery with its attempts, oldest first.
struct DeliveryDetail {
  WebhookDelivery delivery;
  std::vector<DeliveryAttempt> attempts;
};

struct WebhookDependencies {
  WebhookStore* store = nullptr;
  WebhookTransport* transport = nullptr;
  const Clock* clock = nullptr;
  // webhook.create, .update, .delete, .redeliver and .test; null: not recorded.
  AuditLog* audit = nullptr;
};

class WebhookService final : public EventSink {
 public:
  WebhookService(WebhookDependencies deps, WebhookOptions options);
  ~WebhookService() override;  // stops the senders
  WebhookService(const WebhookService&) = delete;
  WebhookService& operator=(const WebhookService&) = delete;

  // `role` is the caller's: global policies need kAdmin, a project's kDeveloper.
  // kInvalid naming the field; kAlreadyExists; kBuildProjectMissing; kForbidden.
  Result<WebhookPolicy> Create(const WebhookPolicyRequest& request, std::string_view operator_name,
                               Role role, const ChangeOrigin& origin = {});
  Result<WebhookPolicy> Update(std::int64_t id, const WebhookPolicyRequest& request,
                               std::string_view operator_name, Role role,
                               const ChangeOrigin& origin = {});
  Result<void> Delete(std::int64_t id, std::string_view operator_name, Role role,
                      const ChangeOrigin& origin = {});
  Result<WebhookPolicy> Get(std::int64_t id);
  // A project's policies, or the global ones (project empty).
  Result<std::vector<WebhookPolicy>> List(std::string_view project);
  // kInvalid naming before or page_size.
  Result<DeliveryPage> Deliveries(std::int64_t policy_id, std::string_view before,
                                  std::string_view page_size);
  Result<DeliveryDetail> Delivery(std::int64_t delivery_id);
  // Queues the delivery's body again, due now, with the same webhook-id.
  Result<WebhookDelivery> Redeliver(std::int64_t delivery_id, std::string_view operator_name,
                                    Role role, const ChangeOrigin& origin = {});
  // Queues a webhook.test event to the policy, due now (also when the policy is disabled: a
  // person can check a receiver before enabling it again).
  Result<WebhookDelivery> SendTest(std::int64_t policy_id, std::string_view operator_name,
                                   Role role, const ChangeOrigin& origin = {});

  // Stores one delivery per enabled policy the event matches. Never throws; a store failure is
  // logged with the event (the change it reports is already committed).
  void Publish(const Event& event) override;

  // Starts and stops the sender threads. Stop waits for attempts in flight (at most `timeout`).
  void Start();
  void Stop();
  // Claims and sends at most one due delivery on the calling thread; whether one was sent.
  // What the senders do in a loop; tests call it to step.
  Result<bool> DeliverOne(std::string_view worker);

  // The wait before attempt `attempt` + 1 (attempt >= 1): first_retry doubled per attempt,
  // capped at max_retry, then between 80% and 100% of that (jitter), from `random` in [0, 1).
  static std::chrono::milliseconds RetryDelay(const WebhookOptions& options, int attempt,
                                              double random);
  // Whether a receiver's status asks for another attempt: 408, 429 and 5xx do; other 4xx and
  // 3xx (redirects are not followed) do not. 2xx is a success.
  static bool Retryable(int status);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace market
