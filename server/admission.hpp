#pragma once
// Who may make a request: authenticate the caller, throttle sign-ins and requests, check the
// route's role. Asked once per request by the HTTP core, which turns the decision into a
// response; the rules themselves are in docs/security.md.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "auth.hpp"
#include "http_types.hpp"
#include "market/error.hpp"
#include "rate_limit.hpp"
#include "router.hpp"

namespace market::server {

class Auditor;
class RequestObserver;

// The request may go on. `caller`: the verified user; nullopt when nobody had to sign in (a
// public route, or authentication off).
struct Allowed {
  std::optional<Principal> caller;
};

// The request is turned away before its handler runs.
struct Denied {
  http::status status = http::status::forbidden;
  Error error;  // its code and message make the body (responses.hpp)
  std::vector<std::pair<http::field, std::string>> headers;

  // From an error, with the status error_mapping gives its code.
  static Denied From(Error error);
  // 429 (10020) with Retry-After.
  static Denied TooMany(std::string message, std::chrono::seconds retry_after);
};

using Decision = std::variant<Allowed, Denied>;

// A sign-in the I/O thread could not decide: its credentials are not remembered, so they must
// be verified on the blocking pool. `ticket` holds the verification's place among
// signin-max-concurrent (null for a token or no credentials: no argon2id).
struct VerifyOnPool {
  Authenticator::Ticket ticket;
};

class Admission {
 public:
  struct Settings {
    // Per client (the user when signed in, else the address) token bucket; <= 0: no limit.
    double rate_limit_per_second = 0;
    int rate_limit_burst = 0;
    // Failed sign-ins per address and per user name in a window; past it, refused before any
    // password is checked.
    int signin_max_failures = 10;
    std::chrono::seconds signin_window{60};
    RequestObserver* observer = nullptr;  // told of refusals and failed sign-ins; null: none
    const Auditor* auditor = nullptr;     // records failed sign-ins; null: not recorded
  };

  // `auth` null: authentication off, every route open and limited per address. Both
  // pointers and `settings`' must outlive this.
  Admission(Settings settings, const Authenticator* auth);

  // What the HTTP core knows of a request when it asks.
  struct Attempt {
    const RequestContext& request;  // method, path and request id, for messages and the audit
    std::string_view address;       // the peer's IP address: its rate-limit bucket and window
    Access access;                  // the matched route's
    // A public route whose work runs on the blocking pool (a git host's push, a sign-out): it
    // costs database reads, so its address's bucket applies although nobody signs in.
    bool public_work = false;
  };

  // On the I/O thread, never blocking: the decision, when the route is public, authentication
  // is off or the credentials are remembered; else the sign-in to finish with Verify (after
  // the sign-in throttle and signin-max-concurrent have let it through).
  std::variant<Allowed, Denied, VerifyOnPool> Admit(const Attempt& attempt);

  // On the blocking pool, after Admit asked for it: verifies the credentials (argon2id or a
  // database query), counts a failure against the address and the name, then throttles and
  // authorises as Admit does for a remembered caller.
  Decision Verify(const Attempt& attempt, const VerifyOnPool& pending);

 private:
  Decision Authorise(const Attempt& attempt, const Principal& caller);
  std::optional<Denied> Limit(const std::string& key);
  std::optional<Denied> ThrottleSignin(const Attempt& attempt, std::string_view authorization,
                                       const std::optional<std::string>& user);
  void SigninFailed(const Attempt& attempt, const std::optional<std::string>& user);

  Settings settings_;
  const Authenticator* auth_;
  RateLimiter limiter_;
  SigninThrottle signin_;
};

}  // namespace market::server
