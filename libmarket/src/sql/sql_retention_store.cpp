// SqlRetentionStore: tag retention rule sets and runs in SQLite or PostgreSQL. Every user value
// is a bound parameter; a rule set's rules and a run's results are JSON text.

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "market/retention_store.hpp"
#include "market/time.hpp"
#include "sql/sql_stores.hpp"

namespace market::sql {

namespace {

using nlohmann::json;

std::string SetNotFound(std::int64_t id) {
  return "retention rule set not found: " + std::to_string(id);
}

std::string NameTaken(std::string_view cluster, std::string_view name) {
  return "cluster " + std::string(cluster) + " has a retention rule set named " +
         std::string(name);
}

std::string RulesText(const std::vector<RetentionRule>& rules) {
  json out = json::array();
  for (const auto& rule : rules) {
    out.push_back({{"repositories", rule.repositories},
                   {"include", rule.include},
                   {"exclude", rule.exclude},
                   {"keepLatest", rule.keep_latest},
                   {"keepDays", rule.keep_days}});
  }
  return out.dump();
}

std::vector<RetentionRule> ParseRules(const std::string& text) {
  std::vector<RetentionRule> rules;
  const json in = json::parse(text, nullptr, false);
  if (!in.is_array()) return rules;
  for (const auto& item : in) {
    RetentionRule rule;
    rule.repositories = item.value("repositories", "");
    rule.include = item.value("include", "");
    rule.exclude = item.value("exclude", "");
    rule.keep_latest = item.value("keepLatest", 0);
    rule.keep_days = item.value("keepDays", 0);
    rules.push_back(std::move(rule));
  }
  return rules;
}

std::string SummariesText(const std::vector<RetentionRepositorySummary>& summaries) {
  json out = json::array();
  for (const auto& s : summaries) {
    out.push_back({{"repository", s.repository},
                   {"total", s.total},
                   {"kept", s.kept},
                   {"deleted", s.deleted},
                   {"errors", s.errors},
                   {"bytesUnreferenced", s.bytes_unreferenced},
                   {"error", s.error}});
  }
  return out.dump();
}

std::vector<RetentionRepositorySummary> ParseSummaries(const std::string& text) {
  std::vector<RetentionRepositorySummary> out;
  const json in = json::parse(text, nullptr, false);
  if (!in.is_array()) return out;
  for (const auto& item : in) {
    RetentionRepositorySummary s;
    s.repository = item.value("repository", "");
    s.total = item.value("total", std::int64_t{0});
    s.kept = item.value("kept", std::int64_t{0});
    s.deleted = item.value("deleted", std::int64_t{0});
    s.errors = item.value("errors", std::int64_t{0});
    s.bytes_unreferenced = item.value("bytesUnreferenced", std::int64_t{0});
    s.error = item.value("error", "");
    out.push_back(std::move(s));
  }
  return out;
}

std::string ItemsText(const std::vector<RetentionItem>& items) {
  json out = json::array();
  for (const auto& item : items) {
    json row = {{"repository", item.repository}, {"tag", item.tag},
                {"digest", item.digest},         {"keep", item.keep},
                {"reason", item.reason},         {"error", item.error}};
    if (item.pushed) row["pushed"] = ToMs(*item.pushed);
    out.push_back(std::move(row));
  }
  return out.dump();
}

std::vector<RetentionItem> ParseItems(const std::string& text) {
  std::vector<RetentionItem> out;
  const json in = json::parse(text, nullptr, false);
  if (!in.is_array()) return out;
  for (const auto& row : in) {
    RetentionItem item;
    item.repository = row.value("repository", "");
    item.tag = row.value("tag", "");
    item.digest = row.value("digest", "");
    item.keep = row.value("keep", true);
    item.reason = row.value("reason", "");
    item.error = row.value("error", "");
    if (row.contains("pushed")) item.pushed = FromMs(row["pushed"].get<long long>());
    out.push_back(std::move(item));
  }
  return out;
}

constexpr const char* kSetColumns =
    "id, cluster, name, enabled, schedule, rules, next_run_at, creator, created_at, updated_at";

struct SetRow {
  long long id = 0;
  std::string cluster;
  std::string name;
  int enabled = 0;
  std::string schedule;
  std::string rules;
  long long next_run_at = 0;
  soci::indicator next_ind = soci::i_null;
  std::string creator;
  long long created_at = 0;
  long long updated_at = 0;

  void Bind(soci::statement& st) {
    st.exchange(soci::into(id));
    st.exchange(soci::into(cluster));
    st.exchange(soci::into(name));
    st.exchange(soci::into(enabled));
    st.exchange(soci::into(schedule));
    st.exchange(soci::into(rules));
    st.exchange(soci::into(next_run_at, next_ind));
    st.exchange(soci::into(creator));
    st.exchange(soci::into(created_at));
    st.exchange(soci::into(updated_at));
  }

  RetentionRuleSet ToSet() const {
    RetentionRuleSet set;
    set.id = id;
    set.cluster = cluster;
    set.name = name;
    set.enabled = enabled != 0;
    set.schedule = schedule;
    set.rules = ParseRules(rules);
    if (next_ind == soci::i_ok) set.next_run_at = FromMs(next_run_at);
    set.creator = creator;
    set.created_at = FromMs(created_at);
    set.updated_at = FromMs(updated_at);
    return set;
  }
};

template <typename Key>
std::vector<RetentionRuleSet> SelectSets(soci::session& sql, std::string_view condition, Key key) {
  SetRow row;
  soci::statement st(sql);
  row.Bind(st);
  st.exchange(soci::use(key, "key"));
  st.alloc();
  st.prepare(std::string("SELECT ") + kSetColumns + " FROM retention_rule_sets WHERE " +
             std::string(condition) + " ORDER BY cluster, name");
  st.define_and_bind();
  st.execute(false);
  std::vector<RetentionRuleSet> sets;
  while (st.fetch()) sets.push_back(row.ToSet());
  return sets;
}

Result<RetentionRuleSet> GetSetOn(soci::session& sql, std::int64_t id) {
  auto sets = SelectSets(sql, "id = :key", static_cast<long long>(id));
  if (sets.empty()) return Fail(Errc::kNotFound, SetNotFound(id));
  return sets.front();
}

constexpr const char* kRunColumns =
    "id, rule_set_id, cluster, rule_set, dry_run, run_trigger, operator, state, error, "
    "queued_at, started_at, finished_at, repositories";

struct RunRow {
  long long id = 0;
  long long rule_set_id = 0;
  std::string cluster;
  std::string rule_set;
  int dry_run = 0;
  std::string trigger;
  std::string operator_name;
  std::string state;
  std::string error;
  long long queued_at = 0;
  long long started_at = 0;
  soci::indicator started_ind = soci::i_null;
  long long finished_at = 0;
  soci::indicator finished_ind = soci::i_null;
  std::string repositories;

  void Bind(soci::statement& st) {
    st.exchange(soci::into(id));
    st.exchange(soci::into(rule_set_id));
    st.exchange(soci::into(cluster));
    st.exchange(soci::into(rule_set));
    st.exchange(soci::into(dry_run));
    st.exchange(soci::into(trigger));
    st.exchange(soci::into(operator_name));
    st.exchange(soci::into(state));
    st.exchange(soci::into(error));
    st.exchange(soci::into(queued_at));
    st.exchange(soci::into(started_at, started_ind));
    st.exchange(soci::into(finished_at, finished_ind));
    st.exchange(soci::into(repositories));
  }

  RetentionRun ToRun() const {
    RetentionRun run;
    run.id = id;
    run.rule_set_id = rule_set_id;
    run.cluster = cluster;
    run.rule_set = rule_set;
    run.dry_run = dry_run != 0;
    run.trigger = trigger;
    run.operator_name = operator_name;
    run.state = ParseRetentionRunState(state).value_or(RetentionRunState::kFailed);
    run.error = error;
    run.queued_at = FromMs(queued_at);
    if (started_ind == soci::i_ok) run.started_at = FromMs(started_at);
    if (finished_ind == soci::i_ok) run.finished_at = FromMs(finished_at);
    run.repositories = ParseSummaries(repositories);
    return run;
  }
};

Result<RetentionRun> GetRunOn(soci::session& sql, std::int64_t id) {
  RunRow row;
  std::string items;
  long long key = id;
  soci::statement st(sql);
  row.Bind(st);
  st.exchange(soci::into(items));
  st.exchange(soci::use(key, "key"));
  st.alloc();
  st.prepare(std::string("SELECT ") + kRunColumns + ", items FROM retention_runs WHERE id = :key");
  st.define_and_bind();
  st.execute(false);
  if (!st.fetch()) return Fail(Errc::kNotFound, "retention run not found: " + std::to_string(id));
  RetentionRun run = row.ToRun();
  run.items = ParseItems(items);
  return run;
}

long long InsertRun(soci::session& sql, const RetentionRuleSet& set, bool dry_run,
                    std::string_view trigger, std::string_view operator_name, TimePoint now) {
  long long set_id = set.id, queued = ToMs(now);
  std::string cluster = set.cluster, name = set.name, how(trigger), who(operator_name);
  int dry = dry_run ? 1 : 0;
  long long id = 0;
  sql << "INSERT INTO retention_runs (rule_set_id, cluster, rule_set, dry_run, run_trigger, "
         "operator, state, queued_at) VALUES (:sid, :cluster, :name, :dry, :how, :who, "
         "'queued', :queued) RETURNING id",
      soci::use(set_id), soci::use(cluster), soci::use(name), soci::use(dry), soci::use(how),
      soci::use(who), soci::use(queued), soci::into(id);
  return id;
}

}  // namespace

Result<RetentionRuleSet> SqlRetentionStore::CreateRuleSet(const RetentionRuleSet& set) {
  return pool_->Run("retention rule set create",
                    [&](soci::session& sql) -> Result<RetentionRuleSet> {
    Transaction tx(sql, *pool_, Transaction::Kind::kWrite);
    std::string cluster = set.cluster, name = set.name, schedule = set.schedule,
                rules = RulesText(set.rules), creator = set.creator;
    int enabled = set.enabled ? 1 : 0;
    long long next = set.next_run_at ? ToMs(*set.next_run_at) : 0;
    soci::indicator next_ind = set.next_run_at ? soci::i_ok : soci::i_null;
    long long now = ToMs(SystemClock().Now());
    long long id = 0;
    try {
      sql << "INSERT INTO retention_rule_sets (cluster, name, enabled, schedule, rules, "
             "next_run_at, creator, created_at, updated_at) VALUES (:cluster, :name, :enabled, "
             ":schedule, :rules, :next, :creator, :created, :updated) RETURNING id",
          soci::use(cluster), soci::use(name), soci::use(enabled), soci::use(schedule),
          soci::use(rules), soci::use(next, next_ind), soci::use(creator), soci::use(now),
          soci::use(now), soci::into(id);
    } catch (const soci::soci_error& e) {
      if (IsUniqueViolation(e)) return Fail(Errc::kAlreadyExists, NameTaken(cluster, name));
      throw;
    }
    auto stored = GetSetOn(sql, id);
    if (!stored) return stored;
    tx.Commit();
    return stored;
  });
}

Result<RetentionRuleSet> SqlRetentionStore::UpdateRuleSet(const RetentionRuleSet& set) {
  return pool_->Run("retention rule set update",
                    [&](soci::session& sql) -> Result<RetentionRuleSet> {
    Transaction tx(sql, *pool_, Transaction::Kind::kWrite);
    long long key = set.id;
    std::string cluster;
    sql << "SELECT cluster FROM retention_rule_sets WHERE id = :id", soci::use(key),
        soci::into(cluster);
    if (!sql.got_data()) return Fail(Errc::kNotFound, SetNotFound(set.id));
    std::string name = set.name, schedule = set.schedule, rules = RulesText(set.rules);
    int enabled = set.enabled ? 1 : 0;
    long long next = set.next_run_at ? ToMs(*set.next_run_at) : 0;
    soci::indicator next_ind = set.next_run_at ? soci::i_ok : soci::i_null;
    long long now = ToMs(SystemClock().Now());
    try {
      Execute(sql,
              "UPDATE retention_rule_sets SET name = :name, enabled = :enabled, "
              "schedule = :schedule, rules = :rules, next_run_at = :next, updated_at = :updated "
              "WHERE id = :id",
              soci::use(name, "name"), soci::use(enabled, "enabled"),
              soci::use(schedule, "schedule"), soci::use(rules, "rules"),
              soci::use(next, next_ind, "next"), soci::use(now, "updated"), soci::use(key, "id"));
    } catch (const soci::soci_error& e) {
      if (IsUniqueViolation(e)) return Fail(Errc::kAlreadyExists, NameTaken(cluster, name));
      throw;
    }
    auto stored = GetSetOn(sql, set.id);
    if (!stored) return stored;
    tx.Commit();
    return stored;
  });
}

Result<void> SqlRetentionStore::DeleteRuleSet(std::int64_t id) {
  return pool_->Run("retention rule set delete", [&](soci::session& sql) -> Result<void> {
    Transaction tx(sql, *pool_, Transaction::Kind::kWrite);
    long long key = id;
    if (Execute(sql, "DELETE FROM retention_rule_sets WHERE id = :id", soci::use(key, "id")) == 0) {
      return Fail(Errc::kNotFound, SetNotFound(id));
    }
    tx.Commit();
    return {};
  });
}

Result<RetentionRuleSet> SqlRetentionStore::GetRuleSet(std::int64_t id) {
  return pool_->Run("retention rule set get", [&](soci::session& sql) {
    return GetSetOn(sql, id);
  });
}

Result<std::vector<RetentionRuleSet>> SqlRetentionStore::ListRuleSets(std::string_view cluster) {
  return pool_->Run("retention rule set list",
                    [&](soci::session& sql) -> Result<std::vector<RetentionRuleSet>> {
    if (cluster.empty()) return SelectSets(sql, "id > :key", 0LL);
    return SelectSets(sql, "cluster = :key", std::string(cluster));
  });
}

Result<std::optional<RetentionRun>> SqlRetentionStore::QueueScheduled(std::int64_t rule_set_id,
                                                                      TimePoint due,
                                                                      TimePoint next,
                                                                      TimePoint now) {
  using Queued = std::optional<RetentionRun>;
  return pool_->Run("retention schedule", [&](soci::session& sql) -> Result<Queued> {
    Transaction tx(sql, *pool_, Transaction::Kind::kWrite);
    long long key = rule_set_id, was = ToMs(due), will = ToMs(next);
    // Compare-and-set on next_run_at: of the instances that saw the set due, one advances it.
    if (Execute(sql,
                "UPDATE retention_rule_sets SET next_run_at = :will WHERE id = :id AND "
                "next_run_at = :was AND enabled = 1",
                soci::use(will, "will"), soci::use(key, "id"), soci::use(was, "was")) == 0) {
      return Queued{};
    }
    MARKET_ASSIGN_OR_RETURN(auto set, GetSetOn(sql, rule_set_id));
    const long long id = InsertRun(sql, set, false, "schedule", "", now);
    MARKET_ASSIGN_OR_RETURN(auto run, GetRunOn(sql, id));
    tx.Commit();
    return Queued{std::move(run)};
  });
}

Result<RetentionRun> SqlRetentionStore::QueueRun(std::int64_t rule_set_id, bool dry_run,
                                                 std::string_view trigger,
                                                 std::string_view operator_name, TimePoint now) {
  return pool_->Run("retention queue", [&](soci::session& sql) -> Result<RetentionRun> {
    Transaction tx(sql, *pool_, Transaction::Kind::kWrite);
    MARKET_ASSIGN_OR_RETURN(auto set, GetSetOn(sql, rule_set_id));
    const long long id = InsertRun(sql, set, dry_run, trigger, operator_name, now);
    MARKET_ASSIGN_OR_RETURN(auto run, GetRunOn(sql, id));
    tx.Commit();
    return run;
  });
}

Result<std::optional<RetentionRun>> SqlRetentionStore::ClaimRun(std::string_view worker,
                                                                TimePoint now,
                                                                TimePoint lease_until) {
  using Claimed = std::optional<RetentionRun>;
  return pool_->Run("retention claim", [&](soci::session& sql) -> Result<Claimed> {
    const bool pg = pool_->is_postgres();
    Transaction tx(sql, *pool_, Transaction::Kind::kWrite);
    std::string owner(worker);
    long long lease = ToMs(lease_until), started = ToMs(now), expired = ToMs(now);
    long long id = 0;
    // One statement, as webhook deliveries are claimed: PostgreSQL skips rows other claimers
    // hold; SQLite runs it under the write lock. A running run whose lease ran out (its
    // instance died) is taken again from the start: deletes already done are simply gone.
    sql << std::string(
               "UPDATE retention_runs SET state = 'running', lease_owner = :w, "
               "lease_until = :l, started_at = :s WHERE id = ("
               "SELECT id FROM retention_runs WHERE state = 'queued' OR (state = 'running' "
               "AND lease_until < :expired) ORDER BY id LIMIT 1") +
               (pg ? " FOR UPDATE SKIP LOCKED" : "") + ") RETURNING id",
        soci::use(owner), soci::use(lease), soci::use(started), soci::use(expired),
        soci::into(id);
    if (!sql.got_data()) {
      tx.Commit();
      return Claimed{};
    }
    MARKET_ASSIGN_OR_RETURN(auto run, GetRunOn(sql, id));
    tx.Commit();
    return Claimed{std::move(run)};
  });
}

Result<bool> SqlRetentionStore::RenewLease(std::int64_t run_id, std::string_view worker,
                                           TimePoint lease_until) {
  return pool_->Run("retention lease", [&](soci::session& sql) -> Result<bool> {
    Transaction tx(sql, *pool_, Transaction::Kind::kWrite);
    long long key = run_id, lease = ToMs(lease_until);
    std::string owner(worker);
    const bool held = Execute(sql,
                              "UPDATE retention_runs SET lease_until = :l WHERE id = :id AND "
                              "state = 'running' AND lease_owner = :w",
                              soci::use(lease, "l"), soci::use(key, "id"),
                              soci::use(owner, "w")) == 1;
    tx.Commit();
    return held;
  });
}

Result<bool> SqlRetentionStore::FinishRun(const RetentionRun& run, std::string_view worker,
                                          TimePoint now) {
  return pool_->Run("retention finish", [&](soci::session& sql) -> Result<bool> {
    Transaction tx(sql, *pool_, Transaction::Kind::kWrite);
    long long key = run.id, finished = ToMs(now);
    std::string owner(worker), state(ToString(run.state)), error = run.error,
        repositories = SummariesText(run.repositories), items = SanitizeUtf8(ItemsText(run.items));
    const bool held =
        Execute(sql,
                "UPDATE retention_runs SET state = :state, error = :error, finished_at = :f, "
                "repositories = :repos, items = :items, lease_owner = NULL, lease_until = NULL "
                "WHERE id = :id AND state = 'running' AND lease_owner = :w",
                soci::use(state, "state"), soci::use(error, "error"), soci::use(finished, "f"),
                soci::use(repositories, "repos"), soci::use(items, "items"),
                soci::use(key, "id"), soci::use(owner, "w")) == 1;
    tx.Commit();
    return held;
  });
}

Result<RetentionRun> SqlRetentionStore::GetRun(std::int64_t id) {
  return pool_->Run("retention run get", [&](soci::session& sql) { return GetRunOn(sql, id); });
}

Result<std::vector<RetentionRun>> SqlRetentionStore::ListRuns(std::int64_t rule_set_id,
                                                              int limit) {
  return pool_->Run("retention run list",
                    [&](soci::session& sql) -> Result<std::vector<RetentionRun>> {
    RunRow row;
    long long key = rule_set_id, bound = limit;
    soci::statement st(sql);
    row.Bind(st);
    st.exchange(soci::use(key, "key"));
    st.exchange(soci::use(bound, "lim"));
    st.alloc();
    // Every set's runs: id > 0 holds for all, so one statement shape serves both.
    st.prepare(std::string("SELECT ") + kRunColumns + " FROM retention_runs WHERE " +
               (rule_set_id == 0 ? "id > :key" : "rule_set_id = :key") +
               " ORDER BY id DESC LIMIT :lim");
    st.define_and_bind();
    st.execute(false);
    std::vector<RetentionRun> runs;
    while (st.fetch()) runs.push_back(row.ToRun());
    return runs;
  });
}

}  // namespace market::sql
