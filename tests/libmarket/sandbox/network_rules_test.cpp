// The address rules of the sandbox: CIDR parsing, containment (IPv4-mapped IPv6 included) and
// why an address is refused.

#include "market/network_rules.hpp"

#include <catch2/catch.hpp>

namespace market {
namespace {

IpRange Address(std::string_view text) {
  auto r = ParseIpRange("test", text);
  REQUIRE(r);
  return *r;
}

TEST_CASE("CIDR text is parsed and masked, bad text names the field", "[network_rules]") {
  CHECK(Address("10.1.2.3/8").ToString() == "10.0.0.0/8");
  CHECK(Address("192.0.2.1").ToString() == "192.0.2.1/32");
  CHECK(Address("2001:db8::1/32").ToString() == "2001:db8::/32");
  CHECK(Address("10.0.0.0/0").ToString() == "0.0.0.0/0");
  CHECK(Address("172.16.5.4/12").ToString() == "172.16.0.0/12");
  for (const char* bad : {"", "10.0.0.0/", "/8", "10.0.0.0/33", "::/129", "10.0.0.0/-1",
                          "10.0.0.0/8x", "host.example.com", "10.0.0"}) {
    INFO(bad);
    auto r = ParseIpRange("build-deny-networks", bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::kInvalid);
    CHECK(r.error().message.find("build-deny-networks") != std::string::npos);
  }
  auto list = ParseIpRanges("f", "10.0.0.0/8, 192.168.0.0/16\tfd00::/8");
  REQUIRE(list);
  CHECK(list->size() == 3);
  CHECK(ParseIpRanges("f", "")->empty());
  CHECK_FALSE(ParseIpRanges("f", "10.0.0.0/8,nope"));
}

TEST_CASE("Containment, IPv4-mapped addresses counting as IPv4", "[network_rules]") {
  CHECK(Address("10.0.0.0/8").Contains(Address("10.255.1.1")));
  CHECK_FALSE(Address("10.0.0.0/8").Contains(Address("11.0.0.1")));
  CHECK(Address("127.0.0.0/8").Contains(Address("::ffff:127.0.0.1")));
  CHECK_FALSE(Address("127.0.0.0/8").Contains(Address("::1")));
  CHECK(Address("0.0.0.0/0").Contains(Address("203.0.113.9")));
  CHECK_FALSE(Address("0.0.0.0/0").Contains(Address("2001:db8::1")));
  CHECK(Address("172.16.0.0/12").Contains(Address("172.31.255.255")));
  CHECK_FALSE(Address("172.16.0.0/12").Contains(Address("172.32.0.0")));
}

TEST_CASE("Refusal: loopback, link-local, unspecified, this host, the deny list, allow wins",
          "[network_rules]") {
  NetworkRules rules;
  CHECK(rules.Refusal(Address("127.0.0.1")) == "127.0.0.1 is a loopback address");
  CHECK(rules.Refusal(Address("::ffff:127.0.0.2")) == "127.0.0.2 is a loopback address");
  CHECK(rules.Refusal(Address("::1")) == "::1 is a loopback address");
  CHECK(rules.Refusal(Address("169.254.169.254")) == "169.254.169.254 is a link-local address");
  CHECK(rules.Refusal(Address("fe80::1")) == "fe80::1 is a link-local address");
  CHECK(rules.Refusal(Address("0.0.0.0")) == "0.0.0.0 is an unspecified address");
  CHECK(rules.Refusal(Address("203.0.113.7")).empty());

  for (const IpRange& host : HostAddresses()) {
    if (!rules.Refusal(host).empty()) continue;  // loopback and link-local say so themselves
    FAIL("an address of this host is not refused: " << host.ToString());
  }

  rules.deny = *ParseIpRanges("f", "10.0.0.0/8");
  CHECK(rules.Refusal(Address("10.2.3.4")) == "10.2.3.4 is in a denied network (10.0.0.0/8)");
  CHECK(rules.Refusal(Address("::ffff:10.2.3.4")) ==
        "10.2.3.4 is in a denied network (10.0.0.0/8)");
  rules.allow = *ParseIpRanges("f", "127.0.0.0/8 10.2.0.0/16");
  CHECK(rules.Refusal(Address("127.0.0.1")).empty());
  CHECK(rules.Refusal(Address("10.2.3.4")).empty());
  CHECK_FALSE(rules.Refusal(Address("10.3.0.1")).empty());
  CHECK_FALSE(rules.Refusal(Address("169.254.169.254")).empty());
}

}  // namespace
}  // namespace market
