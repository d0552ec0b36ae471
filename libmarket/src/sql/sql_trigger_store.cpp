// SqlTriggerStore: build triggers in SQLite or PostgreSQL. Every user value is a bound parameter.

#include <string>
#include <string_view>
#include <vector>

#include "market/time.hpp"
#include "market/trigger_store.hpp"
#include "sql/sql_stores.hpp"

namespace market::sql {

namespace {

std::string NotFound(std::int64_t id) { return "build trigger not found: " + std::to_string(id); }

std::string NameTaken(std::string_view project, std::string_view name) {
  return "project " + std::string(project) + " has a build trigger named " + std::string(name);
}

// Tag templates hold no whitespace (tags cannot): one per line.
std::string JoinLines(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += '\n';
    out += item;
  }
  return out;
}

std::vector<std::string> SplitLines(std::string_view text) {
  std::vector<std::string> items;
  while (!text.empty()) {
    auto end = text.find('\n');
    if (end != 0) items.emplace_back(text.substr(0, end));
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return items;
}

constexpr const char* kTriggerColumns =
    "id, project, name, enabled, secret, branches, tags, tag_templates, latest, default_branch, "
    "consecutive_failures, disabled_reason, creator, created_at, updated_at";

// One build_triggers row as SOCI binds it; the order of Bind matches kTriggerColumns.
struct TriggerRow {
  long long id = 0;
  std::string project;
  std::string name;
  int enabled = 0;
  std::string secret;
  std::string branches;
  std::string tags;
  std::string tag_templates;
  int latest = 0;
  std::string default_branch;
  int consecutive_failures = 0;
  std::string disabled_reason;
  std::string creator;
  long long created_at = 0;
  long long updated_at = 0;

  void Bind(soci::statement& st) {
    st.exchange(soci::into(id));
    st.exchange(soci::into(project));
    st.exchange(soci::into(name));
    st.exchange(soci::into(enabled));
    st.exchange(soci::into(secret));
    st.exchange(soci::into(branches));
    st.exchange(soci::into(tags));
    st.exchange(soci::into(tag_templates));
    st.exchange(soci::into(latest));
    st.exchange(soci::into(default_branch));
    st.exchange(soci::into(consecutive_failures));
    st.exchange(soci::into(disabled_reason));
    st.exchange(soci::into(creator));
    st.exchange(soci::into(created_at));
    st.exchange(soci::into(updated_at));
  }

  BuildTriggerRule ToRule() const {
    BuildTriggerRule rule;
    rule.id = id;
    rule.project = project;
    rule.name = name;
    rule.enabled = enabled != 0;
    rule.secret = secret;
    rule.branches = branches;
    rule.tags = tags;
    rule.tag_templates = SplitLines(tag_templates);
    rule.latest = latest != 0;
    rule.default_branch = default_branch;
    rule.consecutive_failures = consecutive_failures;
    rule.disabled_reason = disabled_reason;
    rule.creator = creator;
    rule.created_at = FromMs(created_at);
    rule.updated_at = FromMs(updated_at);
    return rule;
  }
};

// Every trigger `condition` picks, ordered by `order`; the condition binds :key.
template <typename Key>
std::vector<BuildTriggerRule> Select(soci::session& sql, std::string_view condition, Key key,
                                     std::string_view order = "id") {
  TriggerRow row;
  soci::statement st(sql);
  row.Bind(st);
  st.exchange(soci::use(key, "key"));
  st.alloc();
  st.prepare(std::string("SELECT ") + kTriggerColumns + " FROM build_triggers WHERE " +
             std::string(condition) + " ORDER BY " + std::string(order));
  st.define_and_bind();
  st.execute(false);
  std::vector<BuildTriggerRule> rules;
  while (st.fetch()) rules.push_back(row.ToRule());
  return rules;
}

Result<BuildTriggerRule> GetOn(soci::session& sql, std::int64_t id) {
  auto rules = Select(sql, "id = :key", static_cast<long long>(id));
  if (rules.empty()) return Fail(Errc::kNotFound, NotFound(id));
  return rules.front();
}

constexpr const char* kDeliveryColumns =
    "id, trigger_id, received_at, host, event, delivery_id, ref, sha, outcome, reason, build_id";

// One trigger_deliveries row as SOCI binds it; the order of Bind matches kDeliveryColumns.
struct DeliveryRow {
  long long id = 0;
  long long trigger_id = 0;
  long long received_at = 0;
  std::string host;
  std::string event;
  std::string delivery_id;
  std::string ref;
  std::string sha;
  std::string outcome;
  std::string reason;
  long long build_id = 0;

  void Bind(soci::statement& st) {
    st.exchange(soci::into(id));
    st.exchange(soci::into(trigger_id));
    st.exchange(soci::into(received_at));
    st.exchange(soci::into(host));
    st.exchange(soci::into(event));
    st.exchange(soci::into(delivery_id));
    st.exchange(soci::into(ref));
    st.exchange(soci::into(sha));
    st.exchange(soci::into(outcome));
    st.exchange(soci::into(reason));
    st.exchange(soci::into(build_id));
  }

  TriggerDelivery ToDelivery() const {
    return {id,  trigger_id, FromMs(received_at), host,   event,   delivery_id,
            ref, sha,        outcome,             reason, build_id};
  }
};

}  // namespace

Result<BuildTriggerRule> SqlTriggerStore::Create(const BuildTriggerRule& rule) {
  return pool_->Run("build trigger create", [&](soci::session& sql) -> Result<BuildTriggerRule> {
    Transaction tx(sql, *pool_, Transaction::Kind::kWrite);
    std::string project = rule.project;
    long long project_id = 0;
    sql << (pool_->is_postgres() ? "SELECT id FROM projects WHERE name = :n FOR KEY SHARE"
                                 : "SELECT id FROM projects WHERE name = :n"),
        soci::use(project), soci::into(project_id);
    if (!sql.got_data()) {
      return Fail(Errc::kBuildProjectMissing, "project does not exist: " + project);
    }
    std::string name = rule.name, secret = rule.secret, branches = rule.branches,
                tags = rule.tags, templates = JoinLines(rule.tag_templates),
                default_branch = rule.default_branch, creator = rule.creator;
    int enabled = rule.enabled ? 1 : 0, latest = rule.latest ? 1 : 0;
    long long now = ToMs(SystemClock().Now());
    long long id = 0;
    try {
      // A new trigger has no failures yet, whatever the caller's copy says.
      sql << "INSERT INTO build_triggers (project_id, project, name, enabled, secret, branches, "
             "tags, tag_templates, latest, default_branch, consecutive_failures, "
             "disabled_reason, creator, created_at, updated_at) VALUES (:pid, :project, :name, "
             ":enabled, :secret, :branches, :tags, :templates, :latest, :defb, 0, '', :creator, "
             ":created, :updated) RETURNING id",
          soci::use(project_id), soci::use(project), soci::use(name), soci::use(enabled),
          soci::use(secret), soci::use(branches), soci::use(tags), soci::use(templates),
          soci::use(latest), soci::use(default_branch), soci::use(creator), soci::use(now),
          soci::use(now), soci::into(id);
    } catch (const soci::soci_error& e) {
      if (IsUniqueViolation(e)) return Fail(Errc::kAlreadyExists, NameTaken(project, name));
      throw;
    }
    auto stored = GetOn(sql, id);
    if (!stored) return stored;
    tx.Commit();
    return stored;
  });
}

Result<BuildTriggerRule> SqlTriggerStore::Update(const BuildTriggerRule& rule) {
  return pool_->Run("build trigger update", [&](soci::session& sql) -> Result<BuildTriggerRule> {
    Transaction tx(sql, *pool_, Transaction::Kind::kWrite);
    long long key = rule.id;
    std::string project;
    sql << "SELECT project FROM build_triggers WHERE id = :id", soci::use(key),
        soci::into(project);
    if (!sql.got_data()) return Fail(Errc::kNotFound, NotFound(rule.id));
    std::string name = rule.name, secret = rule.secret, branches = rule.branches,
                tags = rule.tags, templates = JoinLines(rule.tag_templates),
                default_branch = rule.default_branch;
    int enabled = rule.enabled ? 1 : 0, latest = rule.latest ? 1 : 0;
    int enabling = enabled, enabling2 = enabled;
    long long now = ToMs(SystemClock().Now());
    long long n = 0;
    try {
      // SET reads the row as it was, so "enabled = 0" below is the state before this update.
      n = Execute(sql,
                  "UPDATE build_triggers SET name = :name, enabled = :enabled, secret = :secret, "
                  "branches = :branches, tags = :tags, tag_templates = :templates, "
                  "latest = :latest, default_branch = :defb, "
                  "consecutive_failures = CASE WHEN enabled = 0 AND :enabling = 1 THEN 0 "
                  "ELSE consecutive_failures END, "
                  "disabled_reason = CASE WHEN enabled = 0 AND :enabling2 = 1 THEN '' "
                  "ELSE disabled_reason END, updated_at = :updated WHERE id = :id",
                  soci::use(name, "name"), soci::use(enabled, "enabled"),
                  soci::use(secret, "secret"), soci::use(branches, "branches"),
                  soci::use(tags, "tags"), soci::use(templates, "templates"),
                  soci::use(latest, "latest"), soci::use(default_branch, "defb"),
                  soci::use(enabling, "enabling"), soci::use(enabling2, "enabling2"),
                  soci::use(now, "updated"), soci::use(key, "id"));
    } catch (const soci::soci_error& e) {
      if (IsUniqueViolation(e)) return Fail(Errc::kAlreadyExists, NameTaken(project, name));
      throw;
    }
    if (n != 1) return Fail(Errc::kNotFound, NotFound(rule.id));
    auto stored = GetOn(sql, rule.id);
    if (!stored) return stored;
    tx.Commit();
    return stored;
  });
}

Result<void> SqlTriggerStore::Delete(std::int64_t id) {
  return pool_->Run("build trigger delete", [&](soci::session& sql) -> Result<void> {
    long long key = id;
    // Its builds keep their history: builds.trigger_id has no foreign key.
    long long n = Execute(sql, "DELETE FROM build_triggers WHERE id = :id", soci::use(key, "id"));
    if (n != 1) return Fail(Errc::kNotFound, NotFound(id));
    return {};
  });
}

Result<BuildTriggerRule> SqlTriggerStore::Get(std::int64_t id) {
  return pool_->Run("build trigger get", [&](soci::session& sql) -> Result<BuildTriggerRule> {
    return GetOn(sql, id);
  });
}

Result<std::vector<BuildTriggerRule>> SqlTriggerStore::List(std::string_view project) {
  using Rules = std::vector<BuildTriggerRule>;
  return pool_->Run("build trigger list", [&](soci::session& sql) -> Result<Rules> {
    if (project.empty()) return Select(sql, ":key = ''", std::string(), "project, name");
    return Select(sql, "project = :key", std::string(project), "name");
  });
}

Result<BuildTriggerRule> SqlTriggerStore::RecordBuildEnd(std::int64_t id, bool succeeded,
                                                         int disable_after,
                                                         std::string_view reason, TimePoint now) {
  return pool_->Run("build trigger outcome", [&](soci::session& sql) -> Result<BuildTriggerRule> {
    Transaction tx(sql, *pool_, Transaction::Kind::kWrite);
    long long key = id;
    long long n = 0;
    if (succeeded) {
      n = Execute(sql, "UPDATE build_triggers SET consecutive_failures = 0 WHERE id = :id",
                  soci::use(key, "id"));
    } else {
      // One statement, so two instances ending two builds of one trigger count both. Only an
      // enabled trigger is disabled: one a person disabled keeps saying so. SET reads the row
      // as it was: consecutive_failures + 1 is the new count.
      int limit = disable_after > 0 ? disable_after : 0, limit2 = limit, limit3 = limit,
          limit4 = limit;
      std::string why(reason);
      long long updated = ToMs(now);
      n = Execute(sql,
                  "UPDATE build_triggers SET consecutive_failures = consecutive_failures + 1, "
                  "enabled = CASE WHEN :l1 > 0 AND consecutive_failures + 1 >= :l2 THEN 0 "
                  "ELSE enabled END, "
                  "disabled_reason = CASE WHEN enabled = 1 AND :l3 > 0 AND "
                  "consecutive_failures + 1 >= :l4 THEN :why ELSE disabled_reason END, "
                  "updated_at = :updated WHERE id = :id",
                  soci::use(limit, "l1"), soci::use(limit2, "l2"), soci::use(limit3, "l3"),
                  soci::use(limit4, "l4"), soci::use(why, "why"), soci::use(updated, "updated"),
                  soci::use(key, "id"));
    }
    if (n != 1) return Fail(Errc::kNotFound, NotFound(id));
    auto stored = GetOn(sql, id);
    if (!stored) return stored;
    tx.Commit();
    return stored;
  });
}

Result<TriggerDelivery> SqlTriggerStore::RecordDelivery(const TriggerDelivery& delivery,
                                                        int keep) {
  return pool_->Run("build trigger delivery", [&](soci::session& sql) -> Result<TriggerDelivery> {
    Transaction tx(sql, *pool_, Transaction::Kind::kWrite);
    long long trigger_id = delivery.trigger_id;
    long long exists = 0;
    sql << "SELECT COUNT(*) FROM build_triggers WHERE id = :id", soci::use(trigger_id),
        soci::into(exists);
    if (exists == 0) return Fail(Errc::kNotFound, NotFound(delivery.trigger_id));
    long long received = ToMs(delivery.received_at), build_id = delivery.build_id;
    // The event's fields come from outside: TEXT takes them as valid UTF-8.
    std::string host = delivery.host, event = SanitizeUtf8(delivery.event),
                hook_id = SanitizeUtf8(delivery.delivery_id), ref = SanitizeUtf8(delivery.ref),
                sha = SanitizeUtf8(delivery.sha), outcome = delivery.outcome,
                reason = SanitizeUtf8(delivery.reason);
    long long id = 0;
    sql << "INSERT INTO trigger_deliveries (trigger_id, received_at, host, event, delivery_id, "
           "ref, sha, outcome, reason, build_id) VALUES (:tid, :received, :host, :event, :hook, "
           ":ref, :sha, :outcome, :reason, :build) RETURNING id",
        soci::use(trigger_id), soci::use(received), soci::use(host), soci::use(event),
        soci::use(hook_id), soci::use(ref), soci::use(sha), soci::use(outcome), soci::use(reason),
        soci::use(build_id), soci::into(id);
    // Everything older than the newest `keep`: one statement, whatever the count.
    long long trigger_id2 = trigger_id, offset = keep > 0 ? keep - 1 : 0;
    Execute(sql,
            "DELETE FROM trigger_deliveries WHERE trigger_id = :tid AND id < (SELECT id FROM "
            "trigger_deliveries WHERE trigger_id = :tid2 ORDER BY id DESC LIMIT 1 OFFSET :off)",
            soci::use(trigger_id, "tid"), soci::use(trigger_id2, "tid2"),
            soci::use(offset, "off"));
    tx.Commit();
    return TriggerDelivery{id,      delivery.trigger_id, FromMs(received), host,   event, hook_id,
                           ref,     sha,                 outcome,          reason, build_id};
  });
}

Result<std::vector<TriggerDelivery>> SqlTriggerStore::ListDeliveries(std::int64_t trigger_id,
                                                                     int limit) {
  using Deliveries = std::vector<TriggerDelivery>;
  return pool_->Run("build trigger deliveries", [&](soci::session& sql) -> Result<Deliveries> {
    DeliveryRow row;
    long long key = trigger_id, lim = limit > 0 ? limit : 0;
    soci::statement st(sql);
    row.Bind(st);
    st.exchange(soci::use(key, "tid"));
    st.exchange(soci::use(lim, "lim"));
    st.alloc();
    st.prepare(std::string("SELECT ") + kDeliveryColumns +
               " FROM trigger_deliveries WHERE trigger_id = :tid ORDER BY id DESC LIMIT :lim");
    st.define_and_bind();
    st.execute(false);
    Deliveries deliveries;
    while (st.fetch()) deliveries.push_back(row.ToDelivery());
    return deliveries;
  });
}

}  // namespace market::sql
