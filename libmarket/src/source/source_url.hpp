#pragma once
// Where a source URL makes git or svn connect: its transport, host and port, read the way the
// tools read it (git's scp form user@host:path is ssh). One reading for the save-time rule
// (ssh sources off) and the checkout's address check.

#include <optional>
#include <string>
#include <string_view>

namespace market::source {

struct SourceEndpoint {
  std::string scheme;  // lower case: http, https, git, ssh, svn, svn+ssh, file; ssh for scp form
  std::string host;    // without brackets or user; empty for file
  int port = 0;        // the URL's, or the scheme's default (0 for file and unknown schemes)
  bool ssh = false;    // ssh://, git+ssh://, ssh+git://, svn+ssh:// or the scp form
};

// Nullopt when a URL ("scheme://...") is not valid RFC 3986, has no host where it needs one, or
// has a port outside 1-65535.
// A string with no "://" and no ':' before its first '/' is a local path: scheme "file".
std::optional<SourceEndpoint> ParseSourceEndpoint(std::string_view url);

}  // namespace market::source
