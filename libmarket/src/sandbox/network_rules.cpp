#include "market/network_rules.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace market {

namespace {

constexpr std::array<unsigned char, 12> kMappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

// ::ffff:a.b.c.d is a.b.c.d: a socket connects to the IPv4 address.
IpRange Unmapped(const IpRange& address) {
  if (!address.v6 || address.prefix < 96 ||
      !std::equal(kMappedPrefix.begin(), kMappedPrefix.end(), address.bytes.begin())) {
    return address;
  }
  IpRange v4;
  std::copy(address.bytes.begin() + 12, address.bytes.end(), v4.bytes.begin());
  v4.prefix = address.prefix - 96;
  return v4;
}

void Mask(IpRange& range) {
  const int bits = range.v6 ? 128 : 32;
  for (int i = 0; i < bits / 8; ++i) {
    const int keep = std::clamp(range.prefix - i * 8, 0, 8);
    range.bytes[static_cast<std::size_t>(i)] &= static_cast<unsigned char>(0xff00 >> keep);
  }
}

IpRange Single(int family, const void* addr) {
  IpRange r;
  r.v6 = family == AF_INET6;
  r.prefix = r.v6 ? 128 : 32;
  std::memcpy(r.bytes.data(), addr, r.v6 ? 16 : 4);
  return r;
}

IpRange Literal(std::string_view cidr) { return *ParseIpRange("", cidr); }

struct Named {
  IpRange range;
  const char* what;
};

const std::vector<Named>& NamedDenied() {
  static const std::vector<Named> ranges = {
      {Literal("127.0.0.0/8"), "a loopback address"},
      {Literal("::1/128"), "a loopback address"},
      {Literal("169.254.0.0/16"), "a link-local address"},
      {Literal("fe80::/10"), "a link-local address"},
      {Literal("0.0.0.0/8"), "an unspecified address"},
      {Literal("::/128"), "an unspecified address"},
  };
  return ranges;
}

}  // namespace

std::string IpRange::ToString() const {
  char text[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), text, sizeof text);
  return fmt::format("{}/{}", text, prefix);
}

bool IpRange::Contains(const IpRange& address_in) const {
  const IpRange address = Unmapped(address_in);
  if (address.v6 != v6 || address.prefix < prefix) return false;
  IpRange masked = address;
  masked.prefix = prefix;
  Mask(masked);
  return masked.bytes == bytes;
}

Result<IpRange> ParseIpRange(std::string_view field, std::string_view text) {
  auto bad = [&](std::string_view why) {
    return Fail(Errc::kInvalid, fmt::format("{}: '{}' {}", field, text, why));
  };
  const auto slash = text.find('/');
  const std::string address(text.substr(0, slash));
  IpRange range;
  if (::inet_pton(AF_INET, address.c_str(), range.bytes.data()) == 1) {
    range.prefix = 32;
  } else if (::inet_pton(AF_INET6, address.c_str(), range.bytes.data()) == 1) {
    range.v6 = true;
    range.prefix = 128;
  } else {
    return bad("is not an IP address or a CIDR range (10.0.0.0/8, fd00::/8)");
  }
  if (slash != std::string_view::npos) {
    std::string_view bits = text.substr(slash + 1);
    int prefix = 0;
    auto [ptr, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), prefix);
    if (bits.empty() || ec != std::errc() || ptr != bits.data() + bits.size() || prefix < 0 ||
        prefix > range.prefix) {
      return bad(fmt::format("has a prefix length outside 0..{}", range.prefix));
    }
    range.prefix = prefix;
  }
  Mask(range);
  return range;
}

Result<std::vector<IpRange>> ParseIpRanges(std::string_view field, std::string_view text) {
  std::vector<IpRange> out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find_first_of(", \t", start);
    if (end == std::string_view::npos) end = text.size();
    if (end > start) {
      MARKET_ASSIGN_OR_RETURN(auto range, ParseIpRange(field, text.substr(start, end - start)));
      out.push_back(range);
    }
    start = end + 1;
  }
  return out;
}

const std::vector<IpRange>& AlwaysDeniedRanges() {
  static const std::vector<IpRange> ranges = [] {
    std::vector<IpRange> out;
    for (const Named& n : NamedDenied()) out.push_back(n.range);
    return out;
  }();
  return ranges;
}

std::vector<IpRange> HostAddresses() {
  std::vector<IpRange> out;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return out;
  for (const ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr) continue;
    if (i->ifa_addr->sa_family == AF_INET) {
      out.push_back(Single(AF_INET, &reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr));
    } else if (i->ifa_addr->sa_family == AF_INET6) {
      out.push_back(
          Single(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(i->ifa_addr)->sin6_addr));
    }
  }
  ::freeifaddrs(list);
  return out;
}

std::string NetworkRules::Refusal(const IpRange& address) const {
  for (const IpRange& range : allow) {
    if (range.Contains(address)) return {};
  }
  const std::string shown = Unmapped(address).ToString();
  const std::string text = shown.substr(0, shown.rfind('/'));
  for (const Named& n : NamedDenied()) {
    if (n.range.Contains(address)) return fmt::format("{} is {}", text, n.what);
  }
  for (const IpRange& host : HostAddresses()) {
    if (host.Contains(address)) return fmt::format("{} is an address of this host", text);
  }
  for (const IpRange& range : deny) {
    if (range.Contains(address)) {
      return fmt::format("{} is in a denied network ({})", text, range.ToString());
    }
  }
  return {};
}

}  // namespace market
