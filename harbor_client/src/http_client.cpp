#include "market/harbor_client/http_client.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cctype>
#include <thread>

#include "uri.hpp"

namespace market::harbor {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
           return std::tolower(x) == std::tolower(y);
         });
}

std::uint16_t DefaultPort(std::string_view scheme) { return scheme == "https" ? 443 : 80; }

bool IsIpLiteral(const std::string& host) {
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

// Runs the io_context until the started operations finish; each call starts from a clean state.
void RunAll(asio::io_context& ioc) {
  ioc.restart();
  ioc.run();
}

enum class Failure { kTimeout, kUnreachable, kBroken, kRefused };

Errc ToErrc(Failure kind) {
  switch (kind) {
    case Failure::kTimeout:
      return Errc::kUpstreamTimeout;
    case Failure::kRefused:
      return Errc::kForbidden;
    case Failure::kUnreachable:
    case Failure::kBroken:
      break;
  }
  return Errc::kUpstreamFailed;
}

struct TransportError {
  Failure kind;
  std::string message;
  bool nothing_received = false;  // the peer closed before answering: a stale kept-alive socket
};

bool IsClosedByPeer(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::ssl::error::stream_truncated;
}

std::string Describe(const beast::error_code& ec) {
  if (ec.category() == asio::error::get_ssl_category()) {
    // ec.message() of OpenSSL errors is "certificate verify failed (SSL routines)" and similar.
    return "TLS: " + ec.message();
  }
  return ec.message();
}

}  // namespace

// Url ---------------------------------------------------------------------------------------

std::string Url::HostPort() const {
  const std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return explicit_port ? h + ":" + std::to_string(port) : h;
}

std::string Url::Origin() const {
  const std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return scheme + "://" + h + ":" + std::to_string(port);
}

Result<Url> ParseUrl(std::string_view text) {
  if (text.find("://") == std::string_view::npos) {
    return Fail(Errc::kInvalid, "url: expected scheme://host");
  }
  auto parts = ParseUri(text);
  if (!parts) return Fail(Errc::kInvalid, "url: " + parts.error().message);
  if (parts->scheme != "http" && parts->scheme != "https") {
    return Fail(Errc::kInvalid, "url: scheme must be http or https");
  }
  if (parts->has_fragment) return Fail(Errc::kInvalid, "url: a fragment (#) is not allowed");
  if (parts->has_userinfo) {
    return Fail(Errc::kInvalid, "url: user info is not allowed (give credentials separately)");
  }
  if (parts->host.empty()) return Fail(Errc::kInvalid, "url: host is missing");
  if (!parts->ip_literal) {
    for (char c : parts->host) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') {
        return Fail(Errc::kInvalid, std::string("url: host contains special char: ") + c);
      }
    }
  }
  Url url;
  url.scheme = std::move(parts->scheme);
  url.host = std::move(parts->host);
  url.explicit_port = parts->port != 0;
  url.port = url.explicit_port ? parts->port : DefaultPort(url.scheme);
  url.target = std::move(parts->target);
  return url;
}

Result<Url> ResolveUrl(const Url& base, std::string_view reference) {
  if (reference.starts_with("http://") || reference.starts_with("https://") ||
      reference.starts_with("HTTP://") || reference.starts_with("HTTPS://")) {
    return ParseUrl(reference);
  }
  Url url = base;
  if (reference.starts_with("//")) {
    return ParseUrl(base.scheme + ":" + std::string(reference));
  }
  if (reference.starts_with("/")) {
    url.target = std::string(reference);
  } else {
    std::string path = base.target.substr(0, base.target.find('?'));
    path = path.substr(0, path.rfind('/') + 1);
    url.target = path + std::string(reference);
  }
  for (unsigned char c : url.target) {
    if (c <= 0x20 || c >= 0x7f)
      return Fail(Errc::kInvalid, "url: path has a space or control char");
  }
  return url;
}

std::string PercentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  return out;
}

std::optional<std::string> HttpResponse::Header(std::string_view name) const {
  for (const auto& h : headers) {
    if (IEquals(h.name, name)) return h.value;
  }
  return std::nullopt;
}

// HttpConnection ------------------------------------------------------------------------------

// One kept-alive connection with its own io_context, so that a blocking call drives only its
// own socket and any number of worker threads can call at once.
class HttpConnection {
 public:
  asio::io_context ioc;
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;

  beast::tcp_stream& Lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }

  // A kept-alive socket the server has closed (or written to unasked) must not be reused.
  bool LooksAlive() {
    auto& socket = Lowest().socket();
    if (!socket.is_open()) return false;
    beast::error_code ec;
    socket.non_blocking(true, ec);
    if (ec) return false;
    char byte;
    socket.receive(asio::buffer(&byte, 1), tcp::socket::message_peek, ec);
    beast::error_code ignored;
    socket.non_blocking(false, ignored);
    return ec == asio::error::would_block;
  }
};

struct HttpClient::TlsContext {
  asio::ssl::context context{asio::ssl::context::tls_client};
};

namespace {

IpRange ToRange(const asio::ip::address& address) {
  IpRange range;
  range.v6 = address.is_v6();
  range.prefix = range.v6 ? 128 : 32;
  if (range.v6) {
    const auto bytes = address.to_v6().to_bytes();
    std::copy(bytes.begin(), bytes.end(), range.bytes.begin());
  } else {
    const auto bytes = address.to_v4().to_bytes();
    std::copy(bytes.begin(), bytes.end(), range.bytes.begin());
  }
  return range;
}

// The endpoints of `url`'s host, only those `rules` let through when given. Whatever form the
// host is written in (a name, 2130706433, 0177.0.0.1), the addresses the resolver turns it into
// are what is checked and what is connected to.
std::optional<TransportError> Resolve(asio::io_context& ioc, const Url& url,
                                      const std::optional<NetworkRules>& rules,
                                      std::chrono::milliseconds timeout,
                                      std::vector<tcp::endpoint>& vetted) {
  tcp::resolver resolver(ioc);
  asio::steady_timer timer(ioc);
  bool resolve_timed_out = false;
  beast::error_code resolve_ec;
  tcp::resolver::results_type endpoints;
  timer.expires_after(timeout);
  timer.async_wait([&](beast::error_code ec) {
    if (!ec) {
      resolve_timed_out = true;
      resolver.cancel();
    }
  });
  resolver.async_resolve(url.host, std::to_string(url.port),
                         [&](beast::error_code ec, tcp::resolver::results_type results) {
                           timer.cancel();
                           resolve_ec = ec;
                           endpoints = std::move(results);
                         });
  RunAll(ioc);
  if (resolve_timed_out) {
    return TransportError{Failure::kTimeout, "could not resolve " + url.host + " within " +
                                                 std::to_string(timeout.count()) + " ms"};
  }
  if (resolve_ec) {
    return TransportError{Failure::kUnreachable,
                          "cannot resolve " + url.host + ": " + resolve_ec.message()};
  }
  std::vector<std::string> refusals;
  for (const auto& entry : endpoints) {
    std::string why = rules ? rules->Refusal(ToRange(entry.endpoint().address())) : "";
    if (why.empty()) {
      vetted.push_back(entry.endpoint());
    } else if (std::find(refusals.begin(), refusals.end(), why) == refusals.end()) {
      refusals.push_back(std::move(why));
    }
  }
  if (vetted.empty()) {
    if (refusals.empty()) {
      return TransportError{Failure::kUnreachable, url.host + " has no address"};
    }
    return TransportError{Failure::kRefused,
                          fmt::format("{} refused: {}", url.host, fmt::join(refusals, "; "))};
  }
  return std::nullopt;
}

std::optional<TransportError> Connect(HttpConnection& c, const Url& url,
                                      const std::optional<NetworkRules>& rules,
                                      asio::ssl::context& tls_context, bool tls_verify,
                                      std::chrono::milliseconds timeout) {
  const std::string where = url.HostPort();
  std::vector<tcp::endpoint> endpoints;
  if (auto err = Resolve(c.ioc, url, rules, timeout, endpoints)) return err;

  if (url.scheme == "https") {
    c.tls.emplace(c.ioc, tls_context);
    c.tls->set_verify_mode(tls_verify ? asio::ssl::verify_peer : asio::ssl::verify_none);
    if (tls_verify) c.tls->set_verify_callback(asio::ssl::host_name_verification(url.host));
    if (!IsIpLiteral(url.host)) {
      // SNI; SSL_set_tlsext_host_name is a macro with a C cast, hence the direct call.
      SSL_ctrl(c.tls->native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
               const_cast<char*>(url.host.c_str()));
    }
  } else {
    c.plain.emplace(c.ioc);
  }
  auto& lowest = c.Lowest();
  lowest.expires_after(timeout);
  beast::error_code ec;
  lowest.async_connect(endpoints, [&](beast::error_code e, const tcp::endpoint&) { ec = e; });
  RunAll(c.ioc);
  if (ec == beast::error::timeout) {
    return TransportError{Failure::kTimeout, "could not connect to " + where + " within " +
                                                 std::to_string(timeout.count()) + " ms"};
  }
  if (ec)
    return TransportError{Failure::kUnreachable,
                          "cannot connect to " + where + ": " + Describe(ec)};
  if (c.tls) {
    lowest.expires_after(timeout);
    c.tls->async_handshake(asio::ssl::stream_base::client, [&](beast::error_code e) { ec = e; });
    RunAll(c.ioc);
    if (ec == beast::error::timeout) {
      return TransportError{Failure::kTimeout, "TLS handshake with " + where + " took over " +
                                                   std::to_string(timeout.count()) + " ms"};
    }
    if (ec) {
      return TransportError{Failure::kUnreachable,
                            "TLS handshake with " + where + " failed: " + Describe(ec)};
    }
  }
  return std::nullopt;
}

struct BodyBound {
  std::size_t max_bytes;
  bool truncate;
};

template <class Stream>
std::optional<TransportError> Exchange(HttpConnection& c, Stream& stream, const Url& url,
                                       http::request<http::string_body>& req, bool head,
                                       std::chrono::milliseconds timeout, BodyBound bound,
                                       HttpResponse& out, bool& keep_alive) {
  const std::string where = url.HostPort();
  auto& lowest = c.Lowest();
  lowest.expires_after(timeout);
  beast::error_code ec;
  http::async_write(stream, req, [&](beast::error_code e, std::size_t) { ec = e; });
  RunAll(c.ioc);
  if (ec == beast::error::timeout) {
    return TransportError{Failure::kTimeout, where + " did not take the request within " +
                                                 std::to_string(timeout.count()) + " ms"};
  }
  if (ec) {
    return TransportError{Failure::kBroken, "sending to " + where + " failed: " + Describe(ec),
                          IsClosedByPeer(ec)};
  }
  // dynamic_body grows with what arrives (string_body would reserve what Content-Length claims),
  // and the body is bounded by the loop below, not by body_limit, which would fail the call
  // before it could be cut.
  http::response_parser<http::dynamic_body> parser;
  parser.body_limit(boost::none);
  parser.skip(head);
  auto read_error = [&]() -> std::optional<TransportError> {
    if (ec == beast::error::timeout) {
      return TransportError{Failure::kTimeout, where + " did not answer within " +
                                                   std::to_string(timeout.count()) + " ms"};
    }
    if (ec) {
      const bool nothing = !parser.got_some() && IsClosedByPeer(ec);
      return TransportError{Failure::kBroken,
                            "reading the answer of " + where + " failed: " + Describe(ec), nothing};
    }
    return std::nullopt;
  };
  http::async_read_header(stream, c.buffer, parser,
                          [&](beast::error_code e, std::size_t) { ec = e; });
  RunAll(c.ioc);
  if (auto err = read_error()) return err;
  // Each step reads at most 64 KiB more, so what is held stays near max_bytes.
  while (!parser.is_done() && parser.get().body().size() <= bound.max_bytes) {
    http::async_read_some(stream, c.buffer, parser,
                          [&](beast::error_code e, std::size_t) { ec = e; });
    RunAll(c.ioc);
    if (auto err = read_error()) return err;
  }
  const bool cut = !parser.is_done();
  if (cut && !bound.truncate) {
    return TransportError{Failure::kBroken, "the answer of " + where + " is longer than " +
                                                std::to_string(bound.max_bytes) + " bytes"};
  }
  auto res = parser.release();
  out.status = static_cast<int>(res.result_int());
  for (const auto& field : res) {
    out.headers.push_back({std::string(field.name_string()), std::string(field.value())});
  }
  out.body = beast::buffers_to_string(res.body().data());
  if (cut) {
    out.body.resize(bound.max_bytes);
    out.truncated = true;
  }
  // The rest of a cut body is still on the way: the connection cannot carry another request.
  keep_alive = res.keep_alive() && !cut;
  return std::nullopt;
}

bool RetryableStatus(int status) {
  return status == 500 || status == 502 || status == 503 || status == 504;
}

}  // namespace

// HttpClient --------------------------------------------------------------------------------

Result<std::unique_ptr<HttpClient>> HttpClient::Create(HttpClientOptions options) {
  auto tls = std::make_unique<TlsContext>();
  beast::error_code ec;
  tls->context.set_default_verify_paths(ec);
  if (ec) return Fail(Errc::kInvalid, "tls: cannot load the system CA certificates");
  if (!options.ca_file.empty()) {
    tls->context.load_verify_file(options.ca_file, ec);
    if (ec) {
      return Fail(Errc::kInvalid, "ca_file: cannot load CA certificates from " + options.ca_file +
                                      ": " + ec.message());
    }
  }
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(options), std::move(tls)));
}

HttpClient::HttpClient(HttpClientOptions options, std::unique_ptr<TlsContext> tls)
    : options_(std::move(options)), tls_(std::move(tls)) {}

HttpClient::~HttpClient() = default;

std::unique_ptr<HttpConnection> HttpClient::TakeIdle(const std::string& origin) {
  std::lock_guard lock(mutex_);
  auto it = idle_.find(origin);
  if (it == idle_.end() || it->second.empty()) return nullptr;
  auto connection = std::move(it->second.back());
  it->second.pop_back();
  return connection;
}

void HttpClient::PutIdle(const std::string& origin, std::unique_ptr<HttpConnection> connection) {
  std::lock_guard lock(mutex_);
  auto& list = idle_[origin];
  if (list.size() < options_.max_idle_per_origin) list.push_back(std::move(connection));
}

Result<HttpResponse> HttpClient::SendOnce(const HttpRequest& request) {
  const auto verb = http::string_to_verb(request.method);
  if (verb == http::verb::unknown) {
    return Fail(Errc::kInternal, "http: unknown method " + request.method);
  }
  http::request<http::string_body> req{verb, request.url.target, 11};
  req.set(http::field::host, request.url.HostPort());
  for (const auto& h : request.headers) req.insert(h.name, h.value);
  if (req.find(http::field::user_agent) == req.end()) {
    req.set(http::field::user_agent, options_.user_agent);
  }
  req.keep_alive(true);
  if (!request.body.empty() || verb == http::verb::post || verb == http::verb::put ||
      verb == http::verb::patch) {
    req.body() = request.body;
    req.prepare_payload();
  }
  const bool head = verb == http::verb::head;
  const std::string origin = request.url.Origin();
  const auto connect_timeout = request.timeout.value_or(options_.connect_timeout);
  const auto request_timeout = request.timeout.value_or(options_.request_timeout);
  const BodyBound bound{options_.max_body_bytes, options_.truncate_long_bodies};

  // A pooled socket may have been closed by the server in the meantime: that failure (nothing
  // received) is repeated once on a fresh connection, whatever the method, since the server
  // never saw the request.
  bool stale_retry_used = false;
  for (;;) {
    auto connection = TakeIdle(origin);
    const bool reused = connection != nullptr;
    if (reused && !connection->LooksAlive()) continue;  // dropped; the pool is bounded
    if (!connection) {
      connection = std::make_unique<HttpConnection>();
      if (auto err = Connect(*connection, request.url, options_.destinations, tls_->context,
                             options_.tls_verify, connect_timeout)) {
        return Fail(ToErrc(err->kind), err->message);
      }
    }
    HttpResponse response;
    bool keep_alive = false;
    std::optional<TransportError> err;
    if (connection->tls) {
      err = Exchange(*connection, *connection->tls, request.url, req, head, request_timeout, bound,
                     response, keep_alive);
    } else {
      err = Exchange(*connection, *connection->plain, request.url, req, head, request_timeout,
                     bound, response, keep_alive);
    }
    if (err) {
      if (reused && err->nothing_received && !stale_retry_used) {
        stale_retry_used = true;
        continue;
      }
      return Fail(ToErrc(err->kind), err->message);
    }
    if (keep_alive) PutIdle(origin, std::move(connection));
    return response;
  }
}

Result<void> HttpClient::CheckDestination(const Url& url) {
  asio::io_context ioc;
  std::vector<tcp::endpoint> endpoints;
  if (auto err = Resolve(ioc, url, options_.destinations, options_.connect_timeout, endpoints)) {
    return Fail(ToErrc(err->kind), err->message);
  }
  return {};
}

Result<HttpResponse> HttpClient::Send(const HttpRequest& request) {
  const bool idempotent = request.method == "GET" || request.method == "HEAD";
  const int attempts = 1 + (idempotent ? std::max(0, options_.max_retries) : 0);
  auto delay = options_.backoff;
  for (int attempt = 1;; ++attempt) {
    auto result = SendOnce(request);
    const bool retry =
        attempt < attempts &&
        // A timeout is not repeated: the caller's wait would multiply.
        (result ? RetryableStatus(result->status) : result.error().code == Errc::kUpstreamFailed);
    if (!retry) return result;
    std::this_thread::sleep_for(delay);
    delay *= 2;
  }
}

}  // namespace market::harbor
