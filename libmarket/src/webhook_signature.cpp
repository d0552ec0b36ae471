#include "market/webhook_signature.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <climits>
#include <stdexcept>

#include "base64.hpp"
#include "hex.hpp"

namespace market {

namespace {

// The raw 32 bytes of HMAC-SHA256(key, message).
std::string HmacSha256(std::string_view key, std::string_view message) {
  if (key.size() > static_cast<std::size_t>(INT_MAX)) {
    throw std::length_error("an HMAC key longer than INT_MAX bytes");
  }
  // A view of "" may have no data pointer; OpenSSL wants one even for zero bytes.
  static const unsigned char kEmpty = 0;
  auto bytes = [](std::string_view text) {
    return text.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(text.data());
  };
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (HMAC(EVP_sha256(), bytes(key), static_cast<int>(key.size()), bytes(message), message.size(),
           mac, &length) == nullptr) {
    throw std::runtime_error("OpenSSL could not compute an HMAC-SHA256");
  }
  return std::string(reinterpret_cast<const char*>(mac), length);
}

}  // namespace

std::string HmacSha256Hex(std::string_view key, std::string_view message) {
  return HexEncode(HmacSha256(key, message));
}

std::string HmacSha256Base64(std::string_view key, std::string_view message) {
  return Base64Encode(HmacSha256(key, message));
}

std::vector<SignedHeader> WebhookSignatureHeaders(std::string_view secret, std::string_view id,
                                                  std::int64_t unix_seconds,
                                                  std::string_view body) {
  const std::string timestamp = std::to_string(unix_seconds);
  std::vector<SignedHeader> headers;
  if (!secret.empty()) {
    headers.push_back({"X-Market-Signature-256", "sha256=" + HmacSha256Hex(secret, body)});
  }
  headers.push_back({"webhook-id", std::string(id)});
  headers.push_back({"webhook-timestamp", timestamp});
  if (!secret.empty()) {
    // Standard Webhooks signs "id.timestamp.body", so a captured body cannot be replayed under
    // another id or time.
    std::string signed_content;
    signed_content.reserve(id.size() + timestamp.size() + body.size() + 2);
    signed_content.append(id).append(".").append(timestamp).append(".").append(body);
    headers.push_back({"webhook-signature", "v1," + HmacSha256Base64(secret, signed_content)});
  }
  return headers;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace market
