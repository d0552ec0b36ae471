#include "market/webhook_service.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <mutex>
#include <random>
#include <stop_token>
#include <thread>

#include <fmt/format.h>

#include "glob.hpp"
#include "log.hpp"
#include "market/validation.hpp"

namespace market {

namespace {

using std::chrono::milliseconds;

constexpr std::size_t kMaxUrlLength = 2048;
constexpr std::size_t kMaxGlobLength = 256;
constexpr int kPruneBatch = 1000;
// The signature headers' values are secrets' work: recorded attempts show that they were sent.
constexpr std::string_view kRemoved = "(removed)";

std::string DefaultWorkerPrefix() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return fmt::format("{}:{}/webhooks", host[0] != '\0' ? host : "localhost", ::getpid());
}

bool Printable(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return static_cast<unsigned char>(c) > 0x20 && c != 0x7f; });
}

Result<std::vector<EventType>> EventTypes(std::string_view text) {
  std::vector<EventType> types;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find(',', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view item = text.substr(start, end - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) {
      std::optional<EventType> type = ParseEventType(item);
      const auto& allowed = SubscribableEventTypes();
      if (!type || std::find(allowed.begin(), allowed.end(), *type) == allowed.end()) {
        std::string names;
        for (EventType t : allowed) names += (names.empty() ? "" : ", ") + std::string(ToString(t));
        return Fail(Errc::kInvalid, fmt::format("events: unknown event type '{}'; known: {}",
                                                item.substr(0, 64), names));
      }
      if (std::find(types.begin(), types.end(), *type) == types.end()) types.push_back(*type);
    }
    start = end + 1;
  }
  if (types.empty()) return Fail(Errc::kInvalid, "events must name at least one event type");
  return types;
}

Result<std::string> Glob(std::string_view field, std::string_view text) {
  if (text.size() > kMaxGlobLength || !Printable(text)) {
    return Fail(Errc::kInvalid,
                fmt::format("{} must be a glob of at most {} printable characters without spaces",
                            field, kMaxGlobLength));
  }
  return std::string(text);
}

// A filter applies to events that carry its field: project events pass a tag filter.
bool Matches(const WebhookPolicy& policy, const Event& event) {
  if (std::find(policy.events.begin(), policy.events.end(), event.type) == policy.events.end()) {
    return false;
  }
  if (!policy.repository_glob.empty() && !event.repository.empty() &&
      !GlobMatches(policy.repository_glob, event.repository)) {
    return false;
  }
  if (!policy.tag_glob.empty() && !event.tag.empty() && !GlobMatches(policy.tag_glob, event.tag)) {
    return false;
  }
  return true;
}

// A target's URL may carry a credential (chat services put theirs in the path): logs and the
// audit name its origin only.
std::string UrlOrigin(std::string_view url) {
  const std::size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return "(invalid url)";
  const std::size_t authority = scheme_end + 3;
  const std::size_t path = std::min(url.find_first_of("/?#", authority), url.size());
  std::string_view host = url.substr(authority, path - authority);
  // User info is refused at save; were it there, it would not be shown.
  if (const std::size_t at = host.rfind('@'); at != std::string_view::npos) {
    host.remove_prefix(at + 1);
  }
  return fmt::format("{}{}", url.substr(0, authority), host);
}

// What a receiver answered, kept as text a database's text column and JSON take: each byte
// that does not start a well-formed UTF-8 sequence becomes U+FFFD.
std::string ValidUtf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  std::size_t i = 0;
  while (i < bytes.size()) {
    const auto lead = static_cast<unsigned char>(bytes[i]);
    std::size_t length = 0;
    unsigned char low = 0x80, high = 0xbf;  // the allowed range of the second byte
    if (lead < 0x80) {
      length = 1;
    } else if (lead >= 0xc2 && lead <= 0xdf) {
      length = 2;
    } else if (lead >= 0xe0 && lead <= 0xef) {
      length = 3;
      if (lead == 0xe0) low = 0xa0;   // no overlong forms
      if (lead == 0xed) high = 0x9f;  // no surrogates
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      length = 4;
      if (lead == 0xf0) low = 0x90;
      if (lead == 0xf4) high = 0x8f;  // nothing above U+10FFFF
    }
    bool ok = length > 0 && i + length <= bytes.size();
    for (std::size_t k = 1; ok && k < length; ++k) {
      const auto c = static_cast<unsigned char>(bytes[i + k]);
      ok = k == 1 ? (c >= low && c <= high) : (c >= 0x80 && c <= 0xbf);
    }
    if (ok) {
      out.append(bytes.substr(i, length));
      i += length;
    } else {
      out.append("\xEF\xBF\xBD");
      ++i;
    }
  }
  return out;
}

nlohmann::json AuditJson(const WebhookPolicy& policy) {
  nlohmann::json events = nlohmann::json::array();
  for (EventType type : policy.events) events.push_back(ToString(type));
  return {{"id", policy.id},
          {"project", policy.project},
          {"name", policy.name},
          {"enabled", policy.enabled},
          {"target", UrlOrigin(policy.url)},
          {"events", std::move(events)},
          {"repository", policy.repository_glob},
          {"tag", policy.tag_glob},
          {"signed", !policy.secret.empty()},
          {"format", ToString(policy.format)}};
}

nlohmann::json HeadersJson(const std::vector<SignedHeader>& headers) {
  nlohmann::json object = nlohmann::json::object();
  for (const SignedHeader& header : headers) {
    const bool signature = header.name == "webhook-signature" ||
                           header.name == "X-Market-Signature-256";
    object[header.name] = signature ? std::string(kRemoved) : header.value;
  }
  return object;
}

std::string Dump(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// The delivery of `event` to `policy`, due when the event happened: the body in the policy's
// format, as it will be sent and signed.
WebhookDelivery DeliveryOf(const WebhookPolicy& policy, const Event& event,
                           std::string_view source) {
  WebhookDelivery delivery;
  delivery.policy_id = policy.id;
  delivery.event_id = event.id;
  delivery.event_type = ToString(event.type);
  delivery.body = Dump(EventPayload(event, policy.format, source));
  delivery.content_type = PayloadContentType(policy.format);
  delivery.created_at = event.occurred_at;
  delivery.next_attempt_at = event.occurred_at;
  return delivery;
}

double Random01() {
  thread_local std::mt19937_64 engine{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(engine);
}

}  // namespace

class WebhookService::Impl {
 public:
  Impl(WebhookDependencies deps, WebhookOptions options)
      : deps_(deps), options_(std::move(options)), audit_(deps.audit, *deps.clock) {
    if (options_.worker_prefix.empty()) options_.worker_prefix = DefaultWorkerPrefix();
    if (options_.senders < 1) options_.senders = 1;
  }
  ~Impl() { Stop(); }

  Result<WebhookPolicy> Create(const WebhookPolicyRequest& request,
                               std::string_view operator_name, Role role,
                               const ChangeOrigin& origin);
  Result<WebhookPolicy> Update(std::int64_t id, const WebhookPolicyRequest& request,
                               std::string_view operator_name, Role role,
                               const ChangeOrigin& origin);
  Result<void> Delete(std::int64_t id, std::string_view operator_name, Role role,
                      const ChangeOrigin& origin);
  Result<WebhookPolicy> Get(std::int64_t id) { return deps_.store->GetPolicy(id); }
  Result<std::vector<WebhookPolicy>> List(std::string_view project) {
    return deps_.store->ListPolicies(project);
  }
  Result<DeliveryPage> Deliveries(std::int64_t policy_id, std::string_view before,
                                  std::string_view page_size);
  Result<DeliveryDetail> Delivery(std::int64_t delivery_id);
  Result<WebhookDelivery> Redeliver(std::int64_t delivery_id, std::string_view operator_name,
                                    Role role, const ChangeOrigin& origin);
  Result<WebhookDelivery> SendTest(std::int64_t policy_id, std::string_view operator_name,
                                   Role role, const ChangeOrigin& origin);
  void Publish(const Event& event);
  void Start();
  void Stop();
  Result<bool> DeliverOne(std::string_view worker);

 private:
  // Global policies are the admins'; a project's, its developers' (the routes check those).
  static Result<void> MayManage(std::string_view project, Role role) {
    if (project.empty() && role != Role::kAdmin) {
      return Fail(Errc::kForbidden, "global webhooks are managed by admins");
    }
    return {};
  }
  Result<void> Apply(const WebhookPolicyRequest& request, WebhookPolicy& policy);
  void PublishOrThrow(const Event& event);
  Result<WebhookDelivery> Queue(const WebhookDelivery& delivery);
  AttemptOutcome Judge(const WebhookDelivery& delivery,
                       DeliveryAttempt attempt, const Result<WebhookAnswer>& answer,
                       TimePoint now) const;
  void SenderLoop(std::stop_token stop, std::string worker);
  void Wake() {
    {
      std::lock_guard lock(mu_);
      ++generation_;
    }
    cv_.notify_all();
  }
  void PruneNow();

  WebhookDependencies deps_;
  WebhookOptions options_;
  AuditTrail audit_;

  std::mutex mu_;
  std::condition_variable_any cv_;
  std::uint64_t generation_ = 0;  // bumped when a delivery may be due
  bool started_ = false;
  std::vector<std::jthread> senders_;
  std::atomic<std::int64_t> next_prune_ms_{0};
};

Result<void> WebhookService::Impl::Apply(const WebhookPolicyRequest& request,
                                         WebhookPolicy& policy) {
  if (request.name) {
    MARKET_ASSIGN_OR_RETURN(policy.name, ValidateObjectName("name", *request.name));
  }
  if (request.enabled) {
    MARKET_ASSIGN_OR_RETURN(policy.enabled, ParseFlag("enabled", *request.enabled));
  }
  if (request.url) {
    if (request.url->size() > kMaxUrlLength) {
      return Fail(Errc::kInvalid, fmt::format("url is longer than {} characters", kMaxUrlLength));
    }
    MARKET_RETURN_IF_ERROR(deps_.transport->CheckTarget(*request.url));
    policy.url = *request.url;
  }
  if (request.events) {
    MARKET_ASSIGN_OR_RETURN(policy.events, EventTypes(*request.events));
  }
  if (request.repository) {
    MARKET_ASSIGN_OR_RETURN(policy.repository_glob, Glob("repository", *request.repository));
  }
  if (request.tag) {
    MARKET_ASSIGN_OR_RETURN(policy.tag_glob, Glob("tag", *request.tag));
  }
  if (request.secret) {
    // Empty: unsigned deliveries.
    if (!request.secret->empty()) MARKET_RETURN_IF_ERROR(ValidateSecret("secret", *request.secret));
    policy.secret = *request.secret;
  }
  if (request.format) {
    std::optional<PayloadFormat> format = ParsePayloadFormat(*request.format);
    if (!format) return Fail(Errc::kInvalid, "format must be default or cloudevents");
    policy.format = *format;
  }
  return {};
}

Result<WebhookPolicy> WebhookService::Impl::Create(const WebhookPolicyRequest& request,
                                                   std::string_view operator_name, Role role,
                                                   const ChangeOrigin& origin) {
  // Whoever may create policies may create a project's: without one, the request lacks it.
  if (request.project.empty() && role != Role::kAdmin) {
    return Fail(Errc::kInvalid, "project is required: only admins manage global webhooks");
  }
  WebhookPolicy policy;
  if (!request.project.empty()) {
    MARKET_ASSIGN_OR_RETURN(policy.project, NormalizeProjectName("project", request.project));
  }
  if (!request.name) return Fail(Errc::kInvalid, "name is required");
  if (!request.url) return Fail(Errc::kInvalid, "url is required");
  if (!request.events) return Fail(Errc::kInvalid, "events is required");
  MARKET_RETURN_IF_ERROR(Apply(request, policy));
  policy.creator = operator_name;
  MARKET_ASSIGN_OR_RETURN(WebhookPolicy created, deps_.store->CreatePolicy(policy));
  audit_.Record(operator_name, origin, "webhook.create", fmt::format("webhook:{}", created.id),
                nullptr, AuditJson(created));
  return created;
}

Result<WebhookPolicy> WebhookService::Impl::Update(std::int64_t id,
                                                   const WebhookPolicyRequest& request,
                                                   std::string_view operator_name, Role role,
                                                   const ChangeOrigin& origin) {
  MARKET_ASSIGN_OR_RETURN(WebhookPolicy before, deps_.store->GetPolicy(id));
  MARKET_RETURN_IF_ERROR(MayManage(before.project, role));
  WebhookPolicy policy = before;
  MARKET_RETURN_IF_ERROR(Apply(request, policy));
  MARKET_ASSIGN_OR_RETURN(WebhookPolicy updated, deps_.store->UpdatePolicy(policy));
  audit_.Record(operator_name, origin, "webhook.update", fmt::format("webhook:{}", id),
                AuditJson(before), AuditJson(updated));
  if (updated.enabled && !before.enabled) Wake();  // what waited for it is due
  return updated;
}

Result<void> WebhookService::Impl::Delete(std::int64_t id, std::string_view operator_name,
                                          Role role, const ChangeOrigin& origin) {
  MARKET_ASSIGN_OR_RETURN(WebhookPolicy before, deps_.store->GetPolicy(id));
  MARKET_RETURN_IF_ERROR(MayManage(before.project, role));
  MARKET_RETURN_IF_ERROR(deps_.store->DeletePolicy(id));
  audit_.Record(operator_name, origin, "webhook.delete", fmt::format("webhook:{}", id),
                AuditJson(before), nullptr);
  return {};
}

Result<DeliveryPage> WebhookService::Impl::Deliveries(std::int64_t policy_id,
                                                      std::string_view before,
                                                      std::string_view page_size) {
  std::optional<std::int64_t> cursor;
  if (!before.empty()) {
    MARKET_ASSIGN_OR_RETURN(cursor, ParseBuildId("before", before));
  }
  MARKET_ASSIGN_OR_RETURN(int limit, ParsePageSize("page_size", page_size));
  MARKET_RETURN_IF_ERROR(deps_.store->GetPolicy(policy_id));
  return deps_.store->ListDeliveries(policy_id, cursor, limit);
}

Result<DeliveryDetail> WebhookService::Impl::Delivery(std::int64_t delivery_id) {
  DeliveryDetail detail;
  MARKET_ASSIGN_OR_RETURN(detail.delivery, deps_.store->GetDelivery(delivery_id));
  MARKET_ASSIGN_OR_RETURN(detail.attempts, deps_.store->ListAttempts(delivery_id));
  return detail;
}

Result<WebhookDelivery> WebhookService::Impl::Queue(const WebhookDelivery& delivery) {
  MARKET_ASSIGN_OR_RETURN(std::vector<WebhookDelivery> queued, deps_.store->Enqueue({delivery}));
  // The store leaves out a delivery whose policy was deleted in the meantime.
  if (queued.empty()) {
    return Fail(Errc::kNotFound,
                fmt::format("webhook policy {} was deleted meanwhile", delivery.policy_id));
  }
  Wake();
  return queued.front();
}

Result<WebhookDelivery> WebhookService::Impl::Redeliver(std::int64_t delivery_id,
                                                        std::string_view operator_name, Role role,
                                                        const ChangeOrigin& origin) {
  MARKET_ASSIGN_OR_RETURN(WebhookDelivery original, deps_.store->GetDelivery(delivery_id));
  MARKET_ASSIGN_OR_RETURN(WebhookPolicy policy, deps_.store->GetPolicy(original.policy_id));
  MARKET_RETURN_IF_ERROR(MayManage(policy.project, role));
  // The same bytes and webhook-id: receivers that saw it once can tell.
  WebhookDelivery again;
  again.policy_id = original.policy_id;
  again.event_id = original.event_id;
  again.event_type = original.event_type;
  again.body = original.body;
  again.content_type = original.content_type;
  again.created_at = deps_.clock->Now();
  again.next_attempt_at = again.created_at;
  again.redelivery_of = original.id;
  MARKET_ASSIGN_OR_RETURN(WebhookDelivery queued, Queue(again));
  audit_.Record(operator_name, origin, "webhook.redeliver",
                fmt::format("webhook:{}", policy.id), nullptr,
                {{"delivery", queued.id}, {"of", original.id}});
  return queued;
}

Result<WebhookDelivery> WebhookService::Impl::SendTest(std::int64_t policy_id,
                                                       std::string_view operator_name, Role role,
                                                       const ChangeOrigin& origin) {
  MARKET_ASSIGN_OR_RETURN(WebhookPolicy policy, deps_.store->GetPolicy(policy_id));
  MARKET_RETURN_IF_ERROR(MayManage(policy.project, role));
  Event event = Event::ForProject(EventType::kWebhookTest, policy.project, operator_name,
                                  deps_.clock->Now());
  MARKET_ASSIGN_OR_RETURN(WebhookDelivery queued,
                          Queue(DeliveryOf(policy, event, options_.source)));
  audit_.Record(operator_name, origin, "webhook.test", fmt::format("webhook:{}", policy.id),
                nullptr, {{"delivery", queued.id}});
  return queued;
}

void WebhookService::Impl::Publish(const Event& event) {
  // The change this event reports is committed: nothing here may undo or abort it.
  try {
    PublishOrThrow(event);
  } catch (const std::exception& e) {
    MARKET_LOG_ERROR("event {} ({}) reached no webhook: {}", event.id, ToString(event.type),
                     e.what());
  }
}

void WebhookService::Impl::PublishOrThrow(const Event& event) {
  Result<std::vector<WebhookPolicy>> policies = deps_.store->EnabledPoliciesFor(event.project);
  if (!policies) {
    MARKET_LOG_ERROR("event {} ({}) reached no webhook: reading the policies failed: {}",
                     event.id, ToString(event.type), policies.error().message);
    return;
  }
  std::vector<WebhookDelivery> deliveries;
  for (const WebhookPolicy& policy : *policies) {
    if (Matches(policy, event)) deliveries.push_back(DeliveryOf(policy, event, options_.source));
  }
  if (deliveries.empty()) return;
  Result<std::vector<WebhookDelivery>> queued = deps_.store->Enqueue(deliveries);
  if (!queued) {
    MARKET_LOG_ERROR("event {} ({}) not queued for {} webhook(s): {}", event.id,
                     ToString(event.type), deliveries.size(), queued.error().message);
    return;
  }
  Wake();
}

AttemptOutcome WebhookService::Impl::Judge(const WebhookDelivery& delivery,
                                           DeliveryAttempt attempt,
                                           const Result<WebhookAnswer>& answer,
                                           TimePoint now) const {
  AttemptOutcome outcome;
  attempt.response_headers = "{}";
  bool retry = false;
  if (answer) {
    attempt.status = answer->status;
    attempt.response_headers = Dump(HeadersJson(answer->headers));
    attempt.response_excerpt =
        ValidUtf8(std::string_view(answer->body).substr(0, DeliveryAttempt::kResponseExcerptBytes));
    if (answer->status >= 200 && answer->status < 300) {
      outcome.next_state = DeliveryState::kDelivered;
    } else {
      attempt.error = fmt::format("the receiver answered {}", answer->status);
      retry = Retryable(answer->status);
    }
  } else {
    attempt.error = answer.error().message;
    // A refused destination stays refused until an operator changes the rules.
    retry = answer.error().code != Errc::kForbidden;
  }
  if (outcome.next_state != DeliveryState::kDelivered) {
    const TimePoint retry_at = now + RetryDelay(options_, attempt.number, Random01());
    if (retry && retry_at < delivery.created_at + options_.retry_for) {
      outcome.next_state = DeliveryState::kPending;
      outcome.retry_at = retry_at;
    } else {
      outcome.next_state = DeliveryState::kFailed;
      outcome.disable_after = options_.disable_after;
      outcome.disable_reason =
          fmt::format("disabled after {} failed deliveries in a row; the last: {}",
                      options_.disable_after, attempt.error);
    }
  }
  outcome.attempt = std::move(attempt);
  return outcome;
}

Result<bool> WebhookService::Impl::DeliverOne(std::string_view worker) {
  const TimePoint now = deps_.clock->Now();
  // The lease outlives the slowest attempt: connecting and answering have a timeout each.
  const TimePoint lease_until = now + 2 * options_.timeout + milliseconds(10000);
  MARKET_ASSIGN_OR_RETURN(std::optional<WebhookDelivery> claimed,
                          deps_.store->ClaimDue(worker, now, lease_until));
  if (!claimed) return false;
  const WebhookDelivery& delivery = *claimed;
  Result<WebhookPolicy> policy = deps_.store->GetPolicy(delivery.policy_id);
  if (!policy) {
    // Deleted since the claim: its deliveries went with it.
    return true;
  }

  WebhookPost post;
  post.url = policy->url;
  post.body = delivery.body;
  post.timeout = options_.timeout;
  post.headers.push_back({"Content-Type", delivery.content_type});
  post.headers.push_back({"X-Market-Event", delivery.event_type});
  post.headers.push_back({"X-Market-Delivery", std::to_string(delivery.id)});
  const TimePoint sent_at = deps_.clock->Now();
  const std::int64_t unix_seconds =
      std::chrono::duration_cast<std::chrono::seconds>(sent_at.time_since_epoch()).count();
  for (SignedHeader& header :
       WebhookSignatureHeaders(policy->secret, delivery.event_id, unix_seconds, delivery.body)) {
    post.headers.push_back(std::move(header));
  }

  DeliveryAttempt attempt;
  attempt.delivery_id = delivery.id;
  attempt.number = delivery.attempts + 1;
  attempt.started_at = sent_at;
  attempt.request_headers = Dump(HeadersJson(post.headers));
  const auto started = std::chrono::steady_clock::now();
  Result<WebhookAnswer> answer = deps_.transport->Post(post);
  attempt.duration_ms = std::chrono::duration_cast<milliseconds>(
                            std::chrono::steady_clock::now() - started)
                            .count();

  const TimePoint finished = deps_.clock->Now();
  AttemptOutcome outcome = Judge(delivery, std::move(attempt), answer, finished);
  MARKET_LOG_INFO("webhook delivery {} ({} to policy {} at {}), attempt {}: {} in {} ms",
                  delivery.id, delivery.event_type, policy->id, UrlOrigin(policy->url),
                  outcome.attempt.number,
                  outcome.attempt.error.empty() ? std::to_string(outcome.attempt.status)
                                                : outcome.attempt.error,
                  outcome.attempt.duration_ms);
  MARKET_ASSIGN_OR_RETURN(bool recorded,
                          deps_.store->RecordAttempt(delivery.id, worker, outcome, finished));
  if (recorded && outcome.next_state == DeliveryState::kFailed &&
      options_.disable_after > 0 &&
      policy->consecutive_failures + 1 >= options_.disable_after) {
    // The count read at the claim may lag behind other senders': the store decides, this
    // only says it may have happened.
    MARKET_LOG_WARN("webhook policy {} ({}) may be disabled: {}", policy->id,
                    UrlOrigin(policy->url), outcome.disable_reason);
  }
  if (!recorded) {
    MARKET_LOG_WARN("webhook delivery {}: the lease ended before the attempt was recorded; "
                    "another worker tries it again",
                    delivery.id);
  }
  return true;
}

void WebhookService::Impl::PruneNow() {
  const TimePoint before = deps_.clock->Now() - options_.keep_deliveries;
  Result<int> pruned = deps_.store->PruneDeliveries(before, kPruneBatch);
  if (!pruned) {
    MARKET_LOG_WARN("pruning finished webhook deliveries failed: {}", pruned.error().message);
  } else if (*pruned > 0) {
    MARKET_LOG_INFO("pruned {} webhook deliveries finished before {}", *pruned,
                    FormatIso8601(before));
  }
}

void WebhookService::Impl::SenderLoop(std::stop_token stop, std::string worker) {
  constexpr std::int64_t kPruneEveryMs = 10 * 60 * 1000;
  while (!stop.stop_requested()) {
    const std::int64_t now_ms = std::chrono::duration_cast<milliseconds>(
                                    std::chrono::steady_clock::now().time_since_epoch())
                                    .count();
    std::int64_t due = next_prune_ms_.load();
    if (now_ms >= due && next_prune_ms_.compare_exchange_strong(due, now_ms + kPruneEveryMs)) {
      PruneNow();
    }
    std::uint64_t seen;
    {
      std::lock_guard lock(mu_);
      seen = generation_;
    }
    Result<bool> sent = DeliverOne(worker);
    if (sent && *sent) continue;
    if (!sent) MARKET_LOG_WARN("{}: delivering a webhook failed: {}", worker, sent.error().message);
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, stop, options_.poll_interval, [&] { return generation_ != seen; });
  }
}

void WebhookService::Impl::Start() {
  std::lock_guard lock(mu_);
  if (started_) return;
  started_ = true;
  // What this instance's previous life was sending died with it: due again now.
  Result<int> released = deps_.store->ReleaseLeasesOf(options_.worker_prefix);
  if (!released) {
    MARKET_LOG_WARN("releasing the webhook deliveries of {} failed: {}", options_.worker_prefix,
                    released.error().message);
  } else if (*released > 0) {
    MARKET_LOG_WARN("{} webhook delivery(ies) left in flight by {} are due again", *released,
                    options_.worker_prefix);
  }
  for (int i = 0; i < options_.senders; ++i) {
    senders_.emplace_back([this, id = fmt::format("{}/{}", options_.worker_prefix, i)](
                              std::stop_token stop) { SenderLoop(stop, id); });
  }
  MARKET_LOG_INFO("webhook senders started: {} as {}", options_.senders, options_.worker_prefix);
}

void WebhookService::Impl::Stop() {
  std::vector<std::jthread> senders;
  {
    std::lock_guard lock(mu_);
    senders.swap(senders_);
    started_ = false;
  }
  for (auto& sender : senders) sender.request_stop();
  cv_.notify_all();
  senders.clear();  // joins; an attempt in flight ends within its timeout
}

WebhookService::WebhookService(WebhookDependencies deps, WebhookOptions options)
    : impl_(std::make_unique<Impl>(deps, std::move(options))) {}
WebhookService::~WebhookService() = default;

Result<WebhookPolicy> WebhookService::Create(const WebhookPolicyRequest& request,
                                             std::string_view operator_name, Role role,
                                             const ChangeOrigin& origin) {
  return impl_->Create(request, operator_name, role, origin);
}
Result<WebhookPolicy> WebhookService::Update(std::int64_t id, const WebhookPolicyRequest& request,
                                             std::string_view operator_name, Role role,
                                             const ChangeOrigin& origin) {
  return impl_->Update(id, request, operator_name, role, origin);
}
Result<void> WebhookService::Delete(std::int64_t id, std::string_view operator_name, Role role,
                                    const ChangeOrigin& origin) {
  return impl_->Delete(id, operator_name, role, origin);
}
Result<WebhookPolicy> WebhookService::Get(std::int64_t id) { return impl_->Get(id); }
Result<std::vector<WebhookPolicy>> WebhookService::List(std::string_view project) {
  return impl_->List(project);
}
Result<DeliveryPage> WebhookService::Deliveries(std::int64_t policy_id, std::string_view before,
                                                std::string_view page_size) {
  return impl_->Deliveries(policy_id, before, page_size);
}
Result<DeliveryDetail> WebhookService::Delivery(std::int64_t delivery_id) {
  return impl_->Delivery(delivery_id);
}
Result<WebhookDelivery> WebhookService::Redeliver(std::int64_t delivery_id,
                                                  std::string_view operator_name, Role role,
                                                  const ChangeOrigin& origin) {
  return impl_->Redeliver(delivery_id, operator_name, role, origin);
}
Result<WebhookDelivery> WebhookService::SendTest(std::int64_t policy_id,
                                                 std::string_view operator_name, Role role,
                                                 const ChangeOrigin& origin) {
  return impl_->SendTest(policy_id, operator_name, role, origin);
}
void WebhookService::Publish(const Event& event) { impl_->Publish(event); }
void WebhookService::Start() { impl_->Start(); }
void WebhookService::Stop() { impl_->Stop(); }
Result<bool> WebhookService::DeliverOne(std::string_view worker) {
  return impl_->DeliverOne(worker);
}

std::chrono::milliseconds WebhookService::RetryDelay(const WebhookOptions& options, int attempt,
                                                     double random) {
  // Doubling stops well before it could overflow: 2^20 times the first wait is beyond any cap.
  const int doublings = std::clamp(attempt - 1, 0, 20);
  const auto full =
      std::min(options.first_retry * (std::int64_t{1} << doublings), options.max_retry);
  const double factor = 0.8 + 0.2 * std::clamp(random, 0.0, 1.0);
  return milliseconds(static_cast<std::int64_t>(static_cast<double>(full.count()) * factor));
}

bool WebhookService::Retryable(int status) {
  return status == 408 || status == 429 || (status >= 500 && status <= 599);
}

}  // namespace market
