// The listener: accepts connections within max-connections and max-connections-per-address,
// hands each to a Session (http_session.cpp), runs the I/O threads and drains at shutdown.
#include "http_server.hpp"

#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "http_session.hpp"

namespace market::server {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;

std::string_view ToString(Refusal refusal) {
  switch (refusal) {
    case Refusal::kCrossSite:
      return "cross_site";
    case Refusal::kHost:
      return "host";
    case Refusal::kConnectionsPerAddress:
      return "connections_per_address";
    case Refusal::kSigninThrottled:
      return "signin_throttled";
    case Refusal::kSigninBusy:
      return "signin_busy";
    case Refusal::kStreams:
      return "streams";
  }
  return "other";
}

class HttpServer::Impl {
 public:
  Impl(HttpServerOptions options, const Router& router, WorkerPool& blocking,
       const Authenticator* auth)
      : state_(std::move(options), router, blocking, auth),
        acceptor_(net::make_strand(state_.io)) {}

  ~Impl() {
    beast::error_code ec;
    acceptor_.close(ec);
    state_.grace_timer.reset();
  }

  Result<void> Listen() {
    beast::error_code ec;
    net::ip::address address = net::ip::make_address(state_.options.host, ec);
    if (ec) return Fail(Errc::kInvalid, fmt::format("listen: bad host {}", state_.options.host));
    tcp::endpoint endpoint(address, state_.options.port);
    auto fail = [&](std::string_view what) {
      return Fail(Errc::kUnavailable, fmt::format("cannot {} {}:{}: {}", what,
                                                  state_.options.host, state_.options.port,
                                                  ec.message()));
    };
    acceptor_.open(endpoint.protocol(), ec);
    if (ec) return fail("open");
    acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    acceptor_.bind(endpoint, ec);
    if (ec) return fail("bind");
    acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) return fail("listen on");
    port_ = acceptor_.local_endpoint().port();
    if (state_.options.allowed_hosts.empty() && address.is_unspecified()) {
      spdlog::warn("listening on {} with allowed-hosts empty: only requests for {} or a "
                   "loopback name are answered (421 otherwise); list the names clients use in "
                   "allowed-hosts",
                   state_.options.host, state_.options.host);
    }
    Accept();
    return {};
  }

  void Run() {
    std::vector<std::thread> threads;
    for (int i = 1; i < state_.options.io_threads; ++i) {
      threads.emplace_back([this] { state_.io.run(); });
    }
    state_.io.run();
    for (std::thread& thread : threads) thread.join();
  }

  void Shutdown() {
    if (state_.stopping.exchange(true)) return;
    // On the acceptor's strand: its completion handlers run there too.
    net::post(acceptor_.get_executor(), [this] {
      beast::error_code ec;
      acceptor_.close(ec);
      std::vector<std::shared_ptr<Session>> live;
      {
        std::lock_guard lock(state_.mutex);
        for (auto& [raw, weak] : state_.sessions) {
          if (auto session = weak.lock()) live.push_back(std::move(session));
        }
        if (!live.empty()) {
          state_.grace_timer.emplace(state_.io, state_.options.shutdown_grace);
          state_.grace_timer->async_wait([this](beast::error_code wait_ec) {
            if (wait_ec) return;  // cancelled: every connection finished in time
            spdlog::warn("shutdown grace of {}s is over; dropping the remaining connections",
                         state_.options.shutdown_grace.count());
            state_.io.stop();
          });
        }
      }
      for (auto& session : live) {
        net::post(session->Executor(), [session] { session->OnStopping(); });
      }
    });
  }

  std::uint16_t Port() const { return port_; }
  net::io_context& Context() { return state_.io; }

 private:
  void Accept() {
    acceptor_.async_accept(net::make_strand(state_.io), [this](beast::error_code ec,
                                                               tcp::socket socket) {
      if (ec) {
        if (state_.stopping || !acceptor_.is_open()) return;  // shutdown
        spdlog::warn("accept failed: {}", ec.message());
        return Accept();
      }
      std::shared_ptr<Session> session;
      beast::error_code peer_ec;
      tcp::endpoint peer = socket.remote_endpoint(peer_ec);
      std::string address = peer_ec ? std::string() : peer.address().to_string();
      bool per_address_full = false;
      {
        std::lock_guard lock(state_.mutex);
        if (state_.sessions.size() >= static_cast<std::size_t>(state_.options.max_connections)) {
          // Over the limit: refuse by closing at once, before reading anything.
          spdlog::warn("refusing a connection: {} connections open (max-connections)",
                       state_.sessions.size());
          beast::error_code close_ec;
          socket.close(close_ec);
        } else if (!state_.connections.TryTake(address)) {
          per_address_full = true;
          beast::error_code close_ec;
          socket.close(close_ec);
        } else {
          session = std::make_shared<Session>(std::move(socket), state_, address);
          state_.sessions.emplace(session.get(), session);
        }
      }
      if (per_address_full) {
        // Debug only: a flood from one address must not flood the log too (the metric counts).
        spdlog::debug("refusing a connection from {}: max-connections-per-address", address);
        state_.Refused(Refusal::kConnectionsPerAddress);
      }
      if (session) session->Start();
      if (!state_.stopping) Accept();
    });
  }

  ServerState state_;
  tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
};

HttpServer::HttpServer(HttpServerOptions options, const Router& router,
                       WorkerPool& blocking, const Authenticator* auth)
    : impl_(std::make_unique<Impl>(std::move(options), router, blocking, auth)) {}
HttpServer::~HttpServer() = default;
Result<void> HttpServer::Listen() { return impl_->Listen(); }
std::uint16_t HttpServer::Port() const { return impl_->Port(); }
void HttpServer::Run() { impl_->Run(); }
void HttpServer::Shutdown() { impl_->Shutdown(); }
net::io_context& HttpServer::Context() { return impl_->Context(); }

}  // namespace market::server
