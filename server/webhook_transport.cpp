#include "webhook_transport.hpp"

#include <utility>

#include "market/harbor_client/http_client.hpp"

namespace market::server {

namespace {

// The client's "host refused: why", said as a webhook's and with the way out.
std::string Refused(const std::string& message) {
  return "webhook target " + message + " (webhook-allow-networks can allow it)";
}

}  // namespace

Result<std::unique_ptr<HttpWebhookTransport>> HttpWebhookTransport::Create(
    WebhookTransportOptions options) {
  harbor::HttpClientOptions http;
  http.tls_verify = options.tls_verify;
  http.ca_file = std::move(options.ca_file);
  http.max_retries = 0;  // the webhook service retries, with backoff, and records each attempt
  http.user_agent = std::move(options.user_agent);
  http.max_body_bytes = kMaxAnswerBytes;
  http.truncate_long_bodies = true;  // the status is the answer; the body only helps explain it
  http.destinations = std::move(options.rules);
  MARKET_ASSIGN_OR_RETURN(auto client, harbor::HttpClient::Create(std::move(http)));
  return std::unique_ptr<HttpWebhookTransport>(new HttpWebhookTransport(std::move(client)));
}

HttpWebhookTransport::HttpWebhookTransport(std::unique_ptr<harbor::HttpClient> client)
    : client_(std::move(client)) {}

HttpWebhookTransport::~HttpWebhookTransport() = default;

// WebhookTransport

Result<WebhookAnswer> HttpWebhookTransport::Post(const WebhookPost& post) {
  auto url = harbor::ParseUrl(post.url);
  if (!url) return Fail(Errc::kUpstreamFailed, url.error().message);
  harbor::HttpRequest request{"POST", std::move(*url), {}, post.body, post.timeout};
  for (const auto& header : post.headers) request.headers.push_back({header.name, header.value});
  auto response = client_->Send(request);
  if (!response) {
    if (response.error().code == Errc::kForbidden) {
      return Fail(Errc::kForbidden, Refused(response.error().message));
    }
    return std::unexpected(std::move(response).error());
  }
  WebhookAnswer answer;
  answer.status = response->status;
  for (auto& header : response->headers) {
    answer.headers.push_back({std::move(header.name), std::move(header.value)});
  }
  answer.body = std::move(response->body);
  return answer;
}

Result<void> HttpWebhookTransport::CheckTarget(std::string_view text) {
  auto url = harbor::ParseUrl(text);
  if (!url) return Fail(Errc::kInvalid, url.error().message);  // "url: ..."
  auto checked = client_->CheckDestination(*url);
  if (!checked && checked.error().code == Errc::kForbidden) {
    return Fail(Errc::kInvalid, "url: " + Refused(checked.error().message));
  }
  // Reachable, or a name that does not resolve now: each send checks it again.
  return {};
}

}  // namespace market::server
