// SqlImmutabilityStore: immutability rules in SQLite or PostgreSQL. Every user value is a bound
// parameter.

#include <string>
#include <vector>

#include "market/immutability.hpp"
#include "market/time.hpp"
#include "sql/sql_stores.hpp"

namespace market::sql {

namespace {

std::string NotFound(std::int64_t id) {
  return "immutability rule not found: " + std::to_string(id);
}

constexpr const char* kRuleColumns =
    "id, repository, tag_pattern, enabled, description, creator, created_at, updated_at";

// One immutability_rules row as SOCI binds it; the order of Bind matches kRuleColumns.
struct RuleRow {
  long long id = 0;
  std::string repository;
  std::string tag_pattern;
  int enabled = 0;
  std::string description;
  std::string creator;
  long long created_at = 0;
  long long updated_at = 0;

  void Bind(soci::statement& st) {
    st.exchange(soci::into(id));
    st.exchange(soci::into(repository));
    st.exchange(soci::into(tag_pattern));
    st.exchange(soci::into(enabled));
    st.exchange(soci::into(description));
    st.exchange(soci::into(creator));
    st.exchange(soci::into(created_at));
    st.exchange(soci::into(updated_at));
  }

  ImmutabilityRule ToRule() const {
    ImmutabilityRule rule;
    rule.id = id;
    rule.repository = repository;
    rule.tag_pattern = tag_pattern;
    rule.enabled = enabled != 0;
    rule.description = description;
    rule.creator = creator;
    rule.created_at = FromMs(created_at);
    rule.updated_at = FromMs(updated_at);
    return rule;
  }
};

// The rules whose id is at least `from` (0: every rule), by id.
std::vector<ImmutabilityRule> SelectFrom(soci::session& sql, long long from, bool only_one) {
  RuleRow row;
  soci::statement st(sql);
  row.Bind(st);
  st.exchange(soci::use(from, "from"));
  st.alloc();
  st.prepare(std::string("SELECT ") + kRuleColumns + " FROM immutability_rules WHERE " +
             (only_one ? "id = :from" : "id >= :from") + " ORDER BY id");
  st.define_and_bind();
  st.execute(false);
  std::vector<ImmutabilityRule> rules;
  while (st.fetch()) rules.push_back(row.ToRule());
  return rules;
}

Result<ImmutabilityRule> GetOn(soci::session& sql, std::int64_t id) {
  auto rules = SelectFrom(sql, id, /*only_one=*/true);
  if (rules.empty()) return Fail(Errc::kNotFound, NotFound(id));
  return rules.front();
}

}  // namespace

Result<ImmutabilityRule> SqlImmutabilityStore::Create(const ImmutabilityRule& rule) {
  return pool_->Run("immutability rule create",
                    [&](soci::session& sql) -> Result<ImmutabilityRule> {
    Transaction tx(sql, *pool_, Transaction::Kind::kWrite);
    std::string repository = rule.repository, pattern = rule.tag_pattern,
                description = SanitizeUtf8(rule.description), creator = rule.creator;
    int enabled = rule.enabled ? 1 : 0;
    long long now = ToMs(SystemClock().Now());
    long long id = 0;
    sql << "INSERT INTO immutability_rules (repository, tag_pattern, enabled, description, "
           "creator, created_at, updated_at) VALUES (:repository, :pattern, :enabled, "
           ":description, :creator, :created, :updated) RETURNING id",
        soci::use(repository), soci::use(pattern), soci::use(enabled), soci::use(description),
        soci::use(creator), soci::use(now), soci::use(now), soci::into(id);
    auto stored = GetOn(sql, id);
    if (!stored) return stored;
    tx.Commit();
    return stored;
  });
}

Result<ImmutabilityRule> SqlImmutabilityStore::Update(const ImmutabilityRule& rule) {
  return pool_->Run("immutability rule update",
                    [&](soci::session& sql) -> Result<ImmutabilityRule> {
    Transaction tx(sql, *pool_, Transaction::Kind::kWrite);
    long long key = rule.id;
    std::string repository = rule.repository, pattern = rule.tag_pattern,
                description = SanitizeUtf8(rule.description);
    int enabled = rule.enabled ? 1 : 0;
    long long now = ToMs(SystemClock().Now());
    long long n = Execute(sql,
                          "UPDATE immutability_rules SET repository = :repository, "
                          "tag_pattern = :pattern, enabled = :enabled, "
                          "description = :description, updated_at = :updated WHERE id = :id",
                          soci::use(repository, "repository"), soci::use(pattern, "pattern"),
                          soci::use(enabled, "enabled"), soci::use(description, "description"),
                          soci::use(now, "updated"), soci::use(key, "id"));
    if (n != 1) return Fail(Errc::kNotFound, NotFound(rule.id));
    auto stored = GetOn(sql, rule.id);
    if (!stored) return stored;
    tx.Commit();
    return stored;
  });
}

Result<void> SqlImmutabilityStore::Delete(std::int64_t id) {
  return pool_->Run("immutability rule delete", [&](soci::session& sql) -> Result<void> {
    long long key = id;
    long long n =
        Execute(sql, "DELETE FROM immutability_rules WHERE id = :id", soci::use(key, "id"));
    if (n != 1) return Fail(Errc::kNotFound, NotFound(id));
    return {};
  });
}

Result<ImmutabilityRule> SqlImmutabilityStore::Get(std::int64_t id) {
  return pool_->Run("immutability rule get", [&](soci::session& sql) -> Result<ImmutabilityRule> {
    return GetOn(sql, id);
  });
}

Result<std::vector<ImmutabilityRule>> SqlImmutabilityStore::List() {
  using Rules = std::vector<ImmutabilityRule>;
  return pool_->Run("immutability rule list", [&](soci::session& sql) -> Result<Rules> {
    return SelectFrom(sql, 0, /*only_one=*/false);
  });
}

}  // namespace market::sql
