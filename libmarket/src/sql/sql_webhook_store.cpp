// SqlWebhookStore: webhook policies, the delivery queue and its attempts in SQLite or PostgreSQL.
// Every user value is a bound parameter.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "market/time.hpp"
#include "market/webhook_store.hpp"
#include "sql/sql_stores.hpp"

namespace market {

std::string_view ToString(DeliveryState state) {
  switch (state) {
    case DeliveryState::kPending:
      return "pending";
    case DeliveryState::kDelivered:
      return "delivered";
    case DeliveryState::kFailed:
      return "failed";
  }
  return "pending";
}

std::optional<DeliveryState> ParseDeliveryState(std::string_view text) {
  if (text == "pending") return DeliveryState::kPending;
  if (text == "delivered") return DeliveryState::kDelivered;
  if (text == "failed") return DeliveryState::kFailed;
  return std::nullopt;
}

}  // namespace market

namespace market::sql {

namespace {

std::string EventsText(const std::vector<EventType>& events) {
  std::string text;
  for (EventType type : events) {
    if (!text.empty()) text += ',';
    text += ToString(type);  // the names receivers see: a contract, like the columns
  }
  return text;
}

std::string PolicyIdText(std::int64_t id) {
  return "webhook policy not found: " + std::to_string(id);
}
std::string DeliveryIdText(std::int64_t id) {
  return "webhook delivery not found: " + std::to_string(id);
}

constexpr const char* kPolicyColumns =
    "id, project, name, enabled, url, events, repository_glob, tag_glob, secret, format, "
    "consecutive_failures, disabled_reason, creator, created_at, updated_at";

// One webhook_policies row as SOCI binds it; the order of IntoRow matches kPolicyColumns.
struct PolicyRow {
  long long id = 0;
  std::string project;
  std::string name;
  int enabled = 0;
  std::string url;
  std::string events;
  std::string repository_glob;
  std::string tag_glob;
  std::string secret;
  std::string format;
  int consecutive_failures = 0;
  std::string disabled_reason;
  std::string creator;
  long long created_at = 0;
  long long updated_at = 0;
};

void IntoRow(soci::statement& st, PolicyRow& row) {
  st.exchange(soci::into(row.id));
  st.exchange(soci::into(row.project));
  st.exchange(soci::into(row.name));
  st.exchange(soci::into(row.enabled));
  st.exchange(soci::into(row.url));
  st.exchange(soci::into(row.events));
  st.exchange(soci::into(row.repository_glob));
  st.exchange(soci::into(row.tag_glob));
  st.exchange(soci::into(row.secret));
  st.exchange(soci::into(row.format));
  st.exchange(soci::into(row.consecutive_failures));
  st.exchange(soci::into(row.disabled_reason));
  st.exchange(soci::into(row.creator));
  st.exchange(soci::into(row.created_at));
  st.exchange(soci::into(row.updated_at));
}

Result<WebhookPolicy> ToPolicy(const PolicyRow& row) {
  WebhookPolicy policy;
  policy.id = row.id;
  policy.project = row.project;
  policy.name = row.name;
  policy.enabled = row.enabled != 0;
  policy.url = row.url;
  std::string_view events = row.events;
  while (!events.empty()) {
    std::size_t comma = events.find(',');
    std::string_view name = events.substr(0, comma);
    std::optional<EventType> type = ParseEventType(name);
    if (!type) {
      return Fail(Errc::kInternal, "webhook policy " + std::to_string(row.id) +
                                       " has an unknown event type " + std::string(name));
    }
    policy.events.push_back(*type);
    events = comma == std::string_view::npos ? std::string_view() : events.substr(comma + 1);
  }
  policy.repository_glob = row.repository_glob;
  policy.tag_glob = row.tag_glob;
  policy.secret = row.secret;
  std::optional<PayloadFormat> format = ParsePayloadFormat(row.format);
  if (!format) {
    return Fail(Errc::kInternal, "webhook policy " + std::to_string(row.id) +
                                     " has an unknown format " + row.format);
  }
  policy.format = *format;
  policy.consecutive_failures = row.consecutive_failures;
  policy.disabled_reason = row.disabled_reason;
  policy.creator = row.creator;
  policy.created_at = FromMs(row.created_at);
  policy.updated_at = FromMs(row.updated_at);
  return policy;
}

// Runs a prepared statement bound to `row`; every row it yields, as policies.
Result<std::vector<WebhookPolicy>> FetchPolicies(soci::statement& st, PolicyRow& row) {
  st.define_and_bind();
  st.execute(false);
  std::vector<WebhookPolicy> policies;
  while (st.fetch()) {
    MARKET_ASSIGN_OR_RETURN(auto policy, ToPolicy(row));
    policies.push_back(std::move(policy));
  }
  return policies;
}

Result<WebhookPolicy> GetPolicyOn(soci::session& sql, std::int64_t id) {
  PolicyRow row;
  long long key = id;
  soci::statement st(sql);
  IntoRow(st, row);
  st.exchange(soci::use(key, "id"));
  st.alloc();
  st.prepare(std::string("SELECT ") + kPolicyColumns + " FROM webhook_policies WHERE id = :id");
  st.define_and_bind();
  if (!st.execute(true)) return Fail(Errc::kNotFound, PolicyIdText(id));
  return ToPolicy(row);
}

// The message of a name clash, naming the scope.
std::string NameTaken(const WebhookPolicy& policy) {
  return (policy.project.empty() ? std::string("a global webhook policy")
                                 : "project " + policy.project + " has a webhook policy") +
         " named " + policy.name;
}

constexpr const char* kDeliveryColumns =
    "id, policy_id, event_id, event_type, body, content_type, state, attempts, created_at, "
    "next_attempt_at, finished_at, last_status, last_error, redelivery_of";

// One webhook_deliveries row; the order of IntoRow matches kDeliveryColumns.
struct DeliveryRow {
  long long id = 0;
  long long policy_id = 0;
  std::string event_id;
  std::string event_type;
  std::string body;
  std::string content_type;
  std::string state;
  int attempts = 0;
  long long created_at = 0;
  long long next_attempt_at = 0;
  long long finished_at = 0;
  soci::indicator finished_ind = soci::i_null;
  int last_status = 0;
  std::string last_error;
  long long redelivery_of = 0;
  soci::indicator redelivery_ind = soci::i_null;
};

void IntoRow(soci::statement& st, DeliveryRow& row) {
  st.exchange(soci::into(row.id));
  st.exchange(soci::into(row.policy_id));
  st.exchange(soci::into(row.event_id));
  st.exchange(soci::into(row.event_type));
  st.exchange(soci::into(row.body));
  st.exchange(soci::into(row.content_type));
  st.exchange(soci::into(row.state));
  st.exchange(soci::into(row.attempts));
  st.exchange(soci::into(row.created_at));
  st.exchange(soci::into(row.next_attempt_at));
  st.exchange(soci::into(row.finished_at, row.finished_ind));
  st.exchange(soci::into(row.last_status));
  st.exchange(soci::into(row.last_error));
  st.exchange(soci::into(row.redelivery_of, row.redelivery_ind));
}

Result<WebhookDelivery> ToDelivery(const DeliveryRow& row) {
  WebhookDelivery delivery;
  delivery.id = row.id;
  delivery.policy_id = row.policy_id;
  delivery.event_id = row.event_id;
  delivery.event_type = row.event_type;
  delivery.body = row.body;
  delivery.content_type = row.content_type;
  auto state = ParseDeliveryState(row.state);
  if (!state) {
    return Fail(Errc::kInternal, "webhook delivery " + std::to_string(row.id) +
                                     " has an unknown state " + row.state);
  }
  delivery.state = *state;
  delivery.attempts = row.attempts;
  delivery.created_at = FromMs(row.created_at);
  delivery.next_attempt_at = FromMs(row.next_attempt_at);
  if (row.finished_ind == soci::i_ok) delivery.finished_at = FromMs(row.finished_at);
  delivery.last_status = row.last_status;
  delivery.last_error = row.last_error;
  if (row.redelivery_ind == soci::i_ok) delivery.redelivery_of = row.redelivery_of;
  return delivery;
}

Result<WebhookDelivery> GetDeliveryOn(soci::session& sql, std::int64_t id) {
  DeliveryRow row;
  long long key = id;
  soci::statement st(sql);
  IntoRow(st, row);
  st.exchange(soci::use(key, "id"));
  st.alloc();
  st.prepare(std::string("SELECT ") + kDeliveryColumns + " FROM webhook_deliveries WHERE id = :id");
  st.define_and_bind();
  if (!st.execute(true)) return Fail(Errc::kNotFound, DeliveryIdText(id));
  return ToDelivery(row);
}

}  // namespace

// WebhookStore: policies

Result<WebhookPolicy> SqlWebhookStore::CreatePolicy(const WebhookPolicy& policy) {
  return pool_->Run("webhook policy create", [&](soci::session& sql) -> Result<WebhookPolicy> {
    const bool pg = pool_->is_postgres();
    Transaction tx(sql, *pool_, Transaction::Kind::kWrite);
    std::string project = policy.project;
    long long project_id = 0;
    soci::indicator project_ind = soci::i_null;
    if (!project.empty()) {
      // FOR KEY SHARE: a concurrent project removal waits for this policy, then deletes it too.
      sql << (pg ? "SELECT id FROM projects WHERE name = :n FOR KEY SHARE"
                 : "SELECT id FROM projects WHERE name = :n"),
          soci::use(project), soci::into(project_id);
      if (!sql.got_data()) {
        return Fail(Errc::kBuildProjectMissing, "project does not exist: " + project);
      }
      project_ind = soci::i_ok;
    }
    std::string name = policy.name, url = policy.url, events = EventsText(policy.events),
                repository_glob = policy.repository_glob, tag_glob = policy.tag_glob,
                secret = policy.secret, format(ToString(policy.format)),
                creator = policy.creator;
    int enabled = policy.enabled ? 1 : 0;
    long long now = ToMs(SystemClock().Now());
    long long id = 0;
    try {
      // A new policy has no failures yet, whatever the caller's copy says.
      sql << "INSERT INTO webhook_policies (project_id, project, name, enabled, url, events, "
             "repository_glob, tag_glob, secret, format, consecutive_failures, disabled_reason, "
             "creator, created_at, updated_at) VALUES (:pid, :project, :name, :enabled, :url, "
             ":events, :rglob, :tglob, :secret, :format, 0, '', :creator, :created, :updated) "
             "RETURNING id",
          soci::use(project_id, project_ind), soci::use(project), soci::use(name),
          soci::use(enabled), soci::use(url), soci::use(events), soci::use(repository_glob),
          soci::use(tag_glob), soci::use(secret), soci::use(format), soci::use(creator),
          soci::use(now), soci::use(now), soci::into(id);
    } catch (const soci::soci_error& e) {
      if (IsUniqueViolation(e)) return Fail(Errc::kAlreadyExists, NameTaken(policy));
      throw;
    }
    auto stored = GetPolicyOn(sql, id);
    if (!stored) return stored;
    tx.Commit();
    return stored;
  });
}

Result<WebhookPolicy> SqlWebhookStore::UpdatePolicy(const WebhookPolicy& policy) {
  return pool_->Run("webhook policy update", [&](soci::session& sql) -> Result<WebhookPolicy> {
    Transaction tx(sql, *pool_, Transaction::Kind::kWrite);
    long long key = policy.id;
    WebhookPolicy named = policy;  // for the message of a name clash: the stored project
    sql << "SELECT project FROM webhook_policies WHERE id = :id", soci::use(key),
        soci::into(named.project);
    if (!sql.got_data()) return Fail(Errc::kNotFound, PolicyIdText(policy.id));
    std::string name = policy.name, url = policy.url, events = EventsText(policy.events),
                repository_glob = policy.repository_glob, tag_glob = policy.tag_glob,
                secret = policy.secret, format(ToString(policy.format));
    int enabled = policy.enabled ? 1 : 0;
    int enabling = enabled, enabling2 = enabled;
    long long now = ToMs(SystemClock().Now());
    long long n = 0;
    try {
      // SET reads the row as it was, so "enabled = 0" below is the state before this update.
      n = Execute(sql,
                  "UPDATE webhook_policies SET name = :name, enabled = :enabled, url = :url, "
                  "events = :events, repository_glob = :rglob, tag_glob = :tglob, "
                  "secret = :secret, format = :format, "
                  "consecutive_failures = CASE WHEN enabled = 0 AND :enabling = 1 THEN 0 "
                  "ELSE consecutive_failures END, "
                  "disabled_reason = CASE WHEN enabled = 0 AND :enabling2 = 1 THEN '' "
                  "ELSE disabled_reason END, updated_at = :updated WHERE id = :id",
                  soci::use(name, "name"), soci::use(enabled, "enabled"), soci::use(url, "url"),
                  soci::use(events, "events"), soci::use(repository_glob, "rglob"),
                  soci::use(tag_glob, "tglob"), soci::use(secret, "secret"),
                  soci::use(format, "format"), soci::use(enabling, "enabling"),
                  soci::use(enabling2, "enabling2"), soci::use(now, "updated"),
                  soci::use(key, "id"));
    } catch (const soci::soci_error& e) {
      if (IsUniqueViolation(e)) return Fail(Errc::kAlreadyExists, NameTaken(named));
      throw;
    }
    if (n != 1) return Fail(Errc::kNotFound, PolicyIdText(policy.id));
    auto stored = GetPolicyOn(sql, policy.id);
    if (!stored) return stored;
    tx.Commit();
    return stored;
  });
}

Result<void> SqlWebhookStore::DeletePolicy(std::int64_t id) {
  return pool_->Run("webhook policy delete", [&](soci::session& sql) -> Result<void> {
    Transaction tx(sql, *pool_, Transaction::Kind::kWrite);
    long long key = id;
    // Its deliveries and their attempts go by ON DELETE CASCADE.
    long long n = Execute(sql, "DELETE FROM webhook_policies WHERE id = :id", soci::use(key, "id"));
    if (n != 1) return Fail(Errc::kNotFound, PolicyIdText(id));
    tx.Commit();
    return {};
  });
}

Result<WebhookPolicy> SqlWebhookStore::GetPolicy(std::int64_t id) {
  return pool_->Run("webhook policy get", [&](soci::session& sql) -> Result<WebhookPolicy> {
    return GetPolicyOn(sql, id);
  });
}

Result<std::vector<WebhookPolicy>> SqlWebhookStore::ListPolicies(std::string_view project) {
  using Policies = std::vector<WebhookPolicy>;
  return pool_->Run("webhook policy list", [&](soci::session& sql) -> Result<Policies> {
    std::string scope(project);
    PolicyRow row;
    soci::statement st(sql);
    IntoRow(st, row);
    st.exchange(soci::use(scope, "project"));
    st.alloc();
    st.prepare(std::string("SELECT ") + kPolicyColumns +
               " FROM webhook_policies WHERE project = :project ORDER BY name");
    return FetchPolicies(st, row);
  });
}

Result<std::vector<WebhookPolicy>> SqlWebhookStore::EnabledPoliciesFor(std::string_view project) {
  using Policies = std::vector<WebhookPolicy>;
  return pool_->Run("webhook policies for event", [&](soci::session& sql) -> Result<Policies> {
    std::string scope(project);
    PolicyRow row;
    soci::statement st(sql);
    IntoRow(st, row);
    st.exchange(soci::use(scope, "project"));
    st.alloc();
    // The global ones (project '') first, then the project's; each by name.
    st.prepare(std::string("SELECT ") + kPolicyColumns +
               " FROM webhook_policies WHERE enabled = 1 AND (project = '' OR project = :project) "
               "ORDER BY project, name");
    return FetchPolicies(st, row);
  });
}

// WebhookStore: deliveries

Result<std::vector<WebhookDelivery>> SqlWebhookStore::Enqueue(
    const std::vector<WebhookDelivery>& deliveries) {
  using Deliveries = std::vector<WebhookDelivery>;
  if (deliveries.empty()) return Deliveries{};
  return pool_->Run("webhook enqueue", [&](soci::session& sql) -> Result<Deliveries> {
    const bool pg = pool_->is_postgres();
    Transaction tx(sql, *pool_, Transaction::Kind::kWrite);
    const TimePoint now = SystemClock().Now();
    std::string pending(ToString(DeliveryState::kPending));
    Deliveries stored;
    stored.reserve(deliveries.size());
    for (const WebhookDelivery& delivery : deliveries) {
      long long policy_id = delivery.policy_id;
      long long found = 0;
      // A policy deleted since the caller chose it is left out, as its deliveries would have
      // been deleted with it. FOR KEY SHARE: a deletion in progress is waited for, then seen.
      sql << (pg ? "SELECT id FROM webhook_policies WHERE id = :id FOR KEY SHARE"
                 : "SELECT id FROM webhook_policies WHERE id = :id"),
          soci::use(policy_id), soci::into(found);
      if (!sql.got_data()) continue;
      std::string event_id = delivery.event_id, event_type = delivery.event_type,
                  body = delivery.body, content_type = delivery.content_type;
      const TimePoint created_at =
          delivery.created_at == TimePoint{} ? now : delivery.created_at;
      long long created = ToMs(created_at);
      long long next = ToMs(delivery.next_attempt_at);
      long long redelivery_of = delivery.redelivery_of.value_or(0);
      soci::indicator redelivery_ind = delivery.redelivery_of ? soci::i_ok : soci::i_null;
      long long id = 0;
      sql << "INSERT INTO webhook_deliveries (policy_id, event_id, event_type, body, "
             "content_type, state, attempts, created_at, next_attempt_at, last_status, "
             "last_error, redelivery_of) VALUES (:pid, :eid, :type, :body, :ctype, :state, 0, "
             ":created, :next, 0, '', :redelivery) RETURNING id",
          soci::use(policy_id), soci::use(event_id), soci::use(event_type), soci::use(body),
          soci::use(content_type), soci::use(pending), soci::use(created), soci::use(next),
          soci::use(redelivery_of, redelivery_ind), soci::into(id);
      WebhookDelivery row = delivery;
      row.id = id;
      row.state = DeliveryState::kPending;
      row.attempts = 0;
      row.created_at = created_at;
      row.finished_at.reset();
      row.last_status = 0;
      row.last_error.clear();
      stored.push_back(std::move(row));
    }
    tx.Commit();
    return stored;
  });
}

Result<std::optional<WebhookDelivery>> SqlWebhookStore::ClaimDue(std::string_view worker,
                                                                 TimePoint now,
                                                                 TimePoint lease_until) {
  using Claimed = std::optional<WebhookDelivery>;
  return pool_->Run("webhook claim", [&](soci::session& sql) -> Result<Claimed> {
    const bool pg = pool_->is_postgres();
    Transaction tx(sql, *pool_, Transaction::Kind::kWrite);
    std::string owner(worker);
    long long lease = ToMs(lease_until);
    long long due = ToMs(now);
    long long expired = ToMs(now);
    long long id = 0;
    // One statement: the candidate and its lease. PostgreSQL skips the rows other claimers
    // hold and re-checks a row that changed since the snapshot, so no two take the same one;
    // SQLite runs it under the write lock. A test event goes out while its policy is
    // disabled, too: that is what lets a person check a receiver before enabling it again.
    sql << std::string(
               "UPDATE webhook_deliveries SET lease_owner = :w, lease_until = :l WHERE id = ("
               "SELECT d.id FROM webhook_deliveries d JOIN webhook_policies p "
               "ON p.id = d.policy_id WHERE d.state = 'pending' AND d.next_attempt_at <= :due "
               "AND (d.lease_until IS NULL OR d.lease_until < :expired) "
               "AND (p.enabled = 1 OR d.event_type = 'webhook.test') "
               "ORDER BY d.next_attempt_at, d.id LIMIT 1") +
               (pg ? " FOR UPDATE OF d SKIP LOCKED" : "") + ") RETURNING id",
        soci::use(owner), soci::use(lease), soci::use(due), soci::use(expired), soci::into(id);
    if (!sql.got_data()) {
      tx.Commit();
      return Claimed{};
    }
    MARKET_ASSIGN_OR_RETURN(auto delivery, GetDeliveryOn(sql, id));
    tx.Commit();
    return Claimed{std::move(delivery)};
  });
}

Result<bool> SqlWebhookStore::RecordAttempt(std::int64_t delivery_id, std::string_view worker,
                                            const AttemptOutcome& outcome, TimePoint now) {
  return pool_->Run("webhook attempt", [&](soci::session& sql) -> Result<bool> {
    const bool pg = pool_->is_postgres();
    Transaction tx(sql, *pool_, Transaction::Kind::kWrite);
    long long key = delivery_id;
    if (pg) {
      // The policy's row first, then the delivery's: the order a policy's deletion takes
      // them in (its deliveries go by cascade), so the two never deadlock.
      long long policy = 0;
      sql << "SELECT p.id FROM webhook_policies p JOIN webhook_deliveries d "
             "ON d.policy_id = p.id WHERE d.id = :id FOR NO KEY UPDATE OF p",
          soci::use(key), soci::into(policy);
      if (!sql.got_data()) return false;
    }
    long long policy_id = 0;
    std::string state;
    int attempts = 0;
    long long next_attempt_at = 0;
    std::string owner;
    soci::indicator owner_ind = soci::i_null;
    long long lease_until = 0;
    soci::indicator lease_ind = soci::i_null;
    sql << std::string(
               "SELECT policy_id, state, attempts, next_attempt_at, lease_owner, "
               "lease_until FROM webhook_deliveries WHERE id = :id") +
               (pg ? " FOR UPDATE" : ""),
        soci::use(key), soci::into(policy_id), soci::into(state), soci::into(attempts),
        soci::into(next_attempt_at), soci::into(owner, owner_ind),
        soci::into(lease_until, lease_ind);
    // Gone (deleted with its policy), finished, or its lease lapsed or passed to another
    // worker: this worker's attempt is not the delivery's any more.
    if (!sql.got_data() || state != ToString(DeliveryState::kPending) || owner_ind != soci::i_ok ||
        owner != worker || lease_ind != soci::i_ok || lease_until < ToMs(now)) {
      return false;
    }

    const DeliveryAttempt& attempt = outcome.attempt;
    const bool finished = outcome.next_state != DeliveryState::kPending;
    int number = attempts + 1;
    std::string next_state(ToString(outcome.next_state));
    long long next = finished ? next_attempt_at : ToMs(outcome.retry_at);
    long long finished_at = ToMs(now);
    soci::indicator finished_ind = finished ? soci::i_ok : soci::i_null;
    int status = attempt.status;
    // What a receiver answered is any bytes; the columns are text.
    std::string error = SanitizeUtf8(attempt.error);
    std::string last_error = outcome.next_state == DeliveryState::kDelivered ? "" : error;
    Execute(sql,
            "UPDATE webhook_deliveries SET state = :st, attempts = :n, next_attempt_at = :next, "
            "finished_at = :fin, last_status = :status, last_error = :err, lease_owner = NULL, "
            "lease_until = NULL WHERE id = :id",
            soci::use(next_state, "st"), soci::use(number, "n"), soci::use(next, "next"),
            soci::use(finished_at, finished_ind, "fin"), soci::use(status, "status"),
            soci::use(last_error, "err"), soci::use(key, "id"));

    long long started = ToMs(attempt.started_at);
    long long duration = attempt.duration_ms;
    std::string request_headers = SanitizeUtf8(attempt.request_headers);
    std::string response_headers = SanitizeUtf8(attempt.response_headers);
    std::string excerpt = SanitizeUtf8(attempt.response_excerpt);
    sql << "INSERT INTO webhook_attempts (delivery_id, number, started_at, duration_ms, status, "
           "error, request_headers, response_headers, response_excerpt) VALUES (:id, :n, "
           ":started, :duration, :status, :error, :reqh, :resh, :excerpt)",
        soci::use(key), soci::use(number), soci::use(started), soci::use(duration),
        soci::use(status), soci::use(error), soci::use(request_headers),
        soci::use(response_headers), soci::use(excerpt);

    if (outcome.next_state == DeliveryState::kDelivered) {
      sql << "UPDATE webhook_policies SET consecutive_failures = 0 WHERE id = :id",
          soci::use(policy_id);
    } else if (outcome.next_state == DeliveryState::kFailed) {
      int failures = 0;
      sql << "UPDATE webhook_policies SET consecutive_failures = consecutive_failures + 1 "
             "WHERE id = :id RETURNING consecutive_failures",
          soci::use(policy_id), soci::into(failures);
      if (outcome.disable_after > 0 && failures >= outcome.disable_after) {
        // Only an enabled one: a policy a person disabled keeps saying so.
        std::string reason = outcome.disable_reason;
        long long updated = ToMs(now);
        sql << "UPDATE webhook_policies SET enabled = 0, disabled_reason = :reason, "
               "updated_at = :updated WHERE id = :id AND enabled = 1",
            soci::use(reason), soci::use(updated), soci::use(policy_id);
      }
    }
    tx.Commit();
    return true;
  });
}

Result<int> SqlWebhookStore::ReleaseLeasesOf(std::string_view instance) {
  return pool_->Run("webhook lease release", [&](soci::session& sql) -> Result<int> {
    // A prefix compare, not LIKE: worker names may hold '_' and '%'.
    std::string prefix = std::string(instance) + "/";
    int prefix_length = static_cast<int>(prefix.size());
    long long n = Execute(sql,
                          "UPDATE webhook_deliveries SET lease_owner = NULL, lease_until = NULL "
                          "WHERE state = 'pending' AND lease_owner IS NOT NULL AND "
                          "substr(lease_owner, 1, :plen) = :prefix",
                          soci::use(prefix_length, "plen"), soci::use(prefix, "prefix"));
    return static_cast<int>(n);
  });
}

Result<WebhookDelivery> SqlWebhookStore::GetDelivery(std::int64_t id) {
  return pool_->Run("webhook delivery get", [&](soci::session& sql) -> Result<WebhookDelivery> {
    return GetDeliveryOn(sql, id);
  });
}

Result<DeliveryPage> SqlWebhookStore::ListDeliveries(std::int64_t policy_id,
                                                     std::optional<std::int64_t> before,
                                                     int limit) {
  if (limit < 1) return Fail(Errc::kInvalid, "limit must be positive");
  return pool_->Run("webhook delivery list", [&](soci::session& sql) -> Result<DeliveryPage> {
    long long policy = policy_id;
    long long below = before.value_or(0);
    long long fetch = static_cast<long long>(limit) + 1;  // one more tells whether more exist
    DeliveryRow row;
    soci::statement st(sql);
    IntoRow(st, row);
    st.exchange(soci::use(policy, "policy"));
    if (before) st.exchange(soci::use(below, "before"));
    st.exchange(soci::use(fetch, "lim"));
    st.alloc();
    st.prepare(std::string("SELECT ") + kDeliveryColumns +
               " FROM webhook_deliveries WHERE policy_id = :policy" +
               (before ? " AND id < :before" : "") + " ORDER BY id DESC LIMIT :lim");
    st.define_and_bind();
    st.execute(false);
    DeliveryPage page;
    while (st.fetch()) {
      MARKET_ASSIGN_OR_RETURN(auto delivery, ToDelivery(row));
      page.deliveries.push_back(std::move(delivery));
      row.finished_ind = soci::i_null;
      row.redelivery_ind = soci::i_null;
    }
    if (page.deliveries.size() > static_cast<std::size_t>(limit)) {
      page.deliveries.pop_back();
      page.next_before = page.deliveries.back().id;
    }
    return page;
  });
}

Result<std::vector<DeliveryAttempt>> SqlWebhookStore::ListAttempts(std::int64_t delivery_id) {
  using Attempts = std::vector<DeliveryAttempt>;
  return pool_->Run("webhook attempt list", [&](soci::session& sql) -> Result<Attempts> {
    long long key = delivery_id;
    DeliveryAttempt row;
    long long id = 0, delivery = 0, started = 0, duration = 0;
    soci::statement st(sql);
    st.exchange(soci::into(id));
    st.exchange(soci::into(delivery));
    st.exchange(soci::into(row.number));
    st.exchange(soci::into(started));
    st.exchange(soci::into(duration));
    st.exchange(soci::into(row.status));
    st.exchange(soci::into(row.error));
    st.exchange(soci::into(row.request_headers));
    st.exchange(soci::into(row.response_headers));
    st.exchange(soci::into(row.response_excerpt));
    st.exchange(soci::use(key, "id"));
    st.alloc();
    st.prepare(
        "SELECT id, delivery_id, number, started_at, duration_ms, status, error, "
        "request_headers, response_headers, response_excerpt FROM webhook_attempts "
        "WHERE delivery_id = :id ORDER BY number");
    st.define_and_bind();
    st.execute(false);
    Attempts attempts;
    while (st.fetch()) {
      row.id = id;
      row.delivery_id = delivery;
      row.started_at = FromMs(started);
      row.duration_ms = duration;
      attempts.push_back(row);
    }
    return attempts;
  });
}

Result<int> SqlWebhookStore::PruneDeliveries(TimePoint finished_before, int limit) {
  if (limit < 1) return Fail(Errc::kInvalid, "limit must be positive");
  return pool_->Run("webhook delivery prune", [&](soci::session& sql) -> Result<int> {
    Transaction tx(sql, *pool_, Transaction::Kind::kWrite);
    long long cutoff = ToMs(finished_before);
    long long bound = limit;
    // Oldest first through webhook_deliveries_finished. finished_at is set exactly when a
    // delivery is delivered or failed, so it alone picks them: a condition on state too would
    // let SQLite's planner prefer webhook_deliveries_due and sort every finished row.
    long long n = Execute(sql,
                          "DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM "
                          "webhook_deliveries WHERE finished_at < :cutoff "
                          "ORDER BY finished_at LIMIT :lim)",
                          soci::use(cutoff, "cutoff"), soci::use(bound, "lim"));
    tx.Commit();
    return static_cast<int>(n);
  });
}

}  // namespace market::sql
