// Webhook signatures checked against the vectors the two schemes publish, so receivers using
// GitHub's or Standard Webhooks' libraries accept what we send.

#include "market/webhook_signature.hpp"

#include <catch2/catch.hpp>

#include <string>

#include "base64.hpp"

namespace market {
namespace {

std::string HeaderValue(const std::vector<SignedHeader>& headers, std::string_view name) {
  for (const auto& h : headers) {
    if (h.name == name) return h.value;
  }
  return "<absent>";
}

TEST_CASE("HMAC-SHA256 in hex and base64: RFC 4231 test case 2", "[webhook-signature]") {
  const std::string hex = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
  CHECK(HmacSha256Hex("Jefe", "what do ya want for nothing?") == hex);
  CHECK(HmacSha256Base64("Jefe", "what do ya want for nothing?") ==
        "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=");
}

TEST_CASE("The GitHub-style header matches GitHub's published example", "[webhook-signature]") {
  auto headers = WebhookSignatureHeaders("It's a Secret to Everybody", "id-1", 1, "Hello, World!");
  CHECK(HeaderValue(headers, "X-Market-Signature-256") ==
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
}

TEST_CASE("The Standard Webhooks headers match its reference vector", "[webhook-signature]") {
  // Their secret "whsec_MfKQ..." is the base64 of the key; the key is what signs.
  auto key = Base64Decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
  REQUIRE(key);
  auto headers = WebhookSignatureHeaders(*key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
                                         R"({"test": 2432232314})");
  REQUIRE(headers.size() == 4);
  CHECK(HeaderValue(headers, "webhook-id") == "msg_p5jXN8AQM9LWM0D4loKWxJek");
  CHECK(HeaderValue(headers, "webhook-timestamp") == "1614265330");
  CHECK(HeaderValue(headers, "webhook-signature") ==
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  CHECK(HeaderValue(headers, "X-Market-Signature-256") ==
        "sha256=" + HmacSha256Hex(*key, R"({"test": 2432232314})"));
}

TEST_CASE("The signature covers id and timestamp, not only the body", "[webhook-signature]") {
  auto one = WebhookSignatureHeaders("s3cret", "a", 100, "{}");
  auto other_id = WebhookSignatureHeaders("s3cret", "b", 100, "{}");
  auto other_time = WebhookSignatureHeaders("s3cret", "a", 101, "{}");
  CHECK(HeaderValue(one, "webhook-signature") != HeaderValue(other_id, "webhook-signature"));
  CHECK(HeaderValue(one, "webhook-signature") != HeaderValue(other_time, "webhook-signature"));
  // GitHub's scheme signs the body alone.
  CHECK(HeaderValue(one, "X-Market-Signature-256") ==
        HeaderValue(other_id, "X-Market-Signature-256"));
}

TEST_CASE("An empty secret: id and timestamp only, no signature", "[webhook-signature]") {
  auto headers = WebhookSignatureHeaders("", "evt-1", 1614265330, "{}");
  REQUIRE(headers.size() == 2);
  CHECK(HeaderValue(headers, "webhook-id") == "evt-1");
  CHECK(HeaderValue(headers, "webhook-timestamp") == "1614265330");
  CHECK(HeaderValue(headers, "webhook-signature") == "<absent>");
  CHECK(HeaderValue(headers, "X-Market-Signature-256") == "<absent>");
}

TEST_CASE("ConstantTimeEquals", "[webhook-signature]") {
  CHECK(ConstantTimeEquals("", ""));
  CHECK(ConstantTimeEquals("sha256=abc", "sha256=abc"));
  CHECK_FALSE(ConstantTimeEquals("sha256=abc", "sha256=abd"));
  CHECK_FALSE(ConstantTimeEquals("xha256=abc", "sha256=abc"));
  CHECK_FALSE(ConstantTimeEquals("abc", "abcd"));  // a prefix is not equal
  CHECK_FALSE(ConstantTimeEquals("", "a"));
  CHECK(ConstantTimeEquals(std::string("a\0b", 3), std::string("a\0b", 3)));
  CHECK_FALSE(ConstantTimeEquals(std::string("a\0b", 3), std::string("a\0c", 3)));
}

}  // namespace
}  // namespace market
