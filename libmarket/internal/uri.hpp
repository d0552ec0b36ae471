#pragma once
// An absolute URL read the way RFC 3986 reads it (Boost.URL): the one reading of where a URL
// makes the service connect, for registry endpoints, the CLI's server and source checkouts.

#include <cstdint>
#include <string>
#include <string_view>

#include "market/error.hpp"

namespace market {

struct UriParts {
  std::string scheme;          // lower case
  bool has_userinfo = false;   // "user@" or "user:password@" before the host
  bool has_password = false;   // a ':' in the user info
  std::string host;            // names in lower case; IP literals without their brackets
  bool ip_literal = false;     // the host was [IPv6]
  std::uint16_t port = 0;      // 0 when the URL gives none (or an empty one: the default)
  std::string target = "/";    // path and query as written; "/" when the path is empty
  bool has_fragment = false;
};

// Fails (Errc::kInvalid, naming what is wrong) when `text` is not an absolute URL with an
// authority ("scheme://host..."), when its port is not 1-65535, or when its host is
// percent-encoded or an IPvFuture literal: a host another tool could read differently is
// refused rather than guessed at. The host may be empty ("file:///x").
Result<UriParts> ParseUri(std::string_view text);

// A URL with its user info taken out ("https://u:p@h/x" -> "https://h/x"), and that user and
// password percent-decoded, so that a credential written into a URL can travel apart from it.
struct UriWithoutCredentials {
  std::string url;
  std::string user;
  std::string password;
};
// Fails as ParseUri does.
Result<UriWithoutCredentials> SplitUriCredentials(std::string_view text);

}  // namespace market
