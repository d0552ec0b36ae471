#pragma once
// The webhooks' transport: one HTTP(S) POST per attempt to destinations the build sandbox's
// network rules let through.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "market/network_rules.hpp"
#include "market/webhook_service.hpp"

namespace market::harbor {
class HttpClient;
}

namespace market::server {

struct WebhookTransportOptions {
  // Loopback, link-local, unspecified and this host's addresses are refused by NetworkRules
  // itself; `deny` adds the operator's networks (build-deny-networks) and `allow`
  // (webhook-allow-networks) wins over every denial.
  NetworkRules rules;
  bool tls_verify = true;
  std::string ca_file;  // extra CA bundle besides the system's
  std::string user_agent = "ImageMarket-Webhook/1";
};

class HttpWebhookTransport final : public WebhookTransport {
 public:
  // The most of a receiver's answer kept: enough to show why it failed, never its whole body.
  static constexpr std::size_t kMaxAnswerBytes = 4096;

  // kInvalid when the CA file cannot be loaded.
  static Result<std::unique_ptr<HttpWebhookTransport>> Create(WebhookTransportOptions options);
  ~HttpWebhookTransport() override;
  HttpWebhookTransport(const HttpWebhookTransport&) = delete;
  HttpWebhookTransport& operator=(const HttpWebhookTransport&) = delete;

  // WebhookTransport
  // One attempt, connecting and then exchanging each within post.timeout; the answer's body
  // is cut to kMaxAnswerBytes. A URL that does not parse (it was checked when saved) is
  // kUpstreamFailed.
  Result<WebhookAnswer> Post(const WebhookPost& post) override;
  Result<void> CheckTarget(std::string_view url) override;

 private:
  explicit HttpWebhookTransport(std::unique_ptr<harbor::HttpClient> client);

  std::unique_ptr<harbor::HttpClient> client_;
};

}  // namespace market::server
