#pragma once
// Who may do what: users with roles, API tokens (stored as digests only), and the audit log of
// every change. The SQL stores implement both interfaces (market/store.hpp opens them); hashing
// passwords and tokens is the caller's job, so the stores never see a secret.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "market/error.hpp"
#include "market/time.hpp"

namespace market {

// Ordered: each role may do everything the ones below it may.
enum class Role : int {
  kViewer = 1,     // reads
  kDeveloper = 2,  // edits projects and starts or cancels builds
  kAdmin = 3,      // deletes projects and registry tags, manages users and tokens, reads the audit
};

std::string_view ToString(Role role);
std::optional<Role> ParseRole(std::string_view text);  // "viewer", "developer", "admin"

struct User {
  std::int64_t id = 0;
  std::string name;
  Role role = Role::kViewer;
  TimePoint created_at{};
};

struct ApiToken {
  std::int64_t id = 0;
  std::string user;     // owner's name
  std::string label;    // what it is for ("ci", "laptop"); may be empty
  std::string prefix;   // the token's first characters, to recognise it in a list
  TimePoint created_at{};
  std::optional<TimePoint> revoked_at;
};

// Who made a change: the authenticated actor, and the operator an admin acted for (empty when
// the actor acted for itself).
struct AuditActor {
  std::string actor;
  std::string on_behalf_of;
  std::string request_id;
};

struct AuditEntry {
  std::int64_t id = 0;  // assigned by the log
  TimePoint time{};
  std::string actor;
  std::string on_behalf_of;
  std::string action;      // "project.save", "build.start", "token.revoke", ...
  std::string target;      // "project:web", "build:42", "registry:lib/app:1.0", "user:dave"
  std::string request_id;
  std::string before_json;  // JSON text, "null" when nothing existed; secrets already redacted
  std::string after_json;   // JSON text, "null" when nothing remains
};

struct AuditQuery {
  int page = 1;        // from 1
  int page_size = 10;  // 1..100
  std::string target;  // exact match when non-empty
  std::string actor;   // exact match (actor or on_behalf_of) when non-empty
  std::string action;  // exact match ("project.save") when non-empty
  std::optional<TimePoint> since;  // entries at or after this time
  std::optional<TimePoint> until;  // entries before this time
};

struct AuditPage {
  std::vector<AuditEntry> entries;  // newest first
  std::int64_t total_count = 0;
};

class IdentityStore {
 public:
  virtual ~IdentityStore() = default;

  // Each change is recorded in the audit log in the same transaction, as `by` at `now`.
  // kAlreadyExists when the name is taken; kInvalid for an empty name or hash.
  virtual Result<User> AddUser(std::string_view name, Role role, std::string_view password_hash,
                               const AuditActor& by, TimePoint now) = 0;
  // kNotFound when there is no such user.
  virtual Result<User> SetPassword(std::string_view name, std::string_view password_hash,
                                   const AuditActor& by, TimePoint now) = 0;
  virtual Result<User> SetRole(std::string_view name, Role role, const AuditActor& by,
                               TimePoint now) = 0;
  // Removes the user and its tokens. kNotFound when there is no such user.
  virtual Result<void> DeleteUser(std::string_view name, const AuditActor& by, TimePoint now) = 0;
  virtual Result<std::vector<User>> ListUsers() = 0;
  virtual Result<std::int64_t> CountUsers() = 0;
  // The user and its argon2id hash; nullopt when there is no such user.
  struct Credentials {
    User user;
    std::string password_hash;
  };
  virtual Result<std::optional<Credentials>> FindUser(std::string_view name) = 0;

  // `token_digest` is the hex SHA-256 of the whole token; the token itself is never stored.
  // kNotFound when the user does not exist.
  virtual Result<ApiToken> AddToken(std::string_view user, std::string_view label,
                                    std::string_view prefix, std::string_view token_digest,
                                    const AuditActor& by, TimePoint now) = 0;
  // Every token (revoked ones too), or one user's when `user` is non-empty; newest first.
  virtual Result<std::vector<ApiToken>> ListTokens(std::string_view user) = 0;
  // kNotFound for an unknown id; revoking twice is not an error (the first time is kept).
  virtual Result<ApiToken> RevokeToken(std::int64_t id, const AuditActor& by, TimePoint now) = 0;
  // The owner of a live (not revoked) token with this digest; nullopt otherwise. One indexed
  // lookup.
  virtual Result<std::optional<User>> FindByTokenDigest(std::string_view token_digest) = 0;
};
using IdentityStorePtr = std::unique_ptr<IdentityStore>;

class AuditLog {
 public:
  virtual ~AuditLog() = default;
  // Appends `entry` (its id is ignored) and returns it with its id.
  virtual Result<AuditEntry> Record(const AuditEntry& entry) = 0;
  // kInvalid for a page or page_size outside its range.
  virtual Result<AuditPage> List(const AuditQuery& query) = 0;
};
using AuditLogPtr = std::unique_ptr<AuditLog>;

}  // namespace market
