#include "auth.hpp"

#include <fstream>

#include <fmt/format.h>
#include <sodium.h>

namespace market::server {

namespace {

constexpr std::size_t kMaxCachedHeaders = 1024;

std::string HeaderDigest(std::string_view header) {
  unsigned char digest[crypto_generichash_BYTES];
  crypto_generichash(digest, sizeof digest, reinterpret_cast<const unsigned char*>(header.data()),
                     header.size(), nullptr, 0);
  return std::string(reinterpret_cast<const char*>(digest), sizeof digest);
}

}  // namespace

Authenticator::Authenticator(Authenticator&& other) noexcept
    : hashes_(std::move(other.hashes_)), verified_(std::move(other.verified_)) {}

Result<Authenticator> Authenticator::FromFile(const std::string& path) {
  if (sodium_init() < 0) return Fail(Errc::kInternal, "libsodium cannot be initialised");
  std::ifstream in(path);
  if (!in) return Fail(Errc::kInvalid, fmt::format("auth-users-file {} cannot be read", path));
  Authenticator auth;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.front() == '#') continue;
    std::size_t colon = line.find(':');
    if (colon == 0 || colon == std::string::npos || !line.substr(colon + 1).starts_with("$argon2")) {
      return Fail(Errc::kInvalid,
                  fmt::format("auth-users-file {} line {}: expected user:$argon2id$... (make "
                              "the hash with market-server --hash-password)",
                              path, number));
    }
    auth.hashes_[line.substr(0, colon)] = line.substr(colon + 1);
  }
  if (auth.hashes_.empty()) {
    return Fail(Errc::kInvalid, fmt::format("auth-users-file {} has no users", path));
  }
  return auth;
}

Result<std::string> Authenticator::Verify(std::string_view authorization) const {
  constexpr std::string_view kBasic = "Basic ";
  if (!authorization.starts_with(kBasic)) {
    return Fail(Errc::kUnauthorized, "authentication required (HTTP Basic)");
  }
  std::string digest = HeaderDigest(authorization);
  {
    std::lock_guard lock(mutex_);
    if (auto it = verified_.find(digest); it != verified_.end()) return it->second;
  }
  std::string_view encoded = authorization.substr(kBasic.size());
  std::string decoded(encoded.size(), '\0');
  std::size_t length = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(decoded.data()), decoded.size(),
                        encoded.data(), encoded.size(), nullptr, &length, nullptr,
                        sodium_base64_VARIANT_ORIGINAL) != 0) {
    return Fail(Errc::kUnauthorized, "malformed Basic credentials");
  }
  decoded.resize(length);
  std::size_t colon = decoded.find(':');
  if (colon == std::string::npos) return Fail(Errc::kUnauthorized, "malformed Basic credentials");
  std::string user = decoded.substr(0, colon);
  std::string password = decoded.substr(colon + 1);
  sodium_memzero(decoded.data(), decoded.size());
  auto it = hashes_.find(user);
  bool ok = it != hashes_.end() &&
            crypto_pwhash_str_verify(it->second.c_str(), password.data(), password.size()) == 0;
  sodium_memzero(password.data(), password.size());
  if (!ok) return Fail(Errc::kUnauthorized, "wrong user name or password");
  std::lock_guard lock(mutex_);
  if (verified_.size() >= kMaxCachedHeaders) verified_.clear();
  verified_[digest] = user;
  return user;
}

Result<std::string> HashPassword(std::string_view password) {
  if (sodium_init() < 0) return Fail(Errc::kInternal, "libsodium cannot be initialised");
  char hash[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str(hash, password.data(), password.size(),
                        crypto_pwhash_OPSLIMIT_INTERACTIVE,
                        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
    return Fail(Errc::kInternal, "out of memory hashing the password");
  }
  return std::string(hash);
}

}  // namespace market::server
