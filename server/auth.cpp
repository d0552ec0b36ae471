#include "auth.hpp"

#include <algorithm>
#include <fstream>

#include <fmt/format.h>
#include <sodium.h>

#include "base64.hpp"
#include "sha256.hpp"

namespace market::server {

namespace {

constexpr std::size_t kMaxCachedHeaders = 4096;

// A keyed digest would add nothing: the cache lives in this process only.
std::string HeaderDigest(std::string_view header) {
  unsigned char digest[crypto_generichash_BYTES];
  crypto_generichash(digest, sizeof digest, reinterpret_cast<const unsigned char*>(header.data()),
                     header.size(), nullptr, 0);
  return std::string(reinterpret_cast<const char*>(digest), sizeof digest);
}

Result<void> ParseUsersFile(const std::string& path,
                            std::map<std::string, std::string, std::less<>>& hashes,
                            std::map<std::string, Role, std::less<>>& roles) {
  std::ifstream in(path);
  if (!in) return Fail(Errc::kInvalid, fmt::format("auth-users-file {} cannot be read", path));
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.front() == '#') continue;
    auto bad = [&] {
      return Fail(Errc::kInvalid,
                  fmt::format("auth-users-file {} line {}: expected user:$argon2id$...[:role] "
                              "(make the hash with market-server --hash-password; role is "
                              "viewer, developer or admin)",
                              path, number));
    };
    std::size_t colon = line.find(':');
    if (colon == 0 || colon == std::string::npos) return bad();
    std::string rest = line.substr(colon + 1);
    // argon2 hashes never contain ':', so a third field is unambiguous.
    std::size_t second = rest.find(':');
    std::string hash = rest.substr(0, second);
    Role role = Role::kAdmin;
    if (second != std::string::npos) {
      std::optional<Role> parsed = ParseRole(rest.substr(second + 1));
      if (!parsed) return bad();
      role = *parsed;
    }
    if (!hash.starts_with("$argon2")) return bad();
    hashes[line.substr(0, colon)] = hash;
    roles[line.substr(0, colon)] = role;
  }
  if (hashes.empty()) {
    return Fail(Errc::kInvalid, fmt::format("auth-users-file {} has no users", path));
  }
  return {};
}

}  // namespace

struct Authenticator::Pending {
  std::string digest;    // of the header, the key in in_flight_
  bool started = false;  // a thread is verifying; others with this ticket wait for it
  std::optional<Result<Principal>> result;
};

Result<std::unique_ptr<Authenticator>> Authenticator::Create(IdentityStore* store,
                                                             const std::string& users_file,
                                                             std::chrono::seconds cache_ttl,
                                                             int max_verifications) {
  if (sodium_init() < 0) return Fail(Errc::kInternal, "libsodium cannot be initialised");
  if (store == nullptr && users_file.empty()) {
    return Fail(Errc::kInvalid, "authentication needs a user database or a users file");
  }
  std::unique_ptr<Authenticator> auth(new Authenticator());
  auth->store_ = store;
  auth->cache_ttl_ = cache_ttl;
  auth->max_verifications_ = static_cast<std::size_t>(std::max(1, max_verifications));
  // A random password nobody knows, hashed with the parameters of every stored hash.
  unsigned char random[32];
  randombytes_buf(random, sizeof random);
  Result<std::string> dummy =
      HashPassword(std::string_view(reinterpret_cast<const char*>(random), sizeof random));
  sodium_memzero(random, sizeof random);
  if (!dummy) return std::unexpected(dummy.error());
  auth->dummy_hash_ = std::move(*dummy);
  if (!users_file.empty()) {
    std::map<std::string, std::string, std::less<>> hashes;
    std::map<std::string, Role, std::less<>> roles;
    MARKET_RETURN_IF_ERROR(ParseUsersFile(users_file, hashes, roles));
    for (auto& [name, hash] : hashes) auth->file_users_[name] = FileUser{hash, roles[name]};
  }
  return auth;
}

Authenticator::Ticket Authenticator::Reserve(std::string_view authorization) const {
  std::string digest = HeaderDigest(authorization);
  std::lock_guard lock(mutex_);
  if (auto it = in_flight_.find(digest); it != in_flight_.end()) return it->second;
  if (in_flight_.size() >= max_verifications_) return nullptr;
  auto ticket = std::make_shared<Pending>();
  ticket->digest = digest;
  in_flight_.emplace(std::move(digest), ticket);
  return ticket;
}

Result<Principal> Authenticator::Verify(std::string_view authorization,
                                        const Ticket& ticket) const {
  std::string digest = HeaderDigest(authorization);
  if (!ticket) return VerifyOnce(authorization, digest);
  {
    std::unique_lock lock(mutex_);
    if (ticket->started) {
      verified_cv_.wait(lock, [&] { return ticket->result.has_value(); });
      return *ticket->result;
    }
    ticket->started = true;
  }
  Result<Principal> principal = VerifyOnce(authorization, digest);
  {
    std::lock_guard lock(mutex_);
    ticket->result = principal;
    if (auto it = in_flight_.find(ticket->digest); it != in_flight_.end() && it->second == ticket) {
      in_flight_.erase(it);
    }
  }
  verified_cv_.notify_all();
  return principal;
}

Result<Principal> Authenticator::VerifyOnce(std::string_view authorization,
                                            const std::string& digest) const {
  constexpr std::string_view kBasic = "Basic ";
  constexpr std::string_view kBearer = "Bearer ";
  bool basic = authorization.starts_with(kBasic);
  bool bearer = authorization.starts_with(kBearer);
  bool session = authorization.starts_with(kSessionScheme);
  if (!basic && !bearer && !session) {
    return Fail(Errc::kUnauthorized,
                "authentication required (sign in, HTTP Basic, or Authorization: Bearer TOKEN)");
  }
  if (std::optional<Principal> remembered = Lookup(digest)) return *remembered;
  auto now = std::chrono::steady_clock::now();
  Result<Principal> principal =
      basic    ? VerifyBasic(authorization.substr(kBasic.size()))
      : bearer ? VerifyBearer(authorization.substr(kBearer.size()))
               : VerifySession(authorization.substr(kSessionScheme.size()));
  if (!principal) return principal;
  std::lock_guard lock(mutex_);
  if (verified_.size() >= kMaxCachedHeaders) {
    std::erase_if(verified_, [&](const auto& entry) { return entry.second.expires <= now; });
    if (verified_.size() >= kMaxCachedHeaders) verified_.clear();
  }
  verified_[digest] = Cached{*principal, now + cache_ttl_};
  return principal;
}

std::optional<Principal> Authenticator::Remembered(std::string_view authorization) const {
  return Lookup(HeaderDigest(authorization));
}

std::optional<Principal> Authenticator::Lookup(const std::string& digest) const {
  std::lock_guard lock(mutex_);
  auto it = verified_.find(digest);
  if (it == verified_.end()) return std::nullopt;
  if (it->second.expires > std::chrono::steady_clock::now()) return it->second.principal;
  verified_.erase(it);
  return std::nullopt;
}

void Authenticator::Forget() const {
  std::lock_guard lock(mutex_);
  verified_.clear();
}

void Authenticator::Forget(std::string_view credentials) const {
  std::string digest = HeaderDigest(credentials);
  std::lock_guard lock(mutex_);
  verified_.erase(digest);
}

Result<Principal> Authenticator::VerifyBasic(std::string_view encoded) const {
  std::optional<std::string> maybe_decoded = Base64Decode(encoded);
  if (!maybe_decoded) return Fail(Errc::kUnauthorized, "malformed Basic credentials");
  std::string decoded = std::move(*maybe_decoded);
  std::size_t colon = decoded.find(':');
  if (colon == std::string::npos) {
    sodium_memzero(decoded.data(), decoded.size());
    return Fail(Errc::kUnauthorized, "malformed Basic credentials");
  }
  std::string user = decoded.substr(0, colon);
  std::string password = decoded.substr(colon + 1);
  sodium_memzero(decoded.data(), decoded.size());

  // The database first; the users file is the fallback for a name the database lacks.
  std::string hash;
  std::optional<Principal> principal;
  if (store_ != nullptr) {
    auto found = store_->FindUser(user);
    if (!found) {
      sodium_memzero(password.data(), password.size());
      return std::unexpected(found.error());  // kUnavailable: a 503, not a wrong password
    }
    if (*found) {
      hash = (*found)->password_hash;
      principal = Principal{(*found)->user.name, (*found)->user.role};
    }
  }
  if (!principal) {
    if (auto it = file_users_.find(user); it != file_users_.end()) {
      hash = it->second.hash;
      principal = Principal{user, it->second.role};
    }
  }
  // An unknown name is checked against the dummy hash: the same work, and always wrong.
  bool matches = CheckPassword(principal ? hash : dummy_hash_, password);
  bool ok = principal.has_value() && matches;
  sodium_memzero(password.data(), password.size());
  if (!ok) return Fail(Errc::kUnauthorized, "wrong user name or password");
  return *principal;
}

bool Authenticator::CheckPassword(const std::string& hash, std::string_view password) const {
  password_verifications_.fetch_add(1, std::memory_order_relaxed);
  return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
}

Result<Principal> Authenticator::VerifyBearer(std::string_view token) const {
  if (!token.starts_with(kTokenPrefix) || store_ == nullptr) {
    return Fail(Errc::kUnauthorized, "unknown or revoked token");
  }
  MARKET_ASSIGN_OR_RETURN(auto found, store_->FindByTokenDigest(Sha256Hex(token)));
  if (!found) return Fail(Errc::kUnauthorized, "unknown or revoked token");
  return Principal{found->name, found->role};
}

// The session's user with the role it has now: a role changed or a user deleted applies to
// its sessions as soon as the cache forgets them.
Result<Principal> Authenticator::VerifySession(std::string_view secret) const {
  std::optional<std::string> user = sessions_.UserOf(secret);
  if (!user) return Fail(Errc::kUnauthorized, "the sign-in has ended; sign in again");
  if (store_ != nullptr) {
    MARKET_ASSIGN_OR_RETURN(auto found, store_->FindUser(*user));
    if (found) return Principal{found->user.name, found->user.role};
  }
  if (auto it = file_users_.find(*user); it != file_users_.end()) {
    return Principal{*user, it->second.role};
  }
  sessions_.EndAllOf(*user);
  return Fail(Errc::kUnauthorized, "the sign-in has ended; sign in again");
}

std::string RequestCredentials(const HttpRequest& request) {
  std::string_view authorization = HeaderValue(request, http::field::authorization);
  if (!authorization.empty()) return std::string(authorization);
  std::string_view session = SessionCookieOf(request);
  if (session.empty()) return {};
  return std::string(kSessionScheme) + std::string(session);
}

std::optional<std::string> BasicUserName(std::string_view authorization) {
  constexpr std::string_view kBasic = "Basic ";
  if (!authorization.starts_with(kBasic)) return std::nullopt;
  std::string_view encoded = authorization.substr(kBasic.size());
  std::optional<std::string> decoded = Base64Decode(encoded);
  if (!decoded) return std::nullopt;
  std::size_t colon = decoded->find(':');
  std::optional<std::string> user;
  if (colon != std::string::npos) user = decoded->substr(0, colon);
  sodium_memzero(decoded->data(), decoded->size());
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

Result<std::string> RandomSecret(std::string_view prefix) {
  if (sodium_init() < 0) return Fail(Errc::kInternal, "libsodium cannot be initialised");
  unsigned char random[32];
  randombytes_buf(random, sizeof random);
  char encoded[sodium_base64_ENCODED_LEN(sizeof random,
                                         sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
  sodium_bin2base64(encoded, sizeof encoded, random, sizeof random,
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  sodium_memzero(random, sizeof random);
  std::string secret = std::string(prefix) + encoded;
  sodium_memzero(encoded, sizeof encoded);
  return secret;
}

Result<NewToken> GenerateToken() {
  NewToken token;
  MARKET_ASSIGN_OR_RETURN(token.secret, RandomSecret(kTokenPrefix));
  token.prefix = token.secret.substr(0, kTokenPrefix.size() + 6);
  token.digest = Sha256Hex(token.secret);
  return token;
}

}  // namespace market::server
