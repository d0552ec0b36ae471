#pragma once
// One HTTP/1.1 connection (Beast's async server shape): read a request, dispatch it, write the
// answer, keep the connection alive or close it, each step under its timeout. Who may make the
// request is the admission's decision; the session only acts on it.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/serializer.hpp>

#include "admission.hpp"
#include "http_server.hpp"
#include "rate_limit.hpp"
#include "request_checks.hpp"

namespace market::server {

class Session;

// What every session shares: settings, the route table, the admission, and the set of live
// sessions that shutdown walks.
struct ServerState {
  HttpServerOptions options;
  const Router& router;
  WorkerPool& blocking;
  RequestChecks checks;
  Admission admission;
  PerKeyLimit connections;  // per peer address (max-connections-per-address)
  PerKeyLimit streams;      // live streamed responses per caller (max-log-follows)
  std::atomic<bool> stopping{false};
  std::mutex mutex;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions;  // under `mutex`
  std::optional<boost::asio::steady_timer> grace_timer;  // reset before `io` goes
  // Last, so it is destroyed first: the handlers it still holds own sessions, whose
  // destructors use the members above.
  boost::asio::io_context io;

  ServerState(HttpServerOptions o, const Router& r, WorkerPool& b, const Authenticator* auth);

  void Remove(Session* session, const std::string& address);
  void Refused(Refusal refusal) {
    if (options.observer != nullptr) options.observer->OnRefused(refusal);
  }
};

// Sessions are shared_ptr-owned because every pending asynchronous operation keeps its session
// alive (Beast's usual shape); ServerState holds only weak references.
class Session : public std::enable_shared_from_this<Session> {
 public:
  // `address`: the peer's, as counted against max-connections-per-address.
  Session(boost::asio::ip::tcp::socket socket, ServerState& state, std::string address);
  ~Session();

  void Start() { WaitForData(); }
  // Called on the session's strand at shutdown.
  void OnStopping();
  boost::asio::any_io_executor Executor() { return stream_.get_executor(); }

 private:
  enum class Phase { kIdle, kReadingRequest, kReadingBody, kHandling, kWriting, kStreaming, kClosed };

  // Reading.
  void WaitForData();
  void ReadHeader();
  void OnHeader(boost::beast::error_code ec);
  void ReadBody();
  void SendTooLarge();
  void SendFinal(HttpResponse response);

  // Dispatching: header checks, routing, admission, then the handler where the route says.
  void Dispatch();
  void RunOnPool(const Route& route, std::optional<Principal> caller,
                 std::optional<VerifyOnPool> pending);
  void Start(const Route& route, const RequestContext& context);
  RequestContext ContextFor(const std::optional<Principal>& caller) const;
  std::optional<HandlerResult> Handle(const Route& route, std::optional<Principal> caller = {},
                                      const std::optional<VerifyOnPool>& pending = {});

  // Writing.
  void Send(HandlerResult result);
  void AddSecurityHeaders(HttpResponse& response);
  bool TakeStream();
  void ReleaseStream();
  void OnWritten(boost::beast::error_code ec);
  void LogAccess();
  void WatchPeer();
  void Pull();
  void WriteChunk(ChunkSource::Piece piece);
  void WriteLastChunk();

  // Closing.
  void LingerClose();
  void Drain(std::size_t drained);
  void Close();

  boost::beast::tcp_stream stream_;
  ServerState& state_;
  boost::asio::steady_timer poll_timer_;
  boost::beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::empty_body>> continue_;
  std::optional<HttpRequest> request_;
  std::optional<HttpResponse> response_;
  std::optional<http::response<http::empty_body>> head_;
  std::optional<http::response_serializer<http::empty_body>> head_serializer_;
  std::unique_ptr<ChunkSource> stream_source_;
  std::string chunk_data_;
  Phase phase_ = Phase::kIdle;
  bool keep_alive_ = true;
  std::string remote_ = "-";
  std::string remote_ip_ = "-";
  std::string address_;        // the key of this connection in ServerState::connections
  std::string caller_;         // "user:NAME" once known, else "ip:ADDRESS": whose streams
  std::string stream_caller_;  // non-empty while this connection holds one of its streams
  bool watching_ = false;      // WatchPeer's read is pending (a streamed response)
  char watch_buffer_[512];
  std::string request_id_;
  std::string method_;
  std::string path_;
  std::string query_;
  unsigned status_ = 0;
  const Route* route_ = nullptr;  // the matched route, for the access log and metrics
  std::uint64_t bytes_ = 0;       // response bytes written so far
  std::chrono::steady_clock::time_point started_{};
};

}  // namespace market::server
