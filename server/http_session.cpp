#include "http_session.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "logging.hpp"
#include "responses.hpp"

namespace market::server {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;

namespace {

constexpr std::size_t kMaxHeaderBytes = 16 * 1024;

// The answer to a request turned away before its handler.
HandlerResult ToResult(const Denied& denied) {
  HttpResponse response = ErrorResponse(denied.error, denied.status);
  for (const auto& [field, value] : denied.headers) response.set(field, value);
  return HandlerResult{std::move(response), nullptr};
}

Admission::Settings AdmissionSettings(const HttpServerOptions& options) {
  Admission::Settings settings;
  settings.rate_limit_per_second = options.rate_limit_per_second;
  settings.rate_limit_burst = options.rate_limit_burst;
  settings.signin_max_failures = options.signin_max_failures;
  settings.signin_window = options.signin_window;
  settings.observer = options.observer;
  settings.auditor = options.auditor;
  return settings;
}

}  // namespace

ServerState::ServerState(HttpServerOptions o, const Router& r, WorkerPool& b,
                         const Authenticator* auth)
    : options(std::move(o)),
      router(r),
      blocking(b),
      checks(options.allowed_hosts, options.host, options.allowed_origins, options.observer),
      admission(AdmissionSettings(options), auth),
      connections(options.max_connections_per_address),
      streams(options.max_streams_per_caller),
      io(options.io_threads) {}

void ServerState::Remove(Session* session, const std::string& address) {
  connections.Release(address);
  std::lock_guard lock(mutex);
  sessions.erase(session);
  // The last connection gone during shutdown: nothing is in flight, Run() may return.
  if (stopping && sessions.empty() && grace_timer) {
    net::post(io, [this] {
      if (grace_timer) grace_timer->cancel();
    });
  }
}

Session::Session(tcp::socket socket, ServerState& state, std::string address)
    : stream_(std::move(socket)), state_(state), poll_timer_(stream_.get_executor()),
      address_(std::move(address)) {
  beast::error_code ec;
  tcp::endpoint peer = stream_.socket().remote_endpoint(ec);
  if (!ec) {
    remote_ip_ = peer.address().to_string();
    remote_ = fmt::format("{}:{}", remote_ip_, peer.port());
  }
}

Session::~Session() {
  ReleaseStream();
  state_.Remove(this, address_);
}

void Session::OnStopping() {
  if (phase_ == Phase::kIdle || phase_ == Phase::kReadingRequest) {
    Close();
  } else if (phase_ == Phase::kStreaming) {
    poll_timer_.cancel();
  }
  // kHandling / kWriting: the response goes out with Connection: close, then we close.
}

void Session::WaitForData() {
  if (state_.stopping) return Close();
  phase_ = Phase::kIdle;
  if (buffer_.size() > 0) return ReadHeader();  // a pipelined request is already here
  stream_.expires_after(state_.options.idle_timeout);
  stream_.async_read_some(
      buffer_.prepare(4096),
      [self = shared_from_this()](beast::error_code ec, std::size_t n) {
        if (ec) return self->Close();
        self->buffer_.commit(n);
        self->ReadHeader();
      });
}

void Session::ReadHeader() {
  phase_ = Phase::kReadingRequest;
  parser_.emplace();
  parser_->header_limit(kMaxHeaderBytes);
  parser_->body_limit(static_cast<std::uint64_t>(state_.options.max_body_bytes));
  // The whole header must arrive within header_timeout of its first byte: a client trickling
  // a byte at a time (slow loris) is cut off.
  stream_.expires_after(state_.options.header_timeout);
  http::async_read_header(stream_, buffer_, *parser_,
                          [self = shared_from_this()](beast::error_code ec, std::size_t) {
                            self->OnHeader(ec);
                          });
}

void Session::OnHeader(beast::error_code ec) {
  if (ec == http::error::header_limit) {
    return SendFinal(ErrorResponse(Error{Errc::kInvalid, "request headers too large"},
                                   http::status::request_header_fields_too_large));
  }
  if (ec == http::error::body_limit) return SendTooLarge();  // Content-Length over it
  if (ec && ec.category() == http::make_error_code(http::error::bad_target).category() &&
      ec != http::error::end_of_stream && ec != http::error::partial_message) {
    return SendFinal(ErrorResponse(Error{Errc::kInvalid, "malformed HTTP request"},
                                   http::status::bad_request));
  }
  if (ec) {
    if (ec == beast::error::timeout) {
      spdlog::info("closing {}: request header not complete within {}s", remote_,
                   state_.options.header_timeout.count());
    }
    return Close();
  }
  const auto& header = parser_->get();
  if (auto length = parser_->content_length();
      length && *length > static_cast<std::uint64_t>(state_.options.max_body_bytes)) {
    return SendTooLarge();
  }
  if (beast::iequals(header[http::field::expect], "100-continue")) {
    // curl sends Expect: 100-continue for bodies over 1 KiB and waits for this.
    continue_.emplace(http::status::continue_, 11);
    stream_.expires_after(state_.options.write_timeout);
    http::async_write(stream_, *continue_,
                      [self = shared_from_this()](beast::error_code wec, std::size_t) {
                        if (wec) return self->Close();
                        self->ReadBody();
                      });
    return;
  }
  ReadBody();
}

void Session::ReadBody() {
  phase_ = Phase::kReadingBody;  // in flight: shutdown lets it finish
  stream_.expires_after(state_.options.body_timeout);
  http::async_read(stream_, buffer_, *parser_,
                   [self = shared_from_this()](beast::error_code ec, std::size_t) {
                     if (ec == http::error::body_limit) return self->SendTooLarge();
                     if (ec) return self->Close();
                     self->Dispatch();
                   });
}

void Session::SendTooLarge() {
  SendFinal(ErrorResponse(
      Error{Errc::kInvalid, fmt::format("request body is larger than {} bytes",
                                        state_.options.max_body_bytes)},
      http::status::payload_too_large));
}

// Answers and closes: after a refused request the rest of its body is still on the wire.
void Session::SendFinal(HttpResponse response) {
  keep_alive_ = false;
  route_ = nullptr;
  bytes_ = 0;
  if (request_id_.empty()) {
    std::string_view given =
        parser_ ? HeaderValue(parser_->get(), "X-Request-Id") : std::string_view{};
    request_id_ = IsUsableRequestId(given) ? std::string(given) : NewRequestId();
  }
  method_ = parser_ ? std::string(parser_->get().method_string()) : "-";
  // Without the query string: it may carry secrets, and the access log prints the path.
  path_ = parser_ ? std::string(parser_->get().target().substr(
                        0, parser_->get().target().find('?')))
                  : "-";
  started_ = std::chrono::steady_clock::now();
  Send(HandlerResult{std::move(response), nullptr});
}

void Session::Dispatch() {
  phase_ = Phase::kHandling;
  stream_.expires_never();
  started_ = std::chrono::steady_clock::now();
  route_ = nullptr;
  bytes_ = 0;
  request_.emplace(parser_->release());
  parser_.reset();
  keep_alive_ = request_->keep_alive() && !state_.stopping;

  std::string_view given = HeaderValue(*request_, "X-Request-Id");
  if (given.empty()) given = HeaderValue(*request_, "X-Correlation-Id");  // the original's client
  request_id_ = IsUsableRequestId(given) ? std::string(given) : NewRequestId();

  std::string_view target = request_->target();
  std::size_t question = target.find('?');
  path_ = std::string(target.substr(0, question));
  query_ = question == std::string_view::npos ? std::string() : std::string(target.substr(question + 1));
  method_ = std::string(request_->method_string());
  caller_ = "ip:" + remote_ip_;

  // Before routing, authentication or any handler: a request for another name (DNS
  // rebinding) or from another site's page goes no further.
  if (auto refused = state_.checks.Check(*request_, path_)) return Send(ToResult(*refused));

  Router::Match match = state_.router.Find(request_->method(), path_);
  if (match.route == nullptr) {
    if (match.allow.empty()) {
      return Send(ErrorResult(Error{Errc::kNotFound, fmt::format("no such endpoint: {}", path_)}));
    }
    HttpResponse response = ErrorResponse(
        Error{Errc::kInvalid,
              fmt::format("method {} is not allowed on {}; allowed: {}", method_, path_,
                          match.allow)},
        http::status::method_not_allowed);
    response.set(http::field::allow, match.allow);
    route_ = match.of_path;  // counted under the path's route, with 405
    return Send(HandlerResult{std::move(response), nullptr});
  }
  const Route* route = match.route;
  route_ = route;
  RequestContext context = ContextFor(std::nullopt);
  auto admitted = state_.admission.Admit(
      {context, remote_ip_, route->access, route->run_on == RunOn::kBlockingPool});
  if (auto* refused = std::get_if<Denied>(&admitted)) return Send(ToResult(*refused));
  if (auto* pending = std::get_if<VerifyOnPool>(&admitted)) {
    return RunOnPool(*route, std::nullopt, std::move(*pending));
  }
  std::optional<Principal> caller = std::get<Allowed>(admitted).caller;
  if (caller) caller_ = "user:" + caller->name;
  if (route->run_on == RunOn::kIoThread) return Start(*route, ContextFor(caller));
  RunOnPool(*route, std::move(caller), std::nullopt);
}

// Runs the route's handler on the blocking pool, after verifying the caller's credentials
// there when admission asked for it (`pending`), and sends its answer from this I/O thread.
void Session::RunOnPool(const Route& route, std::optional<Principal> caller,
                        std::optional<VerifyOnPool> pending) {
  state_.blocking.Post([self = shared_from_this(), &route, caller = std::move(caller),
                        pending = std::move(pending)] {
    std::optional<HandlerResult> refused = self->Handle(route, caller, pending);
    if (!refused) return;
    net::post(self->Executor(), [self, result = std::move(*refused)]() mutable {
      self->Send(std::move(result));
    });
  });
}

// Runs the route's handler for `context` on the calling thread. Its answer may come on any
// thread and is sent from the session's executor; an exception escaping the handler answers
// 10100 (its text goes to the log, never to the client).
void Session::Start(const Route& route, const RequestContext& context) {
  RequestIdScope scope(request_id_);
  Completion done = [self = shared_from_this()](HandlerResult result) {
    net::dispatch(self->Executor(), [self, result = std::move(result)]() mutable {
      self->Send(std::move(result));
    });
  };
  try {
    return route.handler(context, done);
  } catch (const std::exception& e) {
    spdlog::error("{} {} failed: {}", method_, path_, e.what());
  } catch (...) {
    spdlog::error("{} {} failed with an unknown exception", method_, path_);
  }
  done(ErrorResult(Error{Errc::kInternal, DefaultMessage(Errc::kInternal)}));
}

// What a handler sees of this request; `caller`: the authenticated identity, if known.
RequestContext Session::ContextFor(const std::optional<Principal>& caller) const {
  RequestContext context{*request_, path_, query_, request_id_, remote_, std::nullopt,
                         std::nullopt};
  if (caller) {
    context.user = caller->name;
    context.role = caller->role;
  }
  return context;
}

// On the pool: verifies the sign-in admission left here (`pending`), then starts the handler
// for `caller`. A refusal is returned for the caller to send; the handler's answer goes as
// Start says.
std::optional<HandlerResult> Session::Handle(const Route& route, std::optional<Principal> caller,
                                             const std::optional<VerifyOnPool>& pending) {
  RequestIdScope scope(request_id_);
  try {
    if (pending) {
      RequestContext anonymous = ContextFor(std::nullopt);
      Decision decision = state_.admission.Verify({anonymous, remote_ip_, route.access}, *pending);
      if (auto* refused = std::get_if<Denied>(&decision)) return ToResult(*refused);
      caller = std::get<Allowed>(decision).caller;
      if (caller) caller_ = "user:" + caller->name;  // read by Send, after the post back
    }
    Start(route, ContextFor(caller));
    return std::nullopt;
  } catch (const std::exception& e) {
    spdlog::error("{} {} failed: {}", method_, path_, e.what());
  } catch (...) {
    spdlog::error("{} {} failed with an unknown exception", method_, path_);
  }
  return ErrorResult(Error{Errc::kInternal, DefaultMessage(Errc::kInternal)});
}

void Session::Send(HandlerResult result) {
  if (state_.stopping) keep_alive_ = false;
  phase_ = Phase::kWriting;
  if (result.stream && !TakeStream()) {
    state_.Refused(Refusal::kStreams);
    result = ToResult(Denied::TooMany(
        fmt::format("{} live log streams are open for {} (max-log-follows); close one or "
                    "retry later",
                    state_.options.max_streams_per_caller, caller_.substr(0, 100)),
        std::chrono::seconds(1)));
  }
  HttpResponse& response = result.response;
  ApplyErrorShape(state_.router.ErrorShapeOf(route_, method_, path_), response);
  response.version(11);
  response.set(http::field::server, "market-server");
  response.set("X-Request-Id", request_id_);
  AddSecurityHeaders(response);
  status_ = response.result_int();
  if (result.stream) {
    keep_alive_ = false;  // a streamed response ends the connection
    response.keep_alive(false);
    stream_source_ = std::move(result.stream);
    head_.emplace();
    head_->base() = std::move(response.base());
    head_->chunked(true);
    head_serializer_.emplace(*head_);
    stream_.expires_after(state_.options.write_timeout);
    http::async_write_header(stream_, *head_serializer_,
                             [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                               self->bytes_ += n;
                               if (ec) return self->Close();
                               self->phase_ = Phase::kStreaming;
                               self->WatchPeer();
                               self->Pull();
                             });
    return;
  }
  response.keep_alive(keep_alive_);
  response.prepare_payload();
  response_.emplace(std::move(response));
  stream_.expires_after(state_.options.write_timeout);
  http::async_write(stream_, *response_,
                    [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                      self->bytes_ += n;
                      self->OnWritten(ec);
                    });
}

// Headers every response carries: no content sniffing, no Referer with the page's query,
// and pages never framed (clickjacking). A 401 challenges with Basic only a client that
// already sent Basic credentials without X-Requested-With (curl -u, the CLI): any other,
// a browser above all, gets a Bearer challenge, which shows no login dialog.
void Session::AddSecurityHeaders(HttpResponse& response) {
  response.set("X-Content-Type-Options", "nosniff");
  response.set("Referrer-Policy", "no-referrer");
  auto type = response.find(http::field::content_type);
  if (type != response.end() && beast::iequals(type->value().substr(0, 9), "text/html")) {
    std::string policy(response["Content-Security-Policy"]);
    if (policy.find("frame-ancestors") == std::string::npos) {
      policy = policy.empty() ? "frame-ancestors 'none'" : policy + "; frame-ancestors 'none'";
    }
    response.set("Content-Security-Policy", policy);
    response.set(http::field::x_frame_options, "DENY");
  }
  if (response.result() == http::status::unauthorized && request_) {
    bool asked_basic = HeaderValue(*request_, http::field::authorization).starts_with("Basic ") &&
                       HeaderValue(*request_, "X-Requested-With").empty();
    response.set(http::field::www_authenticate,
                 asked_basic ? "Basic realm=\"market\", charset=\"UTF-8\""
                             : "Bearer realm=\"market\"");
  }
}

// A place among the caller's live streams (max-log-follows); false when they are all taken.
bool Session::TakeStream() {
  if (!state_.streams.TryTake(caller_)) return false;
  stream_caller_ = caller_;
  return true;
}


void Session::ReleaseStream() {
  if (stream_caller_.empty()) return;
  state_.streams.Release(stream_caller_);
  stream_caller_.clear();
}

void Session::OnWritten(beast::error_code ec) {
  LogAccess();
  response_.reset();
  request_.reset();
  if (ec) return Close();
  if (!keep_alive_) return LingerClose();
  request_id_.clear();
  WaitForData();
}

// The access log line and the metrics of one answered request. Never the query string or
// any header: either may carry credentials.
void Session::LogAccess() {
  std::chrono::steady_clock::duration elapsed = std::chrono::steady_clock::now() - started_;
  if (state_.options.observer != nullptr) {
    state_.options.observer->OnRequest(RequestRecord{route_, status_, elapsed, bytes_});
  }
  RequestIdScope scope(request_id_);
  AccessRecord record;
  record.method = method_;
  record.path = path_;
  record.route = route_ != nullptr ? std::string_view(route_->path) : std::string_view();
  record.status = status_;
  record.duration_ms = std::chrono::duration<double, std::milli>(elapsed).count();
  record.bytes = bytes_;
  record.client = remote_;
  WriteAccessLog(record);
}

// A followed log may write nothing for minutes, and only a write would notice the client
// gone: read meanwhile, so that a client closing ends its stream (and frees its place among
// its max-log-follows) at once. On the socket itself, past the stream's write timeout.
void Session::WatchPeer() {
  watching_ = true;
  stream_.socket().async_read_some(
      net::buffer(watch_buffer_), [self = shared_from_this()](beast::error_code ec, std::size_t) {
        if (self->phase_ == Phase::kClosed) return;
        if (ec) return self->Close();
        self->WatchPeer();  // bytes after the request: nothing to do with them
      });
}

// Streaming: pull a piece on the blocking pool, write it as a chunk, wait, repeat.
void Session::Pull() {
  if (state_.stopping) {
    return WriteChunk(ChunkSource::Piece{stream_source_->OnServerStopping(), true});
  }
  state_.blocking.Post([self = shared_from_this()] {
    ChunkSource::Piece piece;
    RequestIdScope scope(self->request_id_);
    try {
      piece = self->stream_source_->Pull();
    } catch (const std::exception& e) {
      spdlog::error("stream failed: {}", e.what());
      piece = ChunkSource::Piece{"", true};
    }
    net::post(self->Executor(), [self, piece = std::move(piece)]() mutable {
      self->WriteChunk(std::move(piece));
    });
  });
}

void Session::WriteChunk(ChunkSource::Piece piece) {
  if (phase_ == Phase::kClosed) return;
  if (piece.data.empty()) {
    if (piece.done) return WriteLastChunk();
    poll_timer_.expires_after(stream_source_->PollInterval());
    poll_timer_.async_wait([self = shared_from_this()](beast::error_code) { self->Pull(); });
    return;
  }
  chunk_data_ = std::move(piece.data);
  bool done = piece.done;
  stream_.expires_after(state_.options.write_timeout);
  net::async_write(stream_, http::make_chunk(net::buffer(chunk_data_)),
                   [self = shared_from_this(), done](beast::error_code ec, std::size_t n) {
                     self->bytes_ += n;
                     if (ec) return self->Close();
                     if (done) return self->WriteLastChunk();
                     self->Pull();
                   });
}

void Session::WriteLastChunk() {
  stream_.expires_after(state_.options.write_timeout);
  net::async_write(stream_, http::make_chunk_last(),
                   [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                     self->bytes_ += n;
                     self->stream_source_.reset();
                     self->ReleaseStream();
                     self->OnWritten(ec);
                   });
}

// Closing right after answering can reset the connection while the client is still sending
// (a refused large body), and a reset may destroy our answer before the client reads it. So:
// half-close, then discard what still arrives for a short while.
void Session::LingerClose() {
  if (watching_) return Close();  // a stream's request was read whole; its watch is reading
  if (phase_ == Phase::kClosed) return;
  phase_ = Phase::kClosed;
  poll_timer_.cancel();
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (ec) return stream_.close();
  buffer_.clear();
  Drain(0);
}

void Session::Drain(std::size_t drained) {
  constexpr std::size_t kMaxDrain = 16 << 20;
  stream_.expires_after(std::chrono::seconds(2));
  stream_.async_read_some(
      buffer_.prepare(64 * 1024),
      [self = shared_from_this(), drained](beast::error_code ec, std::size_t n) {
        self->buffer_.clear();
        if (ec || drained + n > kMaxDrain) return self->stream_.close();
        self->Drain(drained + n);
      });
}

void Session::Close() {
  ReleaseStream();
  if (phase_ == Phase::kClosed) return;
  phase_ = Phase::kClosed;
  poll_timer_.cancel();
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream_.close();
}

}  // namespace market::server
