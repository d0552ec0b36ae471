// SqlBaseRebuildStore: base-image rebuild opt-ins and claims in SQLite or PostgreSQL. Every user
// value is a bound parameter.

#include <string>
#include <vector>

#include "market/base_rebuild_store.hpp"
#include "sql/sql_stores.hpp"

namespace market::sql {

namespace {

std::string ProjectMissing(std::string_view project) {
  return "project does not exist: " + std::string(project);
}

// The project's id; none when it does not exist. PostgreSQL: FOR KEY SHARE keeps it from being
// deleted until the transaction ends.
std::optional<long long> ProjectId(soci::session& sql, bool pg, const std::string& project) {
  long long id = 0;
  sql << (pg ? "SELECT id FROM projects WHERE name = :n FOR KEY SHARE"
             : "SELECT id FROM projects WHERE name = :n"),
      soci::use(project), soci::into(id);
  if (!sql.got_data()) return std::nullopt;
  return id;
}

constexpr const char* kClaimColumns =
    "id, project, base_image, old_digest, new_digest, cause_build, build_id, outcome, created_at";

struct ClaimRow {
  long long id = 0;
  std::string project;
  std::string base_image;
  std::string old_digest;
  std::string new_digest;
  long long cause_build = 0;
  long long build_id = 0;
  std::string outcome;
  long long created_at = 0;

  void Bind(soci::statement& st) {
    st.exchange(soci::into(id));
    st.exchange(soci::into(project));
    st.exchange(soci::into(base_image));
    st.exchange(soci::into(old_digest));
    st.exchange(soci::into(new_digest));
    st.exchange(soci::into(cause_build));
    st.exchange(soci::into(build_id));
    st.exchange(soci::into(outcome));
    st.exchange(soci::into(created_at));
  }

  BaseRebuildClaim ToClaim() const {
    return BaseRebuildClaim{id,          project,  base_image, old_digest,        new_digest,
                            cause_build, build_id, outcome,    FromMs(created_at)};
  }
};

}  // namespace

Result<BaseRebuildSetting> SqlBaseRebuildStore::GetSetting(std::string_view project) {
  return pool_->Run(
      "base rebuild setting get", [&](soci::session& sql) -> Result<BaseRebuildSetting> {
        std::string name(project);
        if (!ProjectId(sql, false, name)) {
          return Fail(Errc::kBuildProjectMissing, ProjectMissing(project));
        }
        BaseRebuildSetting setting;
        setting.project = name;
        int enabled = 0;
        long long updated_at = 0;
        sql << "SELECT enabled, operator, updated_at FROM base_rebuild_settings WHERE project = :p",
            soci::use(name), soci::into(enabled), soci::into(setting.operator_name),
            soci::into(updated_at);
        if (sql.got_data()) {
          setting.enabled = enabled != 0;
          setting.updated_at = FromMs(updated_at);
        }
        return setting;
      });
}

Result<BaseRebuildSetting> SqlBaseRebuildStore::SetSetting(std::string_view project, bool enabled,
                                                           std::string_view operator_name,
                                                           TimePoint now) {
  return pool_->Run(
      "base rebuild setting set", [&](soci::session& sql) -> Result<BaseRebuildSetting> {
        Transaction tx(sql, *pool_, Transaction::Kind::kWrite);
        std::string name(project), op(operator_name);
        auto project_id = ProjectId(sql, pool_->is_postgres(), name);
        if (!project_id) return Fail(Errc::kBuildProjectMissing, ProjectMissing(project));
        int flag = enabled ? 1 : 0;
        long long at = ToMs(now);
        sql << "INSERT INTO base_rebuild_settings (project_id, project, enabled, operator, "
               "updated_at) "
               "VALUES (:pid, :p, :e, :op, :at) ON CONFLICT (project_id) DO UPDATE SET "
               "enabled = excluded.enabled, operator = excluded.operator, "
               "updated_at = excluded.updated_at",
            soci::use(*project_id), soci::use(name), soci::use(flag), soci::use(op), soci::use(at);
        tx.Commit();
        return BaseRebuildSetting{name, enabled, op, FromMs(at)};
      });
}

Result<std::vector<BaseRebuildSetting>> SqlBaseRebuildStore::Enabled() {
  return pool_->Run(
      "base rebuild enabled", [&](soci::session& sql) -> Result<std::vector<BaseRebuildSetting>> {
        std::string project, op;
        long long updated_at = 0;
        soci::statement st =
            (sql.prepare << "SELECT project, operator, updated_at FROM "
                            "base_rebuild_settings WHERE enabled = 1 ORDER BY project",
             soci::into(project), soci::into(op), soci::into(updated_at));
        st.execute(false);
        std::vector<BaseRebuildSetting> out;
        while (st.fetch()) out.push_back(BaseRebuildSetting{project, true, op, FromMs(updated_at)});
        return out;
      });
}

Result<bool> SqlBaseRebuildStore::Claim(BaseRebuildClaim& claim) {
  return pool_->Run("base rebuild claim", [&](soci::session& sql) -> Result<bool> {
    Transaction tx(sql, *pool_, Transaction::Kind::kWrite);
    auto project_id = ProjectId(sql, pool_->is_postgres(), claim.project);
    if (!project_id) return Fail(Errc::kBuildProjectMissing, ProjectMissing(claim.project));
    long long cause = claim.cause_build_id;
    long long at = ToMs(claim.created_at);
    long long id = 0;
    // ON CONFLICT keeps a PostgreSQL transaction usable where a unique violation would abort it.
    sql << "INSERT INTO base_rebuilds (project_id, project, base_image, old_digest, new_digest, "
           "cause_build, created_at) VALUES (:pid, :p, :base, :old, :new, :cause, :at) "
           "ON CONFLICT (project, base_image, new_digest) DO NOTHING RETURNING id",
        soci::use(*project_id), soci::use(claim.project), soci::use(claim.base_image),
        soci::use(claim.old_digest), soci::use(claim.new_digest), soci::use(cause), soci::use(at),
        soci::into(id);
    if (!sql.got_data()) return false;
    tx.Commit();
    claim.id = id;
    claim.build_id = 0;
    claim.outcome.clear();
    return true;
  });
}

Result<void> SqlBaseRebuildStore::SetOutcome(std::int64_t id, std::int64_t build_id,
                                             std::string_view outcome) {
  return pool_->Run("base rebuild outcome", [&](soci::session& sql) -> Result<void> {
    long long key = id, build = build_id, found = 0;
    std::string text(outcome);
    sql << "UPDATE base_rebuilds SET build_id = :b, outcome = :o WHERE id = :id RETURNING id",
        soci::use(build), soci::use(text), soci::use(key), soci::into(found);
    if (!sql.got_data()) {
      return Fail(Errc::kNotFound, "base rebuild not found: " + std::to_string(id));
    }
    return {};
  });
}

Result<void> SqlBaseRebuildStore::Release(std::int64_t id) {
  return pool_->Run("base rebuild release", [&](soci::session& sql) -> Result<void> {
    long long key = id;
    sql << "DELETE FROM base_rebuilds WHERE id = :id", soci::use(key);
    return {};
  });
}

Result<std::vector<BaseRebuildClaim>> SqlBaseRebuildStore::Claims(std::string_view project,
                                                                  int limit) {
  return pool_->Run(
      "base rebuild claims", [&](soci::session& sql) -> Result<std::vector<BaseRebuildClaim>> {
        std::string name(project);
        ClaimRow row;
        soci::statement st(sql);
        st.exchange(soci::use(name, "p"));
        st.exchange(soci::use(limit, "lim"));
        row.Bind(st);
        st.alloc();
        st.prepare(std::string("SELECT ") + kClaimColumns +
                   " FROM base_rebuilds WHERE project = :p ORDER BY id DESC LIMIT :lim");
        st.define_and_bind();
        st.execute(false);
        std::vector<BaseRebuildClaim> out;
        while (st.fetch()) out.push_back(row.ToClaim());
        return out;
      });
}

Result<std::int64_t> SqlBaseRebuildStore::CountQueuedSince(TimePoint since) {
  return pool_->Run("base rebuild count", [&](soci::session& sql) -> Result<std::int64_t> {
    long long from = ToMs(since), n = 0;
    sql << "SELECT COUNT(*) FROM builds WHERE trigger_kind = 'base-image' AND queued_at >= :t",
        soci::use(from), soci::into(n);
    return static_cast<std::int64_t>(n);
  });
}

}  // namespace market::sql
