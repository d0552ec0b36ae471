#pragma once
// HTTP Basic authentication against a users file of `user:HASH` lines (argon2id hashes from
// libsodium's crypto_pwhash_str, made with `market-server --hash-password`).

#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "market/error.hpp"

namespace market::server {

class Authenticator {
 public:
  // kInvalid naming the file and line for a malformed file.
  static Result<Authenticator> FromFile(const std::string& path);
  Authenticator(Authenticator&& other) noexcept;

  // The user named by a valid `Authorization: Basic ...` header; kUnauthorized otherwise.
  // Runs argon2id (tens of milliseconds): call it on the blocking pool only.
  Result<std::string> Verify(std::string_view authorization) const;

 private:
  Authenticator() = default;
  std::map<std::string, std::string, std::less<>> hashes_;  // user -> argon2id hash
  // Header digests that verified, so a client's every request does not pay argon2id again.
  mutable std::mutex mutex_;
  mutable std::map<std::string, std::string> verified_;
};

// An argon2id hash of `password` for the users file.
Result<std::string> HashPassword(std::string_view password);

}  // namespace market::server
