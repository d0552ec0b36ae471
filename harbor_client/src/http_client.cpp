#include "market/harbor_client/http_client.hpp"

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

constexpr std::uint64_t kBodyLimit = 64ull * 1024 * 1024;  // manifests and configs are small

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

enum class Failure { kTimeout, kUnreachable, kBroken };

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

std::optional<TransportError> Connect(HttpConnection& c, const Url& url,
                                      asio::ssl::context& tls_context, bool tls_verify,
                                      std::chrono::milliseconds timeout) {
  const std::string where = url.HostPort();
  tcp::resolver resolver(c.ioc);
  asio::steady_timer timer(c.ioc);
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
  RunAll(c.ioc);
  if (resolve_timed_out) {
    return TransportError{Failure::kTimeout, "could not resolve " + url.host + " within " +
                                                 std::to_string(timeout.count()) + " ms"};
  }
  if (resolve_ec) {
    return TransportError{Failure::kUnreachable,
                          "cannot resolve " + url.host + ": " + resolve_ec.message()};
  }

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

template <class Stream>
std::optional<TransportError> Exchange(HttpConnection& c, Stream& stream, const Url& url,
                                       http::request<http::string_body>& req, bool head,
                                       std::chrono::milliseconds timeout, HttpResponse& out,
                                       bool& keep_alive) {
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
  http::response_parser<http::string_body> parser;
  parser.body_limit(kBodyLimit);
  parser.skip(head);
  http::async_read(stream, c.buffer, parser, [&](beast::error_code e, std::size_t) { ec = e; });
  RunAll(c.ioc);
  if (ec == beast::error::timeout) {
    return TransportError{Failure::kTimeout, where + " did not answer within " +
                                                 std::to_string(timeout.count()) + " ms"};
  }
  if (ec) {
    const bool nothing = !parser.got_some() && IsClosedByPeer(ec);
    return TransportError{Failure::kBroken,
                          "reading the answer of " + where + " failed: " + Describe(ec), nothing};
  }
  auto res = parser.release();
  out.status = static_cast<int>(res.result_int());
  for (const auto& field : res) {
    out.headers.push_back({std::string(field.name_string()), std::string(field.value())});
  }
  out.body = std::move(res.body());
  keep_alive = res.keep_alive();
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
  req.set(http::field::user_agent, "image-market");
  for (const auto& h : request.headers) req.insert(h.name, h.value);
  req.keep_alive(true);
  if (!request.body.empty() || verb == http::verb::post || verb == http::verb::put ||
      verb == http::verb::patch) {
    req.body() = request.body;
    req.prepare_payload();
  }
  const bool head = verb == http::verb::head;
  const std::string origin = request.url.Origin();

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
      if (auto err = Connect(*connection, request.url, tls_->context, options_.tls_verify,
                             options_.connect_timeout)) {
        return Fail(err->kind == Failure::kTimeout ? Errc::kUpstreamTimeout : Errc::kUpstreamFailed,
                    err->message);
      }
    }
    HttpResponse response;
    bool keep_alive = false;
    std::optional<TransportError> err;
    if (connection->tls) {
      err = Exchange(*connection, *connection->tls, request.url, req, head,
                     options_.request_timeout, response, keep_alive);
    } else {
      err = Exchange(*connection, *connection->plain, request.url, req, head,
                     options_.request_timeout, response, keep_alive);
    }
    if (err) {
      if (reused && err->nothing_received && !stale_retry_used) {
        stale_retry_used = true;
        continue;
      }
      return Fail(err->kind == Failure::kTimeout ? Errc::kUpstreamTimeout : Errc::kUpstreamFailed,
                  err->message);
    }
    if (keep_alive) PutIdle(origin, std::move(connection));
    return response;
  }
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
