#include "uri.hpp"

#include <algorithm>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <boost/url/url_view.hpp>
#include <cctype>
#include <charconv>

namespace market {

namespace {

std::string Lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace

Result<UriParts> ParseUri(std::string_view text) {
  auto parsed = boost::urls::parse_uri(text);
  if (!parsed) return Fail(Errc::kInvalid, "is not a valid URL (RFC 3986)");
  const boost::urls::url_view& url = *parsed;
  if (!url.has_authority()) return Fail(Errc::kInvalid, "has no //host after its scheme");
  // Boost.URL 1.81 ends a port at its first non-digit and reads the rest as the path
  // ("h:8o/" is port 8, path "o/"); after an authority RFC 3986 allows only a path that is
  // empty or starts with '/', so anything else is a malformed port.
  if (std::string_view path = url.encoded_path(); !path.empty() && path.front() != '/') {
    return Fail(Errc::kInvalid, "has a port that is not a number from 1 to 65535");
  }

  UriParts out;
  out.scheme = Lower(url.scheme());
  out.has_userinfo = url.has_userinfo();
  out.has_password = url.has_password();
  switch (url.host_type()) {
    case boost::urls::host_type::ipv6:
      out.ip_literal = true;
      out.host = std::string(url.encoded_host_address());
      break;
    case boost::urls::host_type::ipvfuture:
      return Fail(Errc::kInvalid, "has an IPvFuture host, which no client here can reach");
    default: {
      std::string_view host = url.encoded_host();
      if (host.find('%') != std::string_view::npos) {
        return Fail(Errc::kInvalid, "has a percent-encoded host");
      }
      out.host = Lower(host);
    }
  }
  if (std::string_view port = url.port(); !port.empty()) {
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
      return Fail(Errc::kInvalid, "has a port that is not a number from 1 to 65535");
    }
    out.port = static_cast<std::uint16_t>(value);
  }
  if (std::string_view target = url.encoded_target(); !target.empty()) {
    out.target = target.front() == '?' ? "/" + std::string(target) : std::string(target);
  }
  out.has_fragment = url.has_fragment();
  return out;
}

Result<UriWithoutCredentials> SplitUriCredentials(std::string_view text) {
  MARKET_RETURN_IF_ERROR(ParseUri(text));
  boost::urls::url url(text);
  UriWithoutCredentials out;
  if (url.has_userinfo()) {
    out.user = url.user();
    out.password = url.password();
    url.remove_userinfo();
  }
  out.url = std::string(url.buffer());
  return out;
}

}  // namespace market
