#include "identity_admin.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <sodium.h>

#include "auth.hpp"
#include "market/validation.hpp"

namespace market::server {

Result<void> CheckNewPassword(std::string_view field, std::string_view password) {
  if (password.size() < kMinPasswordLength || password.size() > kMaxPasswordLength) {
    return Fail(Errc::kInvalid, fmt::format("{} needs at least {} characters (at most {})",
                                            field, kMinPasswordLength, kMaxPasswordLength));
  }
  return {};
}

Result<void> CheckTokenLabel(std::string_view field, std::string_view label) {
  bool control = std::any_of(label.begin(), label.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
  });
  if (label.size() > kMaxTokenLabelLength || control) {
    return Fail(Errc::kInvalid, fmt::format("{}: at most {} characters, no control characters",
                                            field, kMaxTokenLabelLength));
  }
  return {};
}

Result<User> IdentityAdmin::AddUser(std::string_view name, Role role, std::string_view password,
                                    const AuditActor& by) const {
  MARKET_ASSIGN_OR_RETURN(std::string valid, ValidateOperator("name", name));
  MARKET_RETURN_IF_ERROR(CheckNewPassword("password", password));
  MARKET_ASSIGN_OR_RETURN(std::string hash, HashPassword(password));
  return store_.AddUser(valid, role, hash, by, clock_.Now());
}

Result<User> IdentityAdmin::SetRole(std::string_view name, Role role,
                                    const AuditActor& by) const {
  if (name == by.actor) {
    return Fail(Errc::kForbidden, "an admin cannot change its own role; another admin can");
  }
  MARKET_ASSIGN_OR_RETURN(User user, store_.SetRole(name, role, by, clock_.Now()));
  ForgetCredentials();
  return user;
}

Result<User> IdentityAdmin::SetPassword(std::string_view name, std::string_view password,
                                        const AuditActor& by) const {
  MARKET_RETURN_IF_ERROR(CheckNewPassword("password", password));
  MARKET_ASSIGN_OR_RETURN(std::string hash, HashPassword(password));
  MARKET_ASSIGN_OR_RETURN(User user, store_.SetPassword(name, hash, by, clock_.Now()));
  EndSessionsOf(user.name);  // whoever signed in with the old password signs in again
  return user;
}

Result<void> IdentityAdmin::DeleteUser(std::string_view name, const AuditActor& by) const {
  if (name == by.actor) {
    return Fail(Errc::kForbidden, "an admin cannot delete itself; another admin can");
  }
  MARKET_RETURN_IF_ERROR(store_.DeleteUser(name, by, clock_.Now()));
  EndSessionsOf(name);
  return {};
}

Result<CreatedToken> IdentityAdmin::CreateToken(std::string_view user, std::string_view label,
                                                const AuditActor& by) const {
  MARKET_ASSIGN_OR_RETURN(std::string owner, ValidateOperator("user", user));
  MARKET_RETURN_IF_ERROR(CheckTokenLabel("label", label));
  MARKET_ASSIGN_OR_RETURN(NewToken made, GenerateToken());
  Result<ApiToken> added =
      store_.AddToken(owner, label, made.prefix, made.digest, by, clock_.Now());
  if (!added) {
    sodium_memzero(made.secret.data(), made.secret.size());
    return std::unexpected(added.error());
  }
  return CreatedToken{std::move(*added), std::move(made.secret)};
}

Result<ApiToken> IdentityAdmin::RevokeToken(std::int64_t id, const AuditActor& by) const {
  MARKET_ASSIGN_OR_RETURN(ApiToken token, store_.RevokeToken(id, by, clock_.Now()));
  ForgetCredentials();  // the token may be remembered for its cache lifetime otherwise
  return token;
}

void IdentityAdmin::ForgetCredentials() const {
  if (auth_ != nullptr) auth_->Forget();
}

void IdentityAdmin::EndSessionsOf(std::string_view user) const {
  if (auth_ != nullptr) auth_->Sessions().EndAllOf(user);
  ForgetCredentials();
}

}  // namespace market::server
