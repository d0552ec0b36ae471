#include "source/source_url.hpp"

#include "uri.hpp"

namespace market::source {

namespace {

bool IsSshScheme(std::string_view scheme) {
  return scheme == "ssh" || scheme == "git+ssh" || scheme == "ssh+git" || scheme == "svn+ssh";
}

int DefaultPort(std::string_view scheme) {
  if (scheme == "http") return 80;
  if (scheme == "https") return 443;
  if (scheme == "git") return 9418;
  if (scheme == "svn") return 3690;
  if (IsSshScheme(scheme)) return 22;
  return 0;
}

// git's scp-like form, [user@]host:path, which is not a URL: ssh to host, port 22.
std::optional<SourceEndpoint> ParseScpForm(std::string_view url) {
  const auto first_colon = url.find(':');
  const auto first_slash = url.find('/');
  std::string_view rest = url;
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
  // git's rule: a ':' before the first '/' makes it scp-like ssh; anything else is a path.
  if (colon == std::string_view::npos || (slash != std::string_view::npos && slash < colon)) {
    return SourceEndpoint{.scheme = "file", .host = {}, .port = 0, .ssh = false};
  }
  std::string_view host = rest.substr(0, colon);
  if (host.starts_with('[') && host.ends_with(']')) host = host.substr(1, host.size() - 2);
  if (host.empty()) return std::nullopt;
  return SourceEndpoint{.scheme = "ssh", .host = std::string(host), .port = 22, .ssh = true};
}

}  // namespace

std::optional<SourceEndpoint> ParseSourceEndpoint(std::string_view url) {
  if (url.find("://") == std::string_view::npos) return ParseScpForm(url);
  auto parts = ParseUri(url);
  if (!parts) return std::nullopt;
  SourceEndpoint out;
  out.scheme = std::move(parts->scheme);
  out.ssh = IsSshScheme(out.scheme);
  if (out.scheme == "file") return out;
  if (parts->host.empty()) return std::nullopt;
  out.host = std::move(parts->host);
  out.port = parts->port != 0 ? parts->port : DefaultPort(out.scheme);
  return out;
}

}  // namespace market::source
