#include "request_checks.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "browser_sessions.hpp"
#include "http_server.hpp"
#include "uri.hpp"

namespace market::server {

namespace {

using Authority = RequestChecks::Authority;

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

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
std::vector<Authority> HostsServed(const std::vector<std::string>& allowed_hosts,
                                   std::string_view listen_host) {
  std::vector<Authority> hosts;
  for (const std::string& host : allowed_hosts) hosts.push_back(SplitAuthority(host));
  if (!hosts.empty()) return hosts;
  std::string listen = Lower(listen_host);
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
// listener plain HTTP. A missing port is the scheme's default on both sides. An Origin with
// user info, a path or a query is not one a browser sends.
bool SameOrigin(std::string_view origin, std::string_view host) {
  auto from = ParseUri(origin);
  if (!from || from->has_userinfo || from->target != "/" || from->has_fragment) return false;
  if (from->host.empty() || host.empty()) return false;
  const std::string default_port =
      from->scheme == "https" ? "443" : from->scheme == "http" ? "80" : "";
  const std::string from_name = from->ip_literal ? "[" + from->host + "]" : from->host;
  const std::string from_port = from->port != 0 ? std::to_string(from->port) : default_port;
  Authority to = SplitAuthority(host);
  const std::string to_port = to.port.empty() ? default_port : to.port;
  return from_name == to.name && from_port == to_port;
}

bool ChangesState(http::verb method) {
  return method != http::verb::get && method != http::verb::head &&
         method != http::verb::options;
}

}  // namespace

RequestChecks::RequestChecks(const std::vector<std::string>& allowed_hosts,
                             std::string_view listen_host,
                             std::vector<std::string> allowed_origins, RequestObserver* observer)
    : hosts_(HostsServed(allowed_hosts, listen_host)),
      allowed_origins_(std::move(allowed_origins)),
      observer_(observer) {}

std::optional<Denied> RequestChecks::Check(const HttpRequest& request,
                                           std::string_view path) const {
  if (auto refused = CheckHost(request, path)) return refused;
  return CheckOrigin(request, path);
}

// 421 for a Host that does not name this server; the probes answer any Host.
std::optional<Denied> RequestChecks::CheckHost(const HttpRequest& request,
                                               std::string_view path) const {
  std::string_view host = HeaderValue(request, http::field::host);
  if (host.empty() || IsProbe(path)) return std::nullopt;  // HTTP/1.0: no Host to rebind
  Authority given = SplitAuthority(host);
  for (const Authority& served : hosts_) {
    if (served.name == given.name && (served.port.empty() || served.port == given.port)) {
      return std::nullopt;
    }
  }
  if (observer_ != nullptr) observer_->OnRefused(Refusal::kHost);
  Denied denied;
  denied.status = http::status::misdirected_request;
  denied.error = Error{Errc::kForbidden,
                       fmt::format("this server does not answer for host {}; list the names "
                                   "clients use in allowed-hosts",
                                   host.substr(0, 256))};
  return denied;
}

// 403 for a state-changing request that another site's page sent: its Origin is not this
// server's (as its Host names it) nor listed, or the browser says Sec-Fetch-Site is not
// same-origin. Requests without either header (curl, the CLI, the original's client) pass.
std::optional<Denied> RequestChecks::CheckOrigin(const HttpRequest& request,
                                                 std::string_view path) const {
  if (!ChangesState(request.method())) return std::nullopt;
  std::string origin = Lower(HeaderValue(request, http::field::origin));
  std::string site = Lower(HeaderValue(request, "Sec-Fetch-Site"));
  bool browser_same = site.empty() || site == "same-origin" || site == "none";
  // The session cookie is sent by browsers only, and every browser that sends it says where a
  // state-changing request comes from: one that says neither is not the console's.
  bool cookie_only = HeaderValue(request, http::field::authorization).empty() &&
                     !SessionCookieOf(request).empty();
  bool unsaid = origin.empty() && site.empty();
  if (origin.empty() && browser_same && !(cookie_only && unsaid)) return std::nullopt;
  if (!origin.empty()) {
    if (std::find(allowed_origins_.begin(), allowed_origins_.end(), origin) !=
        allowed_origins_.end()) {
      return std::nullopt;
    }
    if (browser_same && SameOrigin(origin, HeaderValue(request, http::field::host))) {
      return std::nullopt;
    }
  }
  if (observer_ != nullptr) observer_->OnRefused(Refusal::kCrossSite);
  std::string from = unsaid           ? std::string("a session cookie without Origin")
                     : origin.empty() ? fmt::format("a {} page (Sec-Fetch-Site)", site)
                                      : fmt::format("origin {}", origin.substr(0, 256));
  return Denied::From(Error{
      Errc::kForbidden,
      fmt::format("{} {} from {} refused: another site's page may not change anything here "
                  "(allowed-origins lists the sites that may)",
                  request.method_string(), path, from)});
}

}  // namespace market::server
