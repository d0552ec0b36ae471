#pragma once
// Address ranges a build step or a source checkout may not reach: the rules of the build
// sandbox, shared by the build network (routes in its namespace) and the checkout (a check of
// each address a repository's host name resolves to).

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "market/error.hpp"

namespace market {

// An IPv4 or IPv6 network: "10.0.0.0/8", "fd00::/8", or one address ("192.0.2.1" is /32).
struct IpRange {
  bool v6 = false;
  std::array<unsigned char, 16> bytes{};  // the network address; IPv4 in the first 4 bytes
  int prefix = 0;

  // "10.0.0.0/8", "2001:db8::/32".
  std::string ToString() const;
  // Whether `address` (a single address: /32 or /128) lies in this range. An IPv4-mapped
  // IPv6 address (::ffff:a.b.c.d) counts as its IPv4 address.
  bool Contains(const IpRange& address) const;
};

// kInvalid naming `field` and the text for anything that is not an address or a CIDR; the
// address is masked to its prefix ("10.1.2.3/8" becomes 10.0.0.0/8).
Result<IpRange> ParseIpRange(std::string_view field, std::string_view text);
// Comma- or space-separated ranges; empty text is an empty list.
Result<std::vector<IpRange>> ParseIpRanges(std::string_view field, std::string_view text);

// What nothing a build runs may reach: loopback, link-local (where cloud metadata services
// live), "this network" and unspecified addresses.
const std::vector<IpRange>& AlwaysDeniedRanges();
// Every address of this host's interfaces, as /32 or /128, read now (addresses change).
std::vector<IpRange> HostAddresses();

// The rules for one destination: refused when it is in AlwaysDeniedRanges, HostAddresses or
// `deny`, unless it is in `allow` (which wins: tests allow 127.0.0.0/8 to reach their own
// servers).
struct NetworkRules {
  std::vector<IpRange> deny;
  std::vector<IpRange> allow;

  // Empty when `address` may be reached; otherwise why not ("127.0.0.1 is a loopback address").
  std::string Refusal(const IpRange& address) const;
};

}  // namespace market
