#pragma once
// The HTTP/1.1 core: Boost.Beast sessions with keep-alive on a few I/O threads; handlers that
// block run on a separate pool and their results are posted back.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "market/error.hpp"
#include "router.hpp"
#include "worker_pool.hpp"

namespace market::server {

class Authenticator;
class Auditor;

// One answered request, as metrics see it.
struct RequestRecord {
  const Route* route = nullptr;  // null: no route matched (404, 405, refused before routing)
  unsigned status = 0;
  std::chrono::steady_clock::duration elapsed{};  // from the full request to the last byte out
  std::uint64_t bytes = 0;                          // response bytes written, headers included
};

// Why a request or connection was turned away before any handler ran (docs/security.md).
enum class Refusal {
  kCrossSite,              // a state-changing request from another site's page (403)
  kHost,                   // a Host header that does not name this server (421)
  kConnectionsPerAddress,  // over max-connections-per-address: closed at once
  kSigninThrottled,        // too many failed sign-ins from the address or for the name (429)
  kSigninBusy,             // signin-max-concurrent verifications already running (429)
  kStreams,                // over max-log-follows live streams of one caller (429)
};
inline constexpr Refusal kAllRefusals[] = {Refusal::kCrossSite, Refusal::kHost,
                                           Refusal::kConnectionsPerAddress,
                                           Refusal::kSigninThrottled, Refusal::kSigninBusy,
                                           Refusal::kStreams};
std::string_view ToString(Refusal refusal);

// Told about every answered request, on an I/O thread: must be cheap and thread-safe.
class RequestObserver {
 public:
  virtual ~RequestObserver() = default;
  virtual void OnRequest(const RequestRecord& record) = 0;
  // A refusal (the refused request, if any, is also reported through OnRequest). Any thread.
  virtual void OnRefused(Refusal) {}
  // A sign-in whose credentials were wrong (not a missing credential). Any thread.
  virtual void OnSigninFailed() {}
};

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;  // 0: any free port (see Port())
  int io_threads = 2;
  std::int64_t max_body_bytes = 1 << 20;
  int max_connections = 1024;
  std::chrono::seconds header_timeout{10};  // the whole header, from its first byte
  std::chrono::seconds idle_timeout{60};    // keep-alive connection without a request
  std::chrono::seconds body_timeout{60};
  std::chrono::seconds write_timeout{60};
  std::chrono::seconds shutdown_grace{30};
  RequestObserver* observer = nullptr;  // must outlive the server; null: none
  // Per client (authenticated user, else IP address) token bucket; <= 0: no limit. Public
  // routes (probes, static files) are not limited.
  double rate_limit_per_second = 0;
  int rate_limit_burst = 0;

  // Browser-borne requests (docs/security.md). A state-changing request (not GET, HEAD or
  // OPTIONS) from another origin is refused unless that origin is listed (lower case, as
  // config.cpp keeps them).
  std::vector<std::string> allowed_origins;
  // Host header values served, `name` (any port) or `name:port`; empty: the listen address,
  // localhost, 127.0.0.1 and [::1]. /healthz, /readyz and /metrics answer any Host.
  std::vector<std::string> allowed_hosts;
  // Failed sign-ins per address and per user name in a window; past it, refused before any
  // password is checked.
  int signin_max_failures = 10;
  std::chrono::seconds signin_window{60};
  int max_connections_per_address = 256;
  int max_streams_per_caller = 8;  // live streamed responses (log follows) per caller
  const Auditor* auditor = nullptr;  // records failed sign-ins; null: not recorded
};

class HttpServer {
 public:
  // `auth` null: no authentication. Router, pool and authenticator must outlive the server.
  HttpServer(HttpServerOptions options, const Router& router, WorkerPool& blocking,
             const Authenticator* auth);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens. kUnavailable naming the address when it cannot.
  Result<void> Listen();
  std::uint16_t Port() const;
  // Serves on `io_threads` threads (the caller's among them) until Shutdown() has drained.
  void Run();
  // Thread-safe and idempotent: stops accepting, closes idle connections, lets requests in
  // flight finish (up to shutdown_grace), then Run() returns.
  void Shutdown();
  boost::asio::io_context& Context();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace market::server
