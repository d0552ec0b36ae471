#pragma once
// The HTTP/1.1 core: Boost.Beast sessions with keep-alive on a few I/O threads; handlers that
// block run on a separate pool and their results are posted back.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "market/error.hpp"
#include "router.hpp"
#include "worker_pool.hpp"

namespace market::server {

class Authenticator;

// One answered request, as metrics see it.
struct RequestRecord {
  const Route* route = nullptr;  // null: no route matched (404, 405, refused before routing)
  unsigned status = 0;
  std::chrono::steady_clock::duration elapsed{};  // from the full request to the last byte out
  std::uint64_t bytes = 0;                          // response bytes written, headers included
};

// Told about every answered request, on an I/O thread: must be cheap and thread-safe.
class RequestObserver {
 public:
  virtual ~RequestObserver() = default;
  virtual void OnRequest(const RequestRecord& record) = 0;
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
