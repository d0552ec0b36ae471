#pragma once
// The stores of SQLite and PostgreSQL (projects, builds, identity and audit, webhooks), sharing
// one SessionPool, and the helpers their files share.

#include <memory>

#include "market/build_store.hpp"
#include "market/identity.hpp"
#include "market/base_rebuild_store.hpp"
#include "market/immutability.hpp"
#include "market/project_store.hpp"
#include "market/retention_store.hpp"
#include "market/trigger_store.hpp"
#include "market/webhook_store.hpp"
#include "sql/session_pool.hpp"

namespace market::sql {

// The pool is shared because both stores use it and either may be destroyed first.
using SharedPool = std::shared_ptr<SessionPool>;

class SqlProjectStore final : public ProjectStore {
 public:
  explicit SqlProjectStore(SharedPool pool) : pool_(std::move(pool)) {}

  // ProjectStore
  Result<void> Insert(const Project& project) override;
  Result<Project> Get(std::string_view name) override;
  Result<Project> Save(const Project& project, SaveMode mode) override;
  Result<void> Remove(std::string_view name) override;
  Result<Project> Clone(std::string_view source, const Project& copy) override;
  Result<ProjectPage> List(const ProjectListQuery& query) override;
  Result<void> Ping() override;

 private:
  SharedPool pool_;
};

class SqlBuildStore final : public BuildStore {
 public:
  explicit SqlBuildStore(SharedPool pool) : pool_(std::move(pool)) {}

  // BuildStore
  Result<Build> Enqueue(const Build& build) override;
  Result<Build> Get(std::int64_t id) override;
  Result<std::optional<Build>> FindTriggered(const Build& build) override;
  Result<BuildPage> ListForProject(std::string_view project, int page, int page_size) override;
  Result<std::vector<Build>> List(const BuildFilter& filter) override;
  Result<std::optional<Build>> ClaimNext(std::string_view worker, TimePoint now,
                                         TimePoint lease_until) override;
  Result<bool> Heartbeat(std::int64_t id, std::string_view worker, TimePoint lease_until) override;
  Result<void> RecordBaseImages(std::int64_t id, const std::vector<BaseImage>& bases) override;
  Result<void> AppendLog(std::int64_t id, std::string_view text) override;
  Result<LogChunk> ReadLog(std::int64_t id, std::int64_t offset, std::int64_t max_bytes) override;
  Result<Build> Finish(std::int64_t id, const BuildResult& result, TimePoint now) override;
  Result<Build> RequestCancel(std::int64_t id, std::string_view reason, TimePoint now) override;
  Result<std::vector<Build>> FailExpired(TimePoint now, std::string_view reason) override;
  Result<std::vector<Build>> FailOwnedBy(std::string_view worker, std::string_view reason,
                                         TimePoint now) override;
  Result<std::int64_t> QueueDepth() override;
  Result<QueuedCounts> CountQueued(std::string_view project,
                                   std::string_view operator_name) override;
  Result<LogPruneBatch> PruneLogs(const LogKeepRule& rule, std::int64_t after_id, int limit,
                                  TimePoint now) override;
  Result<ProjectBuildSettings> GetBuildSettings(std::string_view project) override;
  Result<ProjectBuildSettings> SetBuildSettings(const ProjectBuildSettings& settings,
                                                TimePoint now) override;

  const SharedPool& pool() const { return pool_; }  // for MakeStoreMonitor

 private:
  SharedPool pool_;
};

// Users and tokens; every change writes its audit row in the same transaction.
class SqlIdentityStore final : public IdentityStore {
 public:
  explicit SqlIdentityStore(SharedPool pool) : pool_(std::move(pool)) {}

  // IdentityStore
  Result<User> AddUser(std::string_view name, Role role, std::string_view password_hash,
                       const AuditActor& by, TimePoint now) override;
  Result<User> SetPassword(std::string_view name, std::string_view password_hash,
                           const AuditActor& by, TimePoint now) override;
  Result<User> SetRole(std::string_view name, Role role, const AuditActor& by,
                       TimePoint now) override;
  Result<void> DeleteUser(std::string_view name, const AuditActor& by, TimePoint now) override;
  Result<std::vector<User>> ListUsers() override;
  Result<std::int64_t> CountUsers() override;
  Result<std::optional<Credentials>> FindUser(std::string_view name) override;
  Result<ApiToken> AddToken(std::string_view user, std::string_view label,
                            std::string_view prefix, std::string_view token_digest,
                            const AuditActor& by, TimePoint now) override;
  Result<std::vector<ApiToken>> ListTokens(std::string_view user) override;
  Result<ApiToken> RevokeToken(std::int64_t id, const AuditActor& by, TimePoint now) override;
  Result<std::optional<User>> FindByTokenDigest(std::string_view token_digest) override;

 private:
  SharedPool pool_;
};

class SqlAuditLog final : public AuditLog {
 public:
  explicit SqlAuditLog(SharedPool pool) : pool_(std::move(pool)) {}

  // AuditLog
  Result<AuditEntry> Record(const AuditEntry& entry) override;
  Result<AuditPage> List(const AuditQuery& query) override;

 private:
  SharedPool pool_;
};

// Build triggers of projects.
class SqlTriggerStore final : public TriggerStore {
 public:
  explicit SqlTriggerStore(SharedPool pool) : pool_(std::move(pool)) {}

  // TriggerStore
  Result<BuildTriggerRule> Create(const BuildTriggerRule& rule) override;
  Result<BuildTriggerRule> Update(const BuildTriggerRule& rule) override;
  Result<void> Delete(std::int64_t id) override;
  Result<BuildTriggerRule> Get(std::int64_t id) override;
  Result<std::vector<BuildTriggerRule>> List(std::string_view project) override;
  Result<BuildTriggerRule> RecordBuildEnd(std::int64_t id, bool succeeded, int disable_after,
                                          std::string_view reason, TimePoint now) override;
  Result<TriggerDelivery> RecordDelivery(const TriggerDelivery& delivery, int keep) override;
  Result<std::vector<TriggerDelivery>> ListDeliveries(std::int64_t trigger_id,
                                                      int limit) override;

 private:
  SharedPool pool_;
};

// Immutability rules: which tags cannot be pushed over or deleted.
class SqlImmutabilityStore final : public ImmutabilityStore {
 public:
  explicit SqlImmutabilityStore(SharedPool pool) : pool_(std::move(pool)) {}

  // ImmutabilityStore
  Result<ImmutabilityRule> Create(const ImmutabilityRule& rule) override;
  Result<ImmutabilityRule> Update(const ImmutabilityRule& rule) override;
  Result<void> Delete(std::int64_t id) override;
  Result<ImmutabilityRule> Get(std::int64_t id) override;
  Result<std::vector<ImmutabilityRule>> List() override;

 private:
  SharedPool pool_;
};

// Base-image rebuilds: which projects opted in, and one claim per base change.
class SqlBaseRebuildStore final : public BaseRebuildStore {
 public:
  explicit SqlBaseRebuildStore(SharedPool pool) : pool_(std::move(pool)) {}

  // BaseRebuildStore
  Result<BaseRebuildSetting> GetSetting(std::string_view project) override;
  Result<BaseRebuildSetting> SetSetting(std::string_view project, bool enabled,
                                        std::string_view operator_name, TimePoint now) override;
  Result<std::vector<BaseRebuildSetting>> Enabled() override;
  Result<bool> Claim(BaseRebuildClaim& claim) override;
  Result<void> SetOutcome(std::int64_t id, std::int64_t build_id,
                          std::string_view outcome) override;
  Result<void> Release(std::int64_t id) override;
  Result<std::vector<BaseRebuildClaim>> Claims(std::string_view project, int limit) override;
  Result<std::int64_t> CountQueuedSince(TimePoint since) override;

 private:
  SharedPool pool_;
};

// Webhook policies, their deliveries (a claim queue with leases, like builds) and attempts.
class SqlWebhookStore final : public WebhookStore {
 public:
  explicit SqlWebhookStore(SharedPool pool) : pool_(std::move(pool)) {}

  // WebhookStore
  Result<WebhookPolicy> CreatePolicy(const WebhookPolicy& policy) override;
  Result<WebhookPolicy> UpdatePolicy(const WebhookPolicy& policy) override;
  Result<void> DeletePolicy(std::int64_t id) override;
  Result<WebhookPolicy> GetPolicy(std::int64_t id) override;
  Result<std::vector<WebhookPolicy>> ListPolicies(std::string_view project) override;
  Result<std::vector<WebhookPolicy>> EnabledPoliciesFor(std::string_view project) override;
  Result<std::vector<WebhookDelivery>> Enqueue(
      const std::vector<WebhookDelivery>& deliveries) override;
  Result<std::optional<WebhookDelivery>> ClaimDue(std::string_view worker, TimePoint now,
                                                  TimePoint lease_until) override;
  Result<bool> RecordAttempt(std::int64_t delivery_id, std::string_view worker,
                             const AttemptOutcome& outcome, TimePoint now) override;
  Result<int> ReleaseLeasesOf(std::string_view instance) override;
  Result<WebhookDelivery> GetDelivery(std::int64_t id) override;
  Result<DeliveryPage> ListDeliveries(std::int64_t policy_id, std::optional<std::int64_t> before,
                                      int limit) override;
  Result<std::vector<DeliveryAttempt>> ListAttempts(std::int64_t delivery_id) override;
  Result<int> PruneDeliveries(TimePoint finished_before, int limit) override;

 private:
  SharedPool pool_;
};

// Tag retention rule sets and their runs (a claim queue with leases, like webhook deliveries).
class SqlRetentionStore final : public RetentionStore {
 public:
  explicit SqlRetentionStore(SharedPool pool) : pool_(std::move(pool)) {}

  // RetentionStore
  Result<RetentionRuleSet> CreateRuleSet(const RetentionRuleSet& set) override;
  Result<RetentionRuleSet> UpdateRuleSet(const RetentionRuleSet& set) override;
  Result<void> DeleteRuleSet(std::int64_t id) override;
  Result<RetentionRuleSet> GetRuleSet(std::int64_t id) override;
  Result<std::vector<RetentionRuleSet>> ListRuleSets(std::string_view cluster) override;
  Result<std::optional<RetentionRun>> QueueScheduled(std::int64_t rule_set_id, TimePoint due,
                                                     TimePoint next, TimePoint now) override;
  Result<RetentionRun> QueueRun(std::int64_t rule_set_id, bool dry_run, std::string_view trigger,
                                std::string_view operator_name, TimePoint now) override;
  Result<std::optional<RetentionRun>> ClaimRun(std::string_view worker, TimePoint now,
                                               TimePoint lease_until) override;
  Result<bool> RenewLease(std::int64_t run_id, std::string_view worker,
                          TimePoint lease_until) override;
  Result<bool> FinishRun(const RetentionRun& run, std::string_view worker, TimePoint now) override;
  Result<RetentionRun> GetRun(std::int64_t id) override;
  Result<std::vector<RetentionRun>> ListRuns(std::int64_t rule_set_id, int limit) override;

 private:
  SharedPool pool_;
};

// Helpers shared by the stores' files.
inline long long ToMs(TimePoint t) { return t.time_since_epoch().count(); }
inline TimePoint FromMs(long long ms) { return TimePoint{std::chrono::milliseconds{ms}}; }

// Runs an UPDATE/DELETE with the given bindings; returns the affected row count.
template <class... Uses>
long long Execute(soci::session& sql, const std::string& query, Uses&&... uses) {
  soci::statement st(sql);
  (st.exchange(std::forward<Uses>(uses)), ...);
  st.alloc();
  st.prepare(query);
  st.define_and_bind();
  st.execute(true);
  return st.get_affected_rows();
}

// Text from outside (build logs, a webhook receiver's answer) as TEXT columns take it:
// PostgreSQL requires valid UTF-8 without NUL bytes, and readers put it into JSON. Invalid
// bytes become U+FFFD, NUL is dropped. (In sql_build_store.cpp.)
std::string SanitizeUtf8(std::string_view in);

}  // namespace market::sql
