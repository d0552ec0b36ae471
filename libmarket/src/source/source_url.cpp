#include "source/source_url.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace market::source {

namespace {

int DefaultPort(std::string_view scheme) {
  if (scheme == "http") return 80;
  if (scheme == "https") return 443;
  if (scheme == "git") return 9418;
  if (scheme == "svn") return 3690;
  if (scheme == "ssh" || scheme == "git+ssh" || scheme == "ssh+git" || scheme == "svn+ssh") {
    return 22;
  }
  return 0;
}

// "[::1]:22", "host:8080", "host" (user already removed) into host and port.
bool SplitHostPort(std::string_view authority, SourceEndpoint& out) {
  std::string_view port;
  if (authority.starts_with('[')) {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return false;
    out.host = std::string(authority.substr(1, close - 1));
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      port = rest.substr(1);
    }
  } else {
    auto colon = authority.find(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (out.host.empty()) return false;
  if (!port.empty()) {
    int n = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
    if (ec != std::errc() || ptr != port.data() + port.size() || n <= 0 || n > 65535) return false;
    out.port = n;
  }
  return true;
}

}  // namespace

std::optional<SourceEndpoint> ParseSourceEndpoint(std::string_view url) {
  SourceEndpoint out;
  if (auto sep = url.find("://"); sep != std::string_view::npos) {
    out.scheme = std::string(url.substr(0, sep));
    std::transform(out.scheme.begin(), out.scheme.end(), out.scheme.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    out.ssh = out.scheme == "ssh" || out.scheme == "git+ssh" || out.scheme == "ssh+git" ||
              out.scheme == "svn+ssh";
    out.port = DefaultPort(out.scheme);
    if (out.scheme == "file") return out;
    std::string_view rest = url.substr(sep + 3);
    std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
    if (auto at = authority.rfind('@'); at != std::string_view::npos) {
      authority.remove_prefix(at + 1);
    }
    if (!SplitHostPort(authority, out)) return std::nullopt;
    return out;
  }
  // git's rule: a ':' before the first '/' makes it scp-like ssh, [user@]host:path; else a path.
  std::string_view rest = url;
  const auto first_colon = url.find(':');
  const auto first_slash = url.find('/');
  if (auto at = url.find('@');
      at != std::string_view::npos && at < first_colon && at < first_slash) {
    rest.remove_prefix(at + 1);
  }
  auto colon = rest.find(':');
  if (rest.starts_with('[')) {
    auto close = rest.find(']');
    colon = close == std::string_view::npos ? std::string_view::npos : rest.find(':', close);
  }
  auto slash = rest.find('/');
  if (colon == std::string_view::npos || (slash != std::string_view::npos && slash < colon)) {
    out.scheme = "file";
    return out;
  }
  out.scheme = "ssh";
  out.ssh = true;
  out.port = 22;
  std::string_view host = rest.substr(0, colon);
  if (host.starts_with('[') && host.ends_with(']')) host = host.substr(1, host.size() - 2);
  if (host.empty()) return std::nullopt;
  out.host = std::string(host);
  return out;
}

}  // namespace market::source
