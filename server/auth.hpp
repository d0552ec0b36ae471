#pragma once
// Authentication: HTTP Basic for people (users in the database, argon2id hashes; optionally
// also a users file of `user:HASH[:role]` lines), `Authorization: Bearer` API tokens (stored
// as SHA-256 digests) and the console's session cookie (browser_sessions.hpp). Also the
// helpers that make password hashes and tokens.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "browser_sessions.hpp"
#include "http_types.hpp"
#include "market/error.hpp"
#include "market/identity.hpp"

namespace market::server {

// Who a request comes from once its credentials are verified.
struct Principal {
  std::string name;
  Role role = Role::kViewer;
};

class Authenticator {
 public:
  // Verified credentials are remembered this long, so argon2id (tens of milliseconds) and the
  // token lookup are not paid on every request. It bounds how long a token revoked, a user
  // deleted, or a role changed by another process (`market-server user|token`, another server
  // instance) keeps working here: entries expire, nothing else invalidates them across
  // processes. A change made inside this process should call Forget() to apply at once.
  static constexpr std::chrono::seconds kDefaultCacheTtl{10};

  // `store` may be null only when `users_file` is given. kInvalid naming the file and line for a
  // malformed users file. `max_verifications`: password verifications (64 MiB of argon2id
  // each) admitted at once by Reserve.
  static Result<std::unique_ptr<Authenticator>> Create(
      IdentityStore* store, const std::string& users_file,
      std::chrono::seconds cache_ttl = kDefaultCacheTtl, int max_verifications = 2);

  // One password verification admitted by Reserve; Verify releases its place.
  struct Pending;
  using Ticket = std::shared_ptr<Pending>;
  // Admits the verification of a `Basic ...` header: a ticket, or null when `max_verifications`
  // other credentials are being verified right now (the caller refuses at once instead of
  // queueing argon2id). A header already being verified joins that verification and takes no
  // new place, so a page's parallel requests with one sign-in never refuse each other. Cheap:
  // made for an I/O thread. A ticket must be passed to Verify, which releases it.
  Ticket Reserve(std::string_view authorization) const;

  // The principal of valid credentials (RequestCredentials: `Basic ...`, `Bearer ...` or
  // `Session ...`); kUnauthorized otherwise. A session's role is the user's current one.
  // May run argon2id or a database query: call it on the blocking pool only. With a ticket
  // from Reserve, requests sharing it share one verification and its answer. An unknown user
  // name costs the same argon2id as a known one (a hash made at start-up), so neither the
  // answer nor its time tells whether the name exists.
  Result<Principal> Verify(std::string_view authorization, const Ticket& ticket = nullptr) const;
  // The principal of `authorization` when it was verified within the cache's lifetime; nullopt
  // otherwise (then Verify). Cheap: safe on an I/O thread.
  std::optional<Principal> Remembered(std::string_view authorization) const;
  // Drops every remembered credential (after a user, role or token change).
  void Forget() const;
  // Drops one remembered credential (a session signed out).
  void Forget(std::string_view credentials) const;
  // The console's sessions, verified here as `Session <secret>`.
  BrowserSessions& Sessions() const { return sessions_; }
  // Password hashes checked so far (argon2id runs, the unknown users' included).
  std::uint64_t PasswordVerifications() const { return password_verifications_.load(); }

 private:
  Authenticator() = default;
  Result<Principal> VerifyOnce(std::string_view authorization, const std::string& digest) const;
  Result<Principal> VerifyBasic(std::string_view encoded) const;
  bool CheckPassword(const std::string& hash, std::string_view password) const;
  Result<Principal> VerifyBearer(std::string_view token) const;
  Result<Principal> VerifySession(std::string_view secret) const;
  std::optional<Principal> Lookup(const std::string& digest) const;

  struct FileUser {
    std::string hash;
    Role role = Role::kAdmin;
  };
  IdentityStore* store_ = nullptr;
  std::map<std::string, FileUser, std::less<>> file_users_;
  std::chrono::seconds cache_ttl_{kDefaultCacheTtl};
  std::size_t max_verifications_ = 2;
  std::string dummy_hash_;  // checked for unknown names: they cost what a known name costs
  mutable std::atomic<std::uint64_t> password_verifications_{0};
  mutable BrowserSessions sessions_;

  struct Cached {
    Principal principal;
    std::chrono::steady_clock::time_point expires;
  };
  mutable std::mutex mutex_;
  mutable std::map<std::string, Cached> verified_;  // header digest -> principal
  mutable std::map<std::string, Ticket> in_flight_;  // header digest -> its verification
  mutable std::condition_variable verified_cv_;      // a verification in flight finished
};

// The credentials a request carries: its Authorization header; without one, `Session <secret>`
// for the console's session cookie; empty when it has neither.
std::string RequestCredentials(const HttpRequest& request);
inline constexpr std::string_view kSessionScheme = "Session ";

// The user name of a `Basic ...` header; nullopt for another scheme or a malformed one.
std::optional<std::string> BasicUserName(std::string_view authorization);

// An argon2id hash (libsodium's crypto_pwhash_str) of `password`.
Result<std::string> HashPassword(std::string_view password);

// API tokens look like `mkt_` + 43 base64url characters (32 random bytes): the prefix makes a
// leaked token easy to recognise (and to scan for); only the digest is stored.
inline constexpr std::string_view kTokenPrefix = "mkt_";
struct NewToken {
  std::string secret;  // shown once to the user, never stored or logged
  std::string prefix;  // the first characters, stored to tell tokens apart in lists
  std::string digest;  // hex SHA-256 of `secret`
};
Result<NewToken> GenerateToken();
// `prefix` and 43 base64url characters of 32 random bytes: a token's or a session's secret.
Result<std::string> RandomSecret(std::string_view prefix);

}  // namespace market::server
