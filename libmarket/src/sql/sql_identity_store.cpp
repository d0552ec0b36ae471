// SqlIdentityStore and SqlAuditLog: users, API token digests and the audit log in SQLite or
// PostgreSQL. Every user value is a bound parameter; no secret is ever stored or logged here.

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

#include "market/identity.hpp"
#include "sql/sql_stores.hpp"

namespace market {

std::string_view ToString(Role role) {
  switch (role) {
    case Role::kViewer:
      return "viewer";
    case Role::kDeveloper:
      return "developer";
    case Role::kAdmin:
      return "admin";
  }
  return "viewer";
}

std::optional<Role> ParseRole(std::string_view text) {
  if (text == "viewer") return Role::kViewer;
  if (text == "developer") return Role::kDeveloper;
  if (text == "admin") return Role::kAdmin;
  return std::nullopt;
}

}  // namespace market

namespace market::sql {

namespace {

constexpr int kMaxAuditPageSize = 100;

std::string UserJson(const std::string& name, Role role) {
  return nlohmann::json{{"name", name}, {"role", ToString(role)}}.dump();
}

std::string TokenJson(const ApiToken& token) {
  return nlohmann::json{{"id", token.id},
                        {"user", token.user},
                        {"label", token.label},
                        {"prefix", token.prefix},
                        {"revoked", token.revoked_at.has_value()}}
      .dump();
}

// Appends one audit row on `sql` (inside the caller's transaction); returns its id.
long long InsertAudit(soci::session& sql, const AuditEntry& entry) {
  long long at = ToMs(entry.time);
  long long id = 0;
  std::string actor = entry.actor, on_behalf_of = entry.on_behalf_of, action = entry.action,
              target = entry.target, request_id = entry.request_id,
              before = entry.before_json.empty() ? "null" : entry.before_json,
              after = entry.after_json.empty() ? "null" : entry.after_json;
  sql << "INSERT INTO audit_log (at, actor, on_behalf_of, action, target, request_id, "
         "before_json, after_json) VALUES (:at, :actor, :obo, :action, :target, :rid, :before, "
         ":after) RETURNING id",
      soci::use(at), soci::use(actor), soci::use(on_behalf_of), soci::use(action),
      soci::use(target), soci::use(request_id), soci::use(before), soci::use(after),
      soci::into(id);
  return id;
}

void Audit(soci::session& sql, const AuditActor& by, TimePoint now, std::string action,
           std::string target, std::string before, std::string after) {
  AuditEntry entry;
  entry.time = now;
  entry.actor = by.actor;
  entry.on_behalf_of = by.on_behalf_of;
  entry.request_id = by.request_id;
  entry.action = std::move(action);
  entry.target = std::move(target);
  entry.before_json = std::move(before);
  entry.after_json = std::move(after);
  InsertAudit(sql, entry);
}

struct UserRow {
  long long id = 0;
  std::string name;
  std::string role;
  std::string password_hash;
  long long created_at = 0;
};

Result<User> ToUser(const UserRow& row) {
  std::optional<Role> role = ParseRole(row.role);
  if (!role) return Fail(Errc::kInternal, "stored user " + row.name + " has unknown role " + row.role);
  return User{row.id, row.name, *role, FromMs(row.created_at)};
}

std::optional<UserRow> SelectUser(soci::session& sql, std::string_view name) {
  UserRow row;
  std::string key(name);
  soci::indicator ind = soci::i_null;
  sql << "SELECT id, name, role, password_hash, created_at FROM users WHERE name = :name",
      soci::into(row.id, ind), soci::into(row.name), soci::into(row.role),
      soci::into(row.password_hash), soci::into(row.created_at), soci::use(key);
  if (ind != soci::i_ok) return std::nullopt;
  return row;
}

struct TokenRow {
  long long id = 0;
  std::string user;
  std::string label;
  std::string prefix;
  long long created_at = 0;
  long long revoked_at = 0;
  soci::indicator revoked_ind = soci::i_null;
};

constexpr const char* kTokenSelect =
    "SELECT t.id, u.name, t.label, t.prefix, t.created_at, t.revoked_at FROM api_tokens t "
    "JOIN users u ON u.id = t.user_id ";

void IntoToken(soci::statement& st, TokenRow& row) {
  st.exchange(soci::into(row.id));
  st.exchange(soci::into(row.user));
  st.exchange(soci::into(row.label));
  st.exchange(soci::into(row.prefix));
  st.exchange(soci::into(row.created_at));
  st.exchange(soci::into(row.revoked_at, row.revoked_ind));
}

ApiToken ToToken(const TokenRow& row) {
  ApiToken token;
  token.id = row.id;
  token.user = row.user;
  token.label = row.label;
  token.prefix = row.prefix;
  token.created_at = FromMs(row.created_at);
  if (row.revoked_ind == soci::i_ok) token.revoked_at = FromMs(row.revoked_at);
  return token;
}

std::optional<ApiToken> SelectToken(soci::session& sql, long long id) {
  TokenRow row;
  long long key = id;
  soci::statement st(sql);
  IntoToken(st, row);
  st.exchange(soci::use(key));
  st.alloc();
  st.prepare(std::string(kTokenSelect) + "WHERE t.id = :id");
  st.define_and_bind();
  if (!st.execute(true)) return std::nullopt;
  return ToToken(row);
}

std::string NoSuchUser(std::string_view name) { return "no such user: " + std::string(name); }

}  // namespace

Result<User> SqlIdentityStore::AddUser(std::string_view name, Role role,
                                       std::string_view password_hash, const AuditActor& by,
                                       TimePoint now) {
  if (name.empty()) return Fail(Errc::kInvalid, "user name is empty");
  if (password_hash.empty()) return Fail(Errc::kInvalid, "password hash is empty");
  return pool_->Run("user add", [&](soci::session& sql) -> Result<User> {
    Transaction tx(sql, *pool_, Transaction::Kind::kWrite);
    std::string user(name), role_text(ToString(role)), hash(password_hash);
    long long created = ToMs(now);
    long long id = 0;
    try {
      sql << "INSERT INTO users (name, role, password_hash, created_at) "
             "VALUES (:name, :role, :hash, :created) RETURNING id",
          soci::use(user), soci::use(role_text), soci::use(hash), soci::use(created),
          soci::into(id);
    } catch (const soci::soci_error& e) {
      if (IsUniqueViolation(e)) return Fail(Errc::kAlreadyExists, "user already exists: " + user);
      throw;
    }
    Audit(sql, by, now, "user.add", "user:" + user, "null", UserJson(user, role));
    tx.Commit();
    return User{id, user, role, now};
  });
}

Result<User> SqlIdentityStore::SetPassword(std::string_view name, std::string_view password_hash,
                                           const AuditActor& by, TimePoint now) {
  if (password_hash.empty()) return Fail(Errc::kInvalid, "password hash is empty");
  return pool_->Run("user password", [&](soci::session& sql) -> Result<User> {
    Transaction tx(sql, *pool_, Transaction::Kind::kWrite);
    std::optional<UserRow> row = SelectUser(sql, name);
    if (!row) return Fail(Errc::kNotFound, NoSuchUser(name));
    std::string hash(password_hash);
    sql << "UPDATE users SET password_hash = :hash WHERE id = :id", soci::use(hash),
        soci::use(row->id);
    Result<User> user = ToUser(*row);
    if (!user) return user;
    // The hash itself is a secret's derivative: the audit says only that it changed.
    std::string state = UserJson(user->name, user->role);
    Audit(sql, by, now, "user.password", "user:" + user->name, state, state);
    tx.Commit();
    return user;
  });
}

Result<User> SqlIdentityStore::SetRole(std::string_view name, Role role, const AuditActor& by,
                                       TimePoint now) {
  return pool_->Run("user role", [&](soci::session& sql) -> Result<User> {
    Transaction tx(sql, *pool_, Transaction::Kind::kWrite);
    std::optional<UserRow> row = SelectUser(sql, name);
    if (!row) return Fail(Errc::kNotFound, NoSuchUser(name));
    Result<User> user = ToUser(*row);
    if (!user) return user;
    std::string role_text(ToString(role));
    sql << "UPDATE users SET role = :role WHERE id = :id", soci::use(role_text),
        soci::use(row->id);
    Audit(sql, by, now, "user.role", "user:" + user->name, UserJson(user->name, user->role),
          UserJson(user->name, role));
    user->role = role;
    tx.Commit();
    return user;
  });
}

Result<void> SqlIdentityStore::DeleteUser(std::string_view name, const AuditActor& by,
                                          TimePoint now) {
  return pool_->Run("user delete", [&](soci::session& sql) -> Result<void> {
    Transaction tx(sql, *pool_, Transaction::Kind::kWrite);
    std::optional<UserRow> row = SelectUser(sql, name);
    if (!row) return Fail(Errc::kNotFound, NoSuchUser(name));
    Result<User> user = ToUser(*row);
    if (!user) return std::unexpected(user.error());
    long long tokens = 0;
    sql << "SELECT COUNT(*) FROM api_tokens WHERE user_id = :id", soci::use(row->id),
        soci::into(tokens);
    // Explicit rather than trusting ON DELETE CASCADE alone: a SQLite session opened without
    // foreign_keys (an old tool) would otherwise leave live tokens of a deleted user.
    sql << "DELETE FROM api_tokens WHERE user_id = :id", soci::use(row->id);
    sql << "DELETE FROM users WHERE id = :id", soci::use(row->id);
    nlohmann::json before = nlohmann::json::parse(UserJson(user->name, user->role));
    before["tokens"] = tokens;
    Audit(sql, by, now, "user.delete", "user:" + user->name, before.dump(), "null");
    tx.Commit();
    return {};
  });
}

Result<std::vector<User>> SqlIdentityStore::ListUsers() {
  return pool_->Run("user list", [&](soci::session& sql) -> Result<std::vector<User>> {
    UserRow row;
    soci::statement st = (sql.prepare << "SELECT id, name, role, password_hash, created_at "
                                         "FROM users ORDER BY name",
                          soci::into(row.id), soci::into(row.name), soci::into(row.role),
                          soci::into(row.password_hash), soci::into(row.created_at));
    st.execute();
    std::vector<User> users;
    while (st.fetch()) {
      Result<User> user = ToUser(row);
      if (!user) return std::unexpected(user.error());
      users.push_back(std::move(*user));
    }
    return users;
  });
}

Result<std::int64_t> SqlIdentityStore::CountUsers() {
  return pool_->Run("user count", [&](soci::session& sql) -> Result<std::int64_t> {
    long long n = 0;
    sql << "SELECT COUNT(*) FROM users", soci::into(n);
    return n;
  });
}

Result<std::optional<IdentityStore::Credentials>> SqlIdentityStore::FindUser(
    std::string_view name) {
  return pool_->Run("user find",
                    [&](soci::session& sql) -> Result<std::optional<Credentials>> {
                      std::optional<UserRow> row = SelectUser(sql, name);
                      if (!row) return std::optional<Credentials>{};
                      Result<User> user = ToUser(*row);
                      if (!user) return std::unexpected(user.error());
                      return Credentials{std::move(*user), row->password_hash};
                    });
}

Result<ApiToken> SqlIdentityStore::AddToken(std::string_view user, std::string_view label,
                                            std::string_view prefix,
                                            std::string_view token_digest, const AuditActor& by,
                                            TimePoint now) {
  if (token_digest.empty()) return Fail(Errc::kInvalid, "token digest is empty");
  return pool_->Run("token add", [&](soci::session& sql) -> Result<ApiToken> {
    Transaction tx(sql, *pool_, Transaction::Kind::kWrite);
    std::optional<UserRow> row = SelectUser(sql, user);
    if (!row) return Fail(Errc::kNotFound, NoSuchUser(user));
    std::string label_text(label), prefix_text(prefix), digest(token_digest);
    long long created = ToMs(now);
    long long id = 0;
    sql << "INSERT INTO api_tokens (user_id, label, prefix, digest, created_at) "
           "VALUES (:uid, :label, :prefix, :digest, :created) RETURNING id",
        soci::use(row->id), soci::use(label_text), soci::use(prefix_text), soci::use(digest),
        soci::use(created), soci::into(id);
    ApiToken token;
    token.id = id;
    token.user = row->name;
    token.label = label_text;
    token.prefix = prefix_text;
    token.created_at = now;
    Audit(sql, by, now, "token.create", "user:" + row->name, "null", TokenJson(token));
    tx.Commit();
    return token;
  });
}

Result<std::vector<ApiToken>> SqlIdentityStore::ListTokens(std::string_view user) {
  return pool_->Run("token list", [&](soci::session& sql) -> Result<std::vector<ApiToken>> {
    TokenRow row;
    std::string name(user);
    soci::statement st(sql);
    IntoToken(st, row);
    std::string text = kTokenSelect;
    if (!name.empty()) {
      st.exchange(soci::use(name));
      text += "WHERE u.name = :name ";
    }
    text += "ORDER BY t.id DESC";
    st.alloc();
    st.prepare(text);
    st.define_and_bind();
    std::vector<ApiToken> tokens;
    if (st.execute(true)) {
      do {
        tokens.push_back(ToToken(row));
        row.revoked_ind = soci::i_null;
      } while (st.fetch());
    }
    return tokens;
  });
}

Result<ApiToken> SqlIdentityStore::RevokeToken(std::int64_t id, const AuditActor& by,
                                               TimePoint now) {
  return pool_->Run("token revoke", [&](soci::session& sql) -> Result<ApiToken> {
    Transaction tx(sql, *pool_, Transaction::Kind::kWrite);
    std::optional<ApiToken> token = SelectToken(sql, id);
    if (!token) return Fail(Errc::kNotFound, "no such token: " + std::to_string(id));
    if (token->revoked_at) return *token;
    long long key = id;
    long long at = ToMs(now);
    sql << "UPDATE api_tokens SET revoked_at = :at WHERE id = :id", soci::use(at),
        soci::use(key);
    std::string before = TokenJson(*token);
    token->revoked_at = now;
    Audit(sql, by, now, "token.revoke", "user:" + token->user, before, TokenJson(*token));
    tx.Commit();
    return *token;
  });
}

Result<std::optional<User>> SqlIdentityStore::FindByTokenDigest(std::string_view token_digest) {
  return pool_->Run("token find", [&](soci::session& sql) -> Result<std::optional<User>> {
    UserRow row;
    std::string digest(token_digest);
    soci::indicator ind = soci::i_null;
    sql << "SELECT u.id, u.name, u.role, u.password_hash, u.created_at FROM api_tokens t "
           "JOIN users u ON u.id = t.user_id WHERE t.digest = :digest AND t.revoked_at IS NULL",
        soci::into(row.id, ind), soci::into(row.name), soci::into(row.role),
        soci::into(row.password_hash), soci::into(row.created_at), soci::use(digest);
    if (ind != soci::i_ok) return std::optional<User>{};
    Result<User> user = ToUser(row);
    if (!user) return std::unexpected(user.error());
    return std::optional<User>(std::move(*user));
  });
}

Result<AuditEntry> SqlAuditLog::Record(const AuditEntry& entry) {
  return pool_->Run("audit record", [&](soci::session& sql) -> Result<AuditEntry> {
    Transaction tx(sql, *pool_, Transaction::Kind::kWrite);
    long long id = InsertAudit(sql, entry);
    tx.Commit();
    AuditEntry out = entry;
    out.id = id;
    if (out.before_json.empty()) out.before_json = "null";
    if (out.after_json.empty()) out.after_json = "null";
    return out;
  });
}

Result<AuditPage> SqlAuditLog::List(const AuditQuery& query) {
  if (query.page < 1) return Fail(Errc::kInvalid, "page must be 1 or more");
  if (query.page_size < 1 || query.page_size > kMaxAuditPageSize) {
    return Fail(Errc::kInvalid, "page_size must be 1.." + std::to_string(kMaxAuditPageSize));
  }
  return pool_->Run("audit list", [&](soci::session& sql) -> Result<AuditPage> {
    // One fixed condition per filter, each with its own bind names.
    std::string where = " WHERE 1 = 1";
    std::string target = query.target, actor = query.actor, action = query.action;
    long long since = query.since ? ToMs(*query.since) : 0;
    long long until = query.until ? ToMs(*query.until) : 0;
    if (!target.empty()) where += " AND target = :target";
    if (!actor.empty()) where += " AND (actor = :actor OR on_behalf_of = :actor2)";
    if (!action.empty()) where += " AND action = :action";
    if (query.since) where += " AND at >= :since";
    if (query.until) where += " AND at < :until";
    auto bind = [&](soci::statement& st) {
      if (!target.empty()) st.exchange(soci::use(target));
      if (!actor.empty()) {
        st.exchange(soci::use(actor));
        st.exchange(soci::use(actor));
      }
      if (!action.empty()) st.exchange(soci::use(action));
      if (query.since) st.exchange(soci::use(since));
      if (query.until) st.exchange(soci::use(until));
    };
    AuditPage page;
    {
      long long total = 0;
      soci::statement st(sql);
      st.exchange(soci::into(total));
      bind(st);
      st.alloc();
      st.prepare("SELECT COUNT(*) FROM audit_log" + where);
      st.define_and_bind();
      st.execute(true);
      page.total_count = total;
    }
    AuditEntry row;
    long long id = 0, at = 0;
    long long limit = query.page_size;
    long long offset = static_cast<long long>(query.page - 1) * query.page_size;
    soci::statement st(sql);
    st.exchange(soci::into(id));
    st.exchange(soci::into(at));
    st.exchange(soci::into(row.actor));
    st.exchange(soci::into(row.on_behalf_of));
    st.exchange(soci::into(row.action));
    st.exchange(soci::into(row.target));
    st.exchange(soci::into(row.request_id));
    st.exchange(soci::into(row.before_json));
    st.exchange(soci::into(row.after_json));
    bind(st);
    st.exchange(soci::use(limit));
    st.exchange(soci::use(offset));
    st.alloc();
    st.prepare(
        "SELECT id, at, actor, on_behalf_of, action, target, request_id, before_json, "
        "after_json FROM audit_log" +
        where + " ORDER BY id DESC LIMIT :lim OFFSET :off");
    st.define_and_bind();
    if (st.execute(true)) {
      do {
        row.id = id;
        row.time = FromMs(at);
        page.entries.push_back(row);
      } while (st.fetch());
    }
    return page;
  });
}

}  // namespace market::sql
