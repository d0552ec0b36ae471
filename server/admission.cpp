#include "admission.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "audit.hpp"
#include "error_mapping.hpp"
#include "http_server.hpp"

namespace market::server {

namespace {

std::string Authorization(const RequestContext& request) {
  return RequestCredentials(request.message);
}

// Only credentials are a sign-in: a request without any is answered a plain 401.
bool HasCredentials(std::string_view authorization, const std::optional<std::string>& user) {
  return user.has_value() || authorization.starts_with("Bearer ");
}

}  // namespace

Denied Denied::From(Error error) {
  Denied denied;
  denied.status = HttpStatusFor(error.code);
  denied.error = std::move(error);
  return denied;
}

Denied Denied::TooMany(std::string message, std::chrono::seconds retry_after) {
  Denied denied = From(Error{Errc::kTooManyRequests, std::move(message)});
  denied.headers.emplace_back(http::field::retry_after, std::to_string(retry_after.count()));
  return denied;
}

Admission::Admission(Settings settings, const Authenticator* auth)
    : settings_(std::move(settings)),
      auth_(auth),
      limiter_(settings_.rate_limit_per_second, settings_.rate_limit_burst),
      signin_(settings_.signin_max_failures, settings_.signin_window) {}

std::variant<Allowed, Denied, VerifyOnPool> Admission::Admit(const Attempt& attempt) {
  if (attempt.access.IsPublic()) {
    if (attempt.public_work) {
      if (auto refused = Limit(fmt::format("ip:{}", attempt.address))) return *refused;
    }
    return Allowed{};
  }
  if (auth_ == nullptr) {
    // Authentication off: the client is its address.
    if (auto refused = Limit(fmt::format("ip:{}", attempt.address))) return *refused;
    return Allowed{};
  }
  // A caller verified recently is decided here; verifying anew may run argon2id or query the
  // database (the pool's work), and is a sign-in: throttled and bounded here first.
  std::string authorization = Authorization(attempt.request);
  if (std::optional<Principal> remembered = auth_->Remembered(authorization)) {
    Decision decision = Authorise(attempt, *remembered);
    if (auto* denied = std::get_if<Denied>(&decision)) return std::move(*denied);
    return std::get<Allowed>(std::move(decision));
  }
  std::optional<std::string> user = BasicUserName(authorization);
  if (auto refused = ThrottleSignin(attempt, authorization, user)) return *refused;
  if (!user) return VerifyOnPool{};  // a token: a database lookup, no argon2id
  VerifyOnPool pending{auth_->Reserve(authorization)};
  if (pending.ticket) return pending;
  if (settings_.observer != nullptr) settings_.observer->OnRefused(Refusal::kSigninBusy);
  return Denied::TooMany("too many sign-ins being checked at once; retry in 1s",
                         std::chrono::seconds(1));
}

Decision Admission::Verify(const Attempt& attempt, const VerifyOnPool& pending) {
  std::string authorization = Authorization(attempt.request);
  Result<Principal> principal = auth_->Verify(authorization, pending.ticket);
  if (principal) return Authorise(attempt, *principal);
  if (principal.error().code == Errc::kUnauthorized) {
    SigninFailed(attempt, BasicUserName(authorization));
  }
  // Failed attempts also take from the address's rate-limit bucket.
  if (auto refused = Limit(fmt::format("ip:{}", attempt.address))) return *refused;
  return Denied::From(principal.error());
}

// An authenticated caller's rate limit, then its role.
Decision Admission::Authorise(const Attempt& attempt, const Principal& caller) {
  if (auto refused = Limit("user:" + caller.name)) return *refused;
  if (!attempt.access.Admits(caller.role)) {
    return Denied::From(Error{
        Errc::kForbidden,
        fmt::format("{} {} needs the {} role; {} is {}", attempt.request.message.method_string(),
                    attempt.request.path, ToString(*attempt.access.MinimumRole()), caller.name,
                    ToString(caller.role))});
  }
  return Allowed{caller};
}

// 429 with Retry-After when `key`'s bucket is empty; nullopt to go on.
std::optional<Denied> Admission::Limit(const std::string& key) {
  RateLimiter::Decision decision = limiter_.Take(key);
  if (decision.allowed) return std::nullopt;
  return Denied::TooMany(fmt::format("too many requests; retry in {}s", decision.retry_after.count()),
                         decision.retry_after);
}

// 429 while the address or the user name is past signin-max-failures.
std::optional<Denied> Admission::ThrottleSignin(const Attempt& attempt,
                                                std::string_view authorization,
                                                const std::optional<std::string>& user) {
  if (!HasCredentials(authorization, user)) return std::nullopt;
  std::chrono::seconds wait = signin_.RetryAfter(fmt::format("ip:{}", attempt.address));
  std::string who(attempt.address);
  if (user) {
    std::chrono::seconds for_user = signin_.RetryAfter("user:" + *user);
    if (for_user > wait) {
      wait = for_user;
      who = *user;
    }
  }
  if (wait.count() <= 0) return std::nullopt;
  if (settings_.observer != nullptr) settings_.observer->OnRefused(Refusal::kSigninThrottled);
  return Denied::TooMany(
      fmt::format("too many failed sign-ins for {}; retry in {}s", who.substr(0, 64), wait.count()),
      wait);
}

// Counts a failed sign-in against the address and the user name, logs and audits it.
void Admission::SigninFailed(const Attempt& attempt, const std::optional<std::string>& user) {
  if (!HasCredentials(Authorization(attempt.request), user)) return;  // no credentials at all
  int failures = signin_.Fail(fmt::format("ip:{}", attempt.address));
  if (user) failures = std::max(failures, signin_.Fail("user:" + *user));
  if (settings_.observer != nullptr) settings_.observer->OnSigninFailed();
  std::string name = user ? user->substr(0, 128) : std::string("(token)");
  spdlog::warn("failed sign-in from {} as {}: {} in the last {}s", attempt.address, name,
               failures, settings_.signin_window.count());
  if (settings_.auditor != nullptr) {
    settings_.auditor->Record(
        attempt.request, Acting{"anonymous", "anonymous"}, "auth.signin_failed",
        user ? "user:" + name : std::string("token"), nullptr,
        {{"address", attempt.address},
         {"user", user ? nlohmann::json(name) : nullptr},
         {"failures", failures},
         {"window_seconds", settings_.signin_window.count()}});
  }
}

}  // namespace market::server
