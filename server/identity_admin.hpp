#pragma once
// Users and API tokens as an admin manages them: the rules (names, passwords, labels, what an
// admin may not do to itself) and the changes, for the API's admin pages. A change applies at
// once in this process: remembered credentials are forgotten, and a deleted user's or a reset
// password's sessions end. `market-server user|token` checks its input with the same rules.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "market/error.hpp"
#include "market/identity.hpp"
#include "market/time.hpp"

namespace market::server {

class Authenticator;

inline constexpr std::size_t kMinPasswordLength = 8;
// argon2id takes any length; a bound keeps a request's hashing work and size in check.
inline constexpr std::size_t kMaxPasswordLength = 1024;
inline constexpr std::size_t kMaxTokenLabelLength = 64;

// kInvalid naming `field` unless `password` has kMinPasswordLength..kMaxPasswordLength bytes.
Result<void> CheckNewPassword(std::string_view field, std::string_view password);
// kInvalid unless `label` has at most kMaxTokenLabelLength characters and no control character.
Result<void> CheckTokenLabel(std::string_view field, std::string_view label);

struct CreatedToken {
  ApiToken token;
  std::string secret;  // shown once to whoever created it; never stored or logged
};

class IdentityAdmin {
 public:
  // `auth` may be null (authentication off: nothing is remembered). All must outlive this.
  IdentityAdmin(IdentityStore& store, const Authenticator* auth, const Clock& clock)
      : store_(store), auth_(auth), clock_(clock) {}

  Result<std::vector<User>> Users() const { return store_.ListUsers(); }
  // kInvalid naming the field for a bad name or password; kAlreadyExists for a taken name.
  Result<User> AddUser(std::string_view name, Role role, std::string_view password,
                       const AuditActor& by) const;
  // kForbidden when `by` changes its own role or deletes itself: the last admin cannot lock
  // everyone out. kNotFound for an unknown user.
  Result<User> SetRole(std::string_view name, Role role, const AuditActor& by) const;
  Result<User> SetPassword(std::string_view name, std::string_view password,
                           const AuditActor& by) const;
  Result<void> DeleteUser(std::string_view name, const AuditActor& by) const;

  // Every token, or `user`'s; newest first, never the tokens themselves.
  Result<std::vector<ApiToken>> Tokens(std::string_view user) const {
    return store_.ListTokens(user);
  }
  Result<CreatedToken> CreateToken(std::string_view user, std::string_view label,
                                   const AuditActor& by) const;
  Result<ApiToken> RevokeToken(std::int64_t id, const AuditActor& by) const;

 private:
  // Applies a change at once in this process: verified credentials are checked again.
  void ForgetCredentials() const;
  // Also ends `user`'s console sessions.
  void EndSessionsOf(std::string_view user) const;

  IdentityStore& store_;
  const Authenticator* auth_;
  const Clock& clock_;
};

}  // namespace market::server
