#pragma once
// A small blocking HTTP(S) client for registry calls and webhooks: keep-alive per origin,
// timeouts, bounded retries of idempotent requests, TLS verification, and optionally a check of
// every address it would connect to. Call it from worker threads only: every call blocks the
// calling thread until the answer (or the timeout).

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "market/error.hpp"
#include "market/network_rules.hpp"

namespace market::harbor {

// An absolute http(s) URL split into what a request needs.
struct Url {
  std::string scheme;  // "http" or "https" (lower case)
  std::string host;    // without brackets for IPv6 literals
  std::uint16_t port = 0;
  bool explicit_port = false;
  std::string target;  // path and query, at least "/"

  // "host[:port]" as written in image references and Host headers.
  std::string HostPort() const;
  // "scheme://host[:port]": the key under which connections are kept.
  std::string Origin() const;
};

// Parses "http(s)://host[:port][/path][?query]". Rejects user info, fragments and other schemes;
// the error message starts with "url:" and says what is wrong.
Result<Url> ParseUrl(std::string_view text);
// Resolves a Location or Link target (absolute URL, or absolute path) against `base`.
Result<Url> ResolveUrl(const Url& base, std::string_view reference);

// Percent-encodes everything except RFC 3986 unreserved characters.
std::string PercentEncode(std::string_view text);

struct HttpHeader {
  std::string name;
  std::string value;
};

struct HttpRequest {
  std::string method = "GET";
  Url url;
  std::vector<HttpHeader> headers;
  std::string body;
  // Connecting, and then the whole exchange, each within this; unset: the client's timeouts.
  std::optional<std::chrono::milliseconds> timeout{};
};

struct HttpResponse {
  int status = 0;
  std::vector<HttpHeader> headers;
  std::string body;
  bool truncated = false;  // the body was cut to max_body_bytes (truncate_long_bodies)

  // The first header of that name (case-insensitive).
  std::optional<std::string> Header(std::string_view name) const;
};

struct HttpClientOptions {
  bool tls_verify = true;
  std::string ca_file;  // extra CA bundle; the system CAs are always trusted too
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds request_timeout{30000};
  int max_retries = 2;                     // GET and HEAD only
  std::chrono::milliseconds backoff{100};  // first retry delay, doubled per retry
  std::size_t max_idle_per_origin = 4;
  std::string user_agent = "image-market";  // unless the request gives a User-Agent
  // The longest body kept. A longer one fails the call (kUpstreamFailed), or with
  // truncate_long_bodies is cut to this size and the rest is not read: the connection is closed.
  std::size_t max_body_bytes = 64 * 1024 * 1024;  // manifests and configs are small
  bool truncate_long_bodies = false;
  // Unset: any destination. Set: every address the host resolves to is checked with
  // NetworkRules::Refusal and only the addresses it lets through are connected to (no second
  // lookup, so a DNS answer that changes in between does not matter).
  std::optional<NetworkRules> destinations;
};

class HttpConnection;

class HttpClient {
 public:
  // kInvalid when the CA file cannot be loaded.
  static Result<std::unique_ptr<HttpClient>> Create(HttpClientOptions options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Any HTTP status is a value. Errors: kForbidden when `destinations` refuse every address of
  // the host (the message names the host and why), kUpstreamTimeout when the peer did not
  // connect or answer in time, kUpstreamFailed when it could not be reached or broke the
  // exchange.
  // GET and HEAD are retried with exponential backoff on transport failures and on 500, 502,
  // 503 and 504; the last answer is returned. Redirects are not followed here.
  Result<HttpResponse> Send(const HttpRequest& request);

  // Resolves `url`'s host now and checks its addresses as Send would, without connecting:
  // kForbidden as above; kUpstreamFailed or kUpstreamTimeout when it does not resolve.
  Result<void> CheckDestination(const Url& url);

  const HttpClientOptions& options() const { return options_; }

 private:
  struct TlsContext;
  HttpClient(HttpClientOptions options, std::unique_ptr<TlsContext> tls);

  Result<HttpResponse> SendOnce(const HttpRequest& request);
  std::unique_ptr<HttpConnection> TakeIdle(const std::string& origin);
  void PutIdle(const std::string& origin, std::unique_ptr<HttpConnection> connection);

  HttpClientOptions options_;
  std::unique_ptr<TlsContext> tls_;
  std::mutex mutex_;
  std::map<std::string, std::vector<std::unique_ptr<HttpConnection>>> idle_;
};

}  // namespace market::harbor
