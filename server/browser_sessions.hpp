#pragma once
// The console's sign-in sessions: after one password check, a browser carries an HttpOnly,
// SameSite=Strict cookie naming a session held here, so the page never keeps the password
// and a reload stays signed in. Sessions live in this process (a restart signs everyone out);
// only their SHA-256 digests are kept, so the map holds nothing a reader could replay.

#include <chrono>
#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "http_types.hpp"
#include "market/error.hpp"

namespace market::server {

inline constexpr std::string_view kSessionCookie = "market_session";
// What a session secret looks like: a prefix, then 43 base64url characters (32 random bytes).
inline constexpr std::string_view kSessionPrefix = "mks_";

class BrowserSessions {
 public:
  // A session ends this long after its sign-in, used or not: a stolen cookie does not live on.
  static constexpr std::chrono::hours kLifetime{12};
  // Past this many live sessions, a new sign-in ends the one closest to its end: sign-ins
  // (argon2id, throttled) cannot grow the map without bound.
  static constexpr std::size_t kMaxSessions = 10'000;

  // A new session of `user`: its secret, the cookie's value (never logged, never stored).
  Result<std::string> Start(std::string_view user);
  // The user of a live session; nullopt for an unknown, ended or expired one.
  std::optional<std::string> UserOf(std::string_view secret) const;
  void End(std::string_view secret);
  // Ends every session of `user` (deleted, or its password changed).
  void EndAllOf(std::string_view user);
  std::size_t Count() const;

 private:
  struct Live {
    std::string user;
    std::chrono::steady_clock::time_point expires;
  };
  mutable std::mutex mutex_;
  mutable std::map<std::string, Live, std::less<>> live_;  // digest of the secret -> session
};

// The session cookie's value in a request's Cookie headers; empty when there is none.
std::string_view SessionCookieOf(const HttpRequest& request);
// Set-Cookie values that set and clear the session cookie. `secure`: the page came over HTTPS
// (a TLS proxy's X-Forwarded-Proto, or the page's Origin), so the cookie never goes over HTTP.
std::string SessionCookieHeader(std::string_view secret, bool secure);
std::string ClearedSessionCookieHeader(bool secure);
// Whether the request came from a page served over HTTPS.
bool CameOverHttps(const HttpRequest& request);

}  // namespace market::server
