#pragma once
// How a webhook body is signed, so receivers can check it came from this service and reject
// replays. Two schemes at once, each verifiable with common libraries:
//   GitHub's:            X-Market-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>
//   Standard Webhooks':  webhook-id: <event id>
//                        webhook-timestamp: <unix seconds>
//                        webhook-signature: v1,<base64 HMAC-SHA256(secret, id.timestamp.body)>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace market {

struct SignedHeader {
  std::string name;
  std::string value;
};

// Lower-case hex of HMAC-SHA256(key, message).
std::string HmacSha256Hex(std::string_view key, std::string_view message);
// Standard base64 of HMAC-SHA256(key, message).
std::string HmacSha256Base64(std::string_view key, std::string_view message);

// The four headers above, for `body` sent as event `id` at `unix_seconds`. With an empty
// secret only webhook-id and webhook-timestamp (nothing to sign with).
std::vector<SignedHeader> WebhookSignatureHeaders(std::string_view secret, std::string_view id,
                                                  std::int64_t unix_seconds,
                                                  std::string_view body);

// Compares two strings in time that depends on their lengths only.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace market
