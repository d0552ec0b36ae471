#include "http_server.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "audit.hpp"
#include "auth.hpp"
#include "logging.hpp"
#include "rate_limit.hpp"
#include "responses.hpp"

namespace market::server {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;

namespace {

constexpr std::size_t kMaxHeaderBytes = 16 * 1024;

class Session;

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// A Host header or an origin's authority: the name (IPv6 keeps its brackets) and the port as
// written (empty when absent). Lower case.
struct Authority {
  std::string name;
  std::string port;
};

Authority SplitAuthority(std::string_view text) {
  std::string lower = Lower(text);
  Authority authority;
  std::size_t port_colon = std::string::npos;
  if (lower.starts_with('[')) {
    std::size_t close = lower.find(']');
    if (close != std::string::npos && close + 1 < lower.size() && lower[close + 1] == ':') {
      port_colon = close + 1;
    }
  } else if (std::size_t colon = lower.find(':');
             colon != std::string::npos && lower.find(':', colon + 1) == std::string::npos) {
    port_colon = colon;
  }
  authority.name = lower.substr(0, port_colon);
  if (port_colon != std::string::npos) authority.port = lower.substr(port_colon + 1);
  return authority;
}

// The Host names a server answers by default: its listen address and the loopback names.
std::vector<Authority> HostsServed(const HttpServerOptions& options) {
  std::vector<Authority> hosts;
  for (const std::string& host : options.allowed_hosts) hosts.push_back(SplitAuthority(host));
  if (!hosts.empty()) return hosts;
  std::string listen = Lower(options.host);
  if (listen.find(':') != std::string::npos) listen = "[" + listen + "]";
  for (std::string name : {listen, std::string("localhost"), std::string("127.0.0.1"),
                           std::string("[::1]")}) {
    hosts.push_back(Authority{std::move(name), ""});
  }
  return hosts;
}

bool IsProbe(std::string_view path) {
  return path == "/healthz" || path == "/readyz" || path == "/metrics";
}

// Whether the authority of `origin` (scheme://host[:port]) is the one the request was sent to
// (its Host). The scheme is not compared: behind a TLS proxy the page is https and this
// listener plain HTTP. A missing port is the scheme's default on both sides.
bool SameOrigin(std::string_view origin, std::string_view host) {
  std::size_t scheme_end = origin.find("://");
  if (scheme_end == std::string_view::npos || host.empty()) return false;
  std::string scheme = Lower(origin.substr(0, scheme_end));
  std::string default_port = scheme == "https" ? "443" : scheme == "http" ? "80" : "";
  Authority from = SplitAuthority(origin.substr(scheme_end + 3));
  Authority to = SplitAuthority(host);
  if (from.name.empty() || from.name != to.name) return false;
  std::string from_port = from.port.empty() ? default_port : from.port;
  std::string to_port = to.port.empty() ? default_port : to.port;
  return from_port == to_port;
}

bool ChangesState(http::verb method) {
  return method != http::verb::get && method != http::verb::head &&
         method != http::verb::options;
}

// What every session shares: settings, the route table, and the set of live sessions that
// shutdown walks.
struct ServerState {
  HttpServerOptions options;
  const Router& router;
  WorkerPool& blocking;
  const Authenticator* auth;
  RateLimiter limiter;
  SigninThrottle signin;
  std::vector<Authority> hosts;  // Host values served (HostsServed)
  std::atomic<bool> stopping{false};
  std::mutex mutex;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions;
  std::unordered_map<std::string, int> connections;  // per peer address; under `mutex`
  std::unordered_map<std::string, int> streams;      // live streams per caller; under `mutex`
  std::optional<net::steady_timer> grace_timer;  // reset before `io` goes
  // Last, so it is destroyed first: the handlers it still holds own sessions, whose
  // destructors use the members above.
  net::io_context io;

  ServerState(HttpServerOptions o, const Router& r, WorkerPool& b, const Authenticator* a)
      : options(std::move(o)),
        router(r),
        blocking(b),
        auth(a),
        limiter(options.rate_limit_per_second, options.rate_limit_burst),
        signin(options.signin_max_failures, options.signin_window),
        hosts(HostsServed(options)),
        io(options.io_threads) {}

  void Remove(Session* session, const std::string& address);
  void Refused(Refusal refusal) {
    if (options.observer != nullptr) options.observer->OnRefused(refusal);
  }
};

std::string_view Header(const HttpRequest& request, http::field field) {
  auto it = request.find(field);
  return it == request.end() ? std::string_view{} : std::string_view(it->value());
}

std::string_view Header(const HttpRequest& request, std::string_view name) {
  auto it = request.find(name);
  return it == request.end() ? std::string_view{} : std::string_view(it->value());
}

// One connection. Sessions are shared_ptr-owned because every pending asynchronous operation
// keeps its session alive (Beast's usual shape); the registry holds only weak references.
class Session : public std::enable_shared_from_this<Session> {
 public:
  // `address`: the peer's, as counted against max-connections-per-address.
  Session(tcp::socket socket, ServerState& state, std::string address)
      : stream_(std::move(socket)), state_(state), poll_timer_(stream_.get_executor()),
        address_(std::move(address)) {
    beast::error_code ec;
    tcp::endpoint peer = stream_.socket().remote_endpoint(ec);
    if (!ec) {
      remote_ip_ = peer.address().to_string();
      remote_ = fmt::format("{}:{}", remote_ip_, peer.port());
    }
  }

  ~Session() {
    ReleaseStream();
    state_.Remove(this, address_);
  }

  void Start() { WaitForData(); }

  // Called on the session's strand at shutdown.
  void OnStopping() {
    if (phase_ == Phase::kIdle || phase_ == Phase::kReadingRequest) {
      Close();
    } else if (phase_ == Phase::kStreaming) {
      poll_timer_.cancel();
    }
    // kHandling / kWriting: the response goes out with Connection: close, then we close.
  }

  net::any_io_executor Executor() { return stream_.get_executor(); }

 private:
  enum class Phase { kIdle, kReadingRequest, kReadingBody, kHandling, kWriting, kStreaming, kClosed };

  void WaitForData() {
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

  void ReadHeader() {
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

  void OnHeader(beast::error_code ec) {
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

  void ReadBody() {
    phase_ = Phase::kReadingBody;  // in flight: shutdown lets it finish
    stream_.expires_after(state_.options.body_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       if (ec == http::error::body_limit) return self->SendTooLarge();
                       if (ec) return self->Close();
                       self->Dispatch();
                     });
  }

  void SendTooLarge() {
    SendFinal(ErrorResponse(
        Error{Errc::kInvalid, fmt::format("request body is larger than {} bytes",
                                          state_.options.max_body_bytes)},
        http::status::payload_too_large));
  }

  // Answers and closes: after a refused request the rest of its body is still on the wire.
  void SendFinal(HttpResponse response) {
    keep_alive_ = false;
    route_ = nullptr;
    bytes_ = 0;
    if (request_id_.empty()) {
      std::string_view given = parser_ ? Header(parser_->get(), "X-Request-Id") : std::string_view{};
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

  void Dispatch() {
    phase_ = Phase::kHandling;
    stream_.expires_never();
    started_ = std::chrono::steady_clock::now();
    route_ = nullptr;
    bytes_ = 0;
    request_.emplace(parser_->release());
    parser_.reset();
    keep_alive_ = request_->keep_alive() && !state_.stopping;

    std::string_view given = Header(*request_, "X-Request-Id");
    if (given.empty()) given = Header(*request_, "X-Correlation-Id");  // the original's client
    request_id_ = IsUsableRequestId(given) ? std::string(given) : NewRequestId();

    std::string_view target = request_->target();
    std::size_t question = target.find('?');
    path_ = std::string(target.substr(0, question));
    query_ = question == std::string_view::npos ? std::string() : std::string(target.substr(question + 1));
    method_ = std::string(request_->method_string());
    caller_ = "ip:" + remote_ip_;

    // Before routing, authentication or any handler: a request for another name (DNS
    // rebinding) or from another site's page goes no further.
    if (auto refused = CheckHost()) return Send(std::move(*refused));
    if (auto refused = CheckOrigin()) return Send(std::move(*refused));

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
      return Send(HandlerResult{std::move(response), nullptr});
    }
    const Route* route = match.route;
    route_ = route;
    bool authenticate = route->access != Access::kPublic && state_.auth != nullptr;
    if (!authenticate && route->access != Access::kPublic) {
      // Authentication off: the client is its address. With it on, the limit is taken after
      // the credentials are known (on the pool).
      if (auto refused = Limit("ip:" + remote_ip_)) return Send(std::move(*refused));
    }
    if (route->run_on == RunOn::kIoThread && !authenticate) return Start(*route, std::nullopt);
    // A caller verified recently is admitted here; verifying anew may run argon2id or query
    // the database (the pool's work), and is a sign-in: throttled and bounded here first.
    std::optional<Principal> admitted;
    Authenticator::Ticket ticket;
    if (authenticate) {
      std::string_view authorization = Header(*request_, http::field::authorization);
      admitted = state_.auth->Remembered(authorization);
      if (admitted) {
        if (auto refused = Admit(*route, *admitted)) return Send(std::move(*refused));
        caller_ = "user:" + admitted->name;
      } else if (auto refused = StartSignin(authorization, ticket)) {
        return Send(std::move(*refused));
      }
    }
    // A handler that does not block runs here when the caller needs no verifying.
    if (route->run_on == RunOn::kIoThread && admitted) return Start(*route, admitted);
    state_.blocking.Post([self = shared_from_this(), route, admitted, ticket] {
      std::optional<HandlerResult> refused = self->Handle(*route, admitted, ticket);
      if (!refused) return;
      net::post(self->Executor(), [self, result = std::move(*refused)]() mutable {
        self->Send(std::move(result));
      });
    });
  }

  // 421 for a Host that does not name this server; the probes answer any Host.
  std::optional<HandlerResult> CheckHost() {
    std::string_view host = Header(*request_, http::field::host);
    if (host.empty() || IsProbe(path_)) return std::nullopt;  // HTTP/1.0: no Host to rebind
    Authority given = SplitAuthority(host);
    for (const Authority& served : state_.hosts) {
      if (served.name == given.name && (served.port.empty() || served.port == given.port)) {
        return std::nullopt;
      }
    }
    state_.Refused(Refusal::kHost);
    return HandlerResult{
        ErrorResponse(Error{Errc::kForbidden,
                            fmt::format("this server does not answer for host {}; list the "
                                        "names clients use in allowed-hosts",
                                        host.substr(0, 256))},
                      http::status::misdirected_request),
        nullptr};
  }

  // 403 for a state-changing request that another site's page sent: its Origin is not this
  // server's (as its Host names it) nor listed, or the browser says Sec-Fetch-Site is not
  // same-origin. Requests without either header (curl, the CLI, the original's client) pass.
  std::optional<HandlerResult> CheckOrigin() {
    if (!ChangesState(request_->method())) return std::nullopt;
    std::string origin = Lower(Header(*request_, http::field::origin));
    std::string site = Lower(Header(*request_, "Sec-Fetch-Site"));
    bool browser_same = site.empty() || site == "same-origin" || site == "none";
    if (origin.empty() && browser_same) return std::nullopt;
    if (!origin.empty()) {
      const auto& allowed = state_.options.allowed_origins;
      if (std::find(allowed.begin(), allowed.end(), origin) != allowed.end()) return std::nullopt;
      if (browser_same && SameOrigin(origin, Header(*request_, http::field::host))) {
        return std::nullopt;
      }
    }
    state_.Refused(Refusal::kCrossSite);
    std::string from = origin.empty() ? fmt::format("a {} page (Sec-Fetch-Site)", site)
                                      : fmt::format("origin {}", origin.substr(0, 256));
    return ErrorResult(Error{
        Errc::kForbidden,
        fmt::format("{} {} from {} refused: another site's page may not change anything here "
                    "(allowed-origins lists the sites that may)",
                    method_, path_, from)});
  }

  // A sign-in about to be verified: refused at once (429) while its address or user name is
  // past signin-max-failures, or while signin-max-concurrent passwords are being checked;
  // else `ticket` holds its place among them. Only credentials count: without any, the
  // answer is a plain 401.
  std::optional<HandlerResult> StartSignin(std::string_view authorization,
                                           Authenticator::Ticket& ticket) {
    std::optional<std::string> user = BasicUserName(authorization);
    if (!user && !authorization.starts_with("Bearer ")) return std::nullopt;
    std::chrono::seconds wait = state_.signin.RetryAfter("ip:" + remote_ip_);
    std::string who = remote_ip_;
    if (user) {
      std::chrono::seconds for_user = state_.signin.RetryAfter("user:" + *user);
      if (for_user > wait) {
        wait = for_user;
        who = *user;
      }
    }
    if (wait.count() > 0) {
      state_.Refused(Refusal::kSigninThrottled);
      return TooMany(fmt::format("too many failed sign-ins for {}; retry in {}s",
                                 who.substr(0, 64), wait.count()),
                     wait);
    }
    if (!user) return std::nullopt;  // a token: a database lookup, no argon2id
    ticket = state_.auth->Reserve(authorization);
    if (ticket) return std::nullopt;
    state_.Refused(Refusal::kSigninBusy);
    return TooMany("too many sign-ins being checked at once; retry in 1s",
                   std::chrono::seconds(1));
  }

  // Counts a failed sign-in against the address and the user name, logs and audits it.
  void SigninFailed(std::string_view authorization) {
    std::optional<std::string> user = BasicUserName(authorization);
    if (!user && !authorization.starts_with("Bearer ")) return;  // no credentials at all
    int failures = state_.signin.Fail("ip:" + remote_ip_);
    if (user) failures = std::max(failures, state_.signin.Fail("user:" + *user));
    if (state_.options.observer != nullptr) state_.options.observer->OnSigninFailed();
    std::string name = user ? user->substr(0, 128) : std::string("(token)");
    spdlog::warn("failed sign-in from {} as {}: {} in the last {}s", remote_ip_, name, failures,
                 state_.options.signin_window.count());
    if (state_.options.auditor != nullptr) {
      state_.options.auditor->Record(
          ContextFor(std::nullopt), Acting{"anonymous", "anonymous"}, "auth.signin_failed",
          user ? "user:" + name : std::string("token"), nullptr,
          {{"address", remote_ip_}, {"user", user ? nlohmann::json(name) : nullptr},
           {"failures", failures}, {"window_seconds", state_.options.signin_window.count()}});
    }
  }

  static HandlerResult TooMany(std::string message, std::chrono::seconds retry_after) {
    HandlerResult result = ErrorResult(Error{Errc::kTooManyRequests, std::move(message)});
    result.response.set(http::field::retry_after, std::to_string(retry_after.count()));
    return result;
  }

  // 429 with Retry-After when `key`'s bucket is empty; nullopt to go on.
  std::optional<HandlerResult> Limit(const std::string& key) {
    RateLimiter::Decision decision = state_.limiter.Take(key);
    if (decision.allowed) return std::nullopt;
    return TooMany(fmt::format("too many requests; retry in {}s", decision.retry_after.count()),
                   decision.retry_after);
  }

  // Runs the route's handler for `context`. Its answer may come on any thread and is sent from
  // the session's executor; an exception escaping the handler answers 10100.
  void Start(const Route& route, const RequestContext& context) {
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

  // Runs the route's handler on this I/O thread for a caller needing no verifying.
  void Start(const Route& route, const std::optional<Principal>& admitted) {
    RequestIdScope scope(request_id_);
    Start(route, ContextFor(admitted));
  }

  // What a handler sees of this request; `caller`: the authenticated identity, if known.
  RequestContext ContextFor(const std::optional<Principal>& caller) const {
    RequestContext context{*request_, path_, query_, request_id_, remote_, std::nullopt,
                           std::nullopt};
    if (caller) {
      context.user = caller->name;
      context.role = caller->role;
    }
    return context;
  }

  // An authenticated caller's rate limit and role; the refusal, or nullopt to go on.
  std::optional<HandlerResult> Admit(const Route& route, const Principal& principal) {
    if (auto refused = Limit("user:" + principal.name)) return refused;
    if (static_cast<int>(principal.role) < static_cast<int>(route.access)) {
      return ErrorResult(Error{
          Errc::kForbidden,
          fmt::format("{} {} needs the {} role; {} is {}", method_, path_,
                      ToString(static_cast<Role>(static_cast<int>(route.access))),
                      principal.name, ToString(principal.role))});
    }
    return std::nullopt;
  }

  // Runs a handler (on whichever thread the route says) and turns an escaping exception into
  // 10100: the exception's text goes to the log, never to the client. `admitted`: the caller,
  // already verified and admitted on the I/O thread; else `ticket` is its sign-in's place.
  // The handler's answer goes as Start says; a refusal is returned instead.
  std::optional<HandlerResult> Handle(const Route& route,
                                      const std::optional<Principal>& admitted = {},
                                      const Authenticator::Ticket& ticket = nullptr) {
    RequestIdScope scope(request_id_);
    RequestContext context = ContextFor(admitted);
    try {
      if (!admitted && route.access != Access::kPublic && state_.auth != nullptr) {
        std::string_view authorization = Header(*request_, http::field::authorization);
        Result<Principal> principal = state_.auth->Verify(authorization, ticket);
        if (!principal) {
          if (principal.error().code == Errc::kUnauthorized) SigninFailed(authorization);
          // Failed attempts also take from the address's rate-limit bucket.
          if (auto refused = Limit("ip:" + remote_ip_)) return std::move(*refused);
          return ErrorResult(principal.error());
        }
        if (auto refused = Admit(route, *principal)) return std::move(*refused);
        context.user = principal->name;
        context.role = principal->role;
        caller_ = "user:" + principal->name;  // read by Send, after the post back
      }
      Start(route, context);
      return std::nullopt;
    } catch (const std::exception& e) {
      spdlog::error("{} {} failed: {}", method_, path_, e.what());
    } catch (...) {
      spdlog::error("{} {} failed with an unknown exception", method_, path_);
    }
    return ErrorResult(Error{Errc::kInternal, DefaultMessage(Errc::kInternal)});
  }

  void Send(HandlerResult result) {
    if (state_.stopping) keep_alive_ = false;
    phase_ = Phase::kWriting;
    if (result.stream && !TakeStream()) {
      state_.Refused(Refusal::kStreams);
      result = TooMany(fmt::format("{} live log streams are open for {} (max-log-follows); "
                                   "close one or retry later",
                                   state_.options.max_streams_per_caller, caller_.substr(0, 100)),
                       std::chrono::seconds(1));
    }
    HttpResponse& response = result.response;
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
  void AddSecurityHeaders(HttpResponse& response) {
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
      bool asked_basic = Header(*request_, http::field::authorization).starts_with("Basic ") &&
                         Header(*request_, "X-Requested-With").empty();
      response.set(http::field::www_authenticate,
                   asked_basic ? "Basic realm=\"market\", charset=\"UTF-8\""
                               : "Bearer realm=\"market\"");
    }
  }

  // A place among the caller's live streams (max-log-follows); false when they are all taken.
  bool TakeStream() {
    std::lock_guard lock(state_.mutex);
    int& open = state_.streams[caller_];
    if (open >= state_.options.max_streams_per_caller) {
      if (open == 0) state_.streams.erase(caller_);
      return false;
    }
    ++open;
    stream_caller_ = caller_;
    return true;
  }

  void ReleaseStream() {
    if (stream_caller_.empty()) return;
    std::lock_guard lock(state_.mutex);
    if (auto it = state_.streams.find(stream_caller_); it != state_.streams.end()) {
      if (--it->second <= 0) state_.streams.erase(it);
    }
    stream_caller_.clear();
  }

  void OnWritten(beast::error_code ec) {
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
  void LogAccess() {
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
  void WatchPeer() {
    watching_ = true;
    stream_.socket().async_read_some(
        net::buffer(watch_buffer_), [self = shared_from_this()](beast::error_code ec, std::size_t) {
          if (self->phase_ == Phase::kClosed) return;
          if (ec) return self->Close();
          self->WatchPeer();  // bytes after the request: nothing to do with them
        });
  }

  // Streaming: pull a piece on the blocking pool, write it as a chunk, wait, repeat.
  void Pull() {
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

  void WriteChunk(ChunkSource::Piece piece) {
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

  void WriteLastChunk() {
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
  void LingerClose() {
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

  void Drain(std::size_t drained) {
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

  void Close() {
    ReleaseStream();
    if (phase_ == Phase::kClosed) return;
    phase_ = Phase::kClosed;
    poll_timer_.cancel();
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.close();
  }

  beast::tcp_stream stream_;
  ServerState& state_;
  net::steady_timer poll_timer_;
  beast::flat_buffer buffer_;
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

void ServerState::Remove(Session* session, const std::string& address) {
  std::lock_guard lock(mutex);
  sessions.erase(session);
  if (auto it = connections.find(address); it != connections.end() && --it->second <= 0) {
    connections.erase(it);
  }
  // The last connection gone during shutdown: nothing is in flight, Run() may return.
  if (stopping && sessions.empty() && grace_timer) {
    net::post(io, [this] {
      if (grace_timer) grace_timer->cancel();
    });
  }
}

}  // namespace

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
        int& from_address = state_.connections[address];
        if (state_.sessions.size() >= static_cast<std::size_t>(state_.options.max_connections)) {
          // Over the limit: refuse by closing at once, before reading anything.
          spdlog::warn("refusing a connection: {} connections open (max-connections)",
                       state_.sessions.size());
          beast::error_code close_ec;
          socket.close(close_ec);
        } else if (from_address >= state_.options.max_connections_per_address) {
          per_address_full = true;
          beast::error_code close_ec;
          socket.close(close_ec);
        } else {
          ++from_address;
          session = std::make_shared<Session>(std::move(socket), state_, address);
          state_.sessions.emplace(session.get(), session);
        }
        if (from_address == 0) state_.connections.erase(address);
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
