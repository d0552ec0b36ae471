// SqlProjectStore: projects in SQLite or PostgreSQL. Every user value is a bound parameter.

#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "market/pipeline_json.hpp"
#include "sql/project_queries.hpp"
#include "sql/project_row.hpp"
#include "sql/sql_stores.hpp"

namespace market::sql {

namespace {

void IntoRow(soci::statement& st, ProjectRow& row) {
  ForEachColumn(row, [&st](auto& field) { st.exchange(soci::into(field)); });
}

const ProjectQueries& QueriesOf(const SessionPool& pool) {
  return pool.is_postgres() ? PostgresQueries() : SqliteQueries();
}

Result<std::string> PipelineText(const Pipeline& pipeline) {
  try {
    return PipelineToJson(pipeline).dump();
  } catch (const nlohmann::json::exception& e) {
    return Fail(Errc::kInvalid, std::string("pipeline cannot be stored: ") + e.what());
  }
}

// Reads one project by name on `sql`; nullopt when missing.
// The point read by name, prepared once per session: info is the hottest call, and a fresh
// statement cost more than the rest of the request (SQLite's parser; PostgreSQL's parse and
// plan). Callers run it inside SessionPool::Run.
class ProjectByName final : public CachedStatement {
 public:
  ProjectByName(soci::session& sql, const ProjectQueries& queries) : st_(sql) {
    IntoRow(st_, row_);
    st_.exchange(soci::use(key_, "name"));
    st_.alloc();
    st_.prepare(std::string(queries.by_name));
    st_.define_and_bind();
  }

  std::optional<ProjectRow> Find(const std::string& name) {
    key_ = name;
    const bool found = st_.execute(true);
    // Run the statement to its end (the name is unique: no second row), so that SQLite ends
    // the statement's read snapshot now rather than at its next use.
    while (found && st_.fetch()) {
    }
    if (!found) return std::nullopt;
    return row_;
  }

 private:
  std::string key_;
  ProjectRow row_;
  soci::statement st_;  // last: it binds key_ and row_
};

std::optional<ProjectRow> SelectProject(SessionPool& pool, soci::session& sql,
                                        const std::string& name) {
  auto& query = pool.Prepared<ProjectByName>(
      sql, "project by name",
      [&] { return std::make_unique<ProjectByName>(sql, QueriesOf(pool)); });
  return query.Find(name);
}

// Inserts `project` with `pipeline` text; throws soci_error (a unique violation when taken).
void InsertRow(soci::session& sql, const Project& project, const std::string& pipeline) {
  std::string name = project.name;
  std::string creator = project.creator;
  long long create_time = ToMs(project.create_time);
  long long modify_time = ToMs(project.last_modify_time);
  std::string modify_operator = project.last_modify_operator;
  std::string cluster = project.cluster;
  std::string type(ToString(project.define_type));
  std::string pipeline_text = pipeline;
  sql << "INSERT INTO projects (" << kProjectColumns
      << ") VALUES (:name, :creator, :ct, :mt, :op, :cluster, :type, :pipeline)",
      soci::use(name), soci::use(creator), soci::use(create_time), soci::use(modify_time),
      soci::use(modify_operator), soci::use(cluster), soci::use(type), soci::use(pipeline_text);
}

std::string AlreadyExists(const std::string& name) { return "project already exist: " + name; }

// Binds a listing's filter values under their names in `st` (`suffix`: the offset page's
// inner query binds them once more, a named parameter binding once per use).
void BindFilter(soci::statement& st, NameFilter filter, bool postgres, ListArguments& a,
                const std::string& suffix) {
  switch (filter) {
    case NameFilter::kNone: return;
    case NameFilter::kPieces: st.exchange(soci::use(a.grams, "grm" + suffix)); break;
    case NameFilter::kTrigram:
      if (postgres) {
        st.exchange(soci::use(a.pattern, "pat" + suffix));
      } else {
        st.exchange(soci::use(a.fts, "fts" + suffix));
      }
      break;
    case NameFilter::kScan: break;
  }
  st.exchange(soci::use(a.literal, "lit" + suffix));
}

soci::details::statement_type StatementType(bool one_time) {
  return one_time ? soci::details::st_one_time_query : soci::details::st_repeatable_query;
}

// A listing's shape in the prepared-statement cache's keys (a count has no page start).
std::string ShapeKey(const ListPlan& plan, bool with_start) {
  std::string key = std::to_string(static_cast<std::size_t>(plan.filter));
  if (with_start) key += std::to_string(static_cast<std::size_t>(plan.start));
  return key;
}

// The page's total: unfiltered, the counter the triggers of migration 3 keep, not a scan of the
// table. Filtered: an exact count of the matches (found through an index), whose cost grows
// with the number of matches, not with the table; see docs/performance.md.
class ProjectCountQuery final : public CachedStatement {
 public:
  ProjectCountQuery(soci::session& sql, const ProjectQueries& queries, const ListPlan& plan,
                    bool postgres, bool one_time)
      : st_(sql) {
    st_.exchange(soci::into(total_));
    BindFilter(st_, plan.filter, postgres, bound_, "");
    st_.alloc();
    st_.prepare(std::string(queries.Count(plan.filter)), StatementType(one_time));
    st_.define_and_bind();
  }

  long long Count(const ListArguments& arguments) {
    bound_ = arguments;
    total_ = 0;
    // One row: fetch to the end so SQLite ends the statement's snapshot now.
    if (st_.execute(true)) {
      while (st_.fetch()) {
      }
    }
    return total_;
  }

 private:
  ListArguments bound_;
  long long total_ = 0;
  soci::statement st_;  // last: it binds the members above
};

// One page of rows in name order.
class ProjectPageQuery final : public CachedStatement {
 public:
  ProjectPageQuery(soci::session& sql, const ProjectQueries& queries, const ListPlan& plan,
                   bool postgres, bool one_time)
      : st_(sql) {
    IntoRow(st_, row_);
    BindFilter(st_, plan.filter, postgres, bound_, "");
    if (plan.start == PageStart::kAfter) st_.exchange(soci::use(bound_.after, "after"));
    if (plan.start == PageStart::kAt) {
      BindFilter(st_, plan.filter, postgres, bound2_, "2");
      st_.exchange(soci::use(bound_.offset, "off"));
    }
    st_.exchange(soci::use(bound_.limit, "lim"));
    st_.alloc();
    st_.prepare(std::string(queries.Page(plan.filter, plan.start)), StatementType(one_time));
    st_.define_and_bind();
  }

  // Calls `on_row` for each row of the page, in order; stops at its first error.
  template <class OnRow>
  Result<void> Fetch(const ListArguments& arguments, OnRow&& on_row) {
    bound_ = bound2_ = arguments;
    st_.execute(false);
    Result<void> result;
    // Every row is fetched even after an error, so the statement ends before its next use.
    while (st_.fetch()) {
      if (result) result = on_row(row_);
    }
    return result;
  }

 private:
  ListArguments bound_, bound2_;
  ProjectRow row_;
  soci::statement st_;  // last: it binds the members above
};

// A filtered page and its total from one pass over the matches, instead of a count and a page
// that each ask the index (about half the cost: the index read is most of a selective
// filter's). The matches' names, at most kFilterScanCap of them, are materialized once; the
// count and the page's names come from that set, then only the page's rows are read. When the
// cap is reached, or the page is empty (past the end: no row carries the count), Fetch says so
// and the caller runs the count and the page separately; a filter that matches much of the
// table pays a capped scan more, a selective one half.
constexpr long long kFilterScanCap = 10000;

class FilteredPageQuery final : public CachedStatement {
 public:
  FilteredPageQuery(soci::session& sql, const ProjectQueries& queries, const ListPlan& plan,
                    bool postgres, bool one_time)
      : st_(sql) {
    st_.exchange(soci::into(total_));
    IntoRow(st_, row_);
    BindFilter(st_, plan.filter, postgres, bound_, "");
    st_.exchange(soci::use(cap_, "cap"));
    if (plan.start == PageStart::kAfter) st_.exchange(soci::use(bound_.after, "after"));
    st_.exchange(soci::use(bound_.limit, "lim"));
    if (plan.start == PageStart::kAt) st_.exchange(soci::use(bound_.offset, "off"));
    st_.alloc();
    st_.prepare(std::string(queries.FilteredPage(plan.filter, plan.start)),
                StatementType(one_time));
    st_.define_and_bind();
  }

  // The total when the page was read whole from the capped set (`on_row` then saw each row in
  // order); nullopt when the caller must count and read the page separately.
  template <class OnRow>
  Result<std::optional<long long>> Fetch(const ListArguments& arguments, OnRow&& on_row) {
    bound_ = arguments;
    total_ = 0;
    Result<void> result;
    bool any = false;
    if (st_.execute(true)) {
      // Every row is fetched, so the statement ends before its next use.
      do {
        any = true;
        if (result && total_ < cap_) result = on_row(row_);
      } while (st_.fetch());
    }
    if (!result) return std::unexpected(result.error());
    if (!any || total_ >= cap_) return std::optional<long long>();
    return std::optional<long long>(total_);
  }

 private:
  ListArguments bound_;
  long long cap_ = kFilterScanCap;
  long long total_ = 0;
  ProjectRow row_;
  soci::statement st_;  // last: it binds the members above
};

}  // namespace

Result<void> SqlProjectStore::Insert(const Project& project) {
  MARKET_ASSIGN_OR_RETURN(auto pipeline, PipelineText(project.pipeline));
  return pool_->Run("project insert", [&](soci::session& sql) -> Result<void> {
    Transaction tx(sql, *pool_, Transaction::Kind::kWrite);
    try {
      InsertRow(sql, project, pipeline);
    } catch (const soci::soci_error& e) {
      if (IsUniqueViolation(e)) return Fail(Errc::kAlreadyExists, AlreadyExists(project.name));
      throw;
    }
    tx.Commit();
    return {};
  });
}

Result<Project> SqlProjectStore::Get(std::string_view name) {
  return pool_->Run("project get", [&](soci::session& sql) -> Result<Project> {
    auto row = SelectProject(*pool_, sql, std::string(name));
    if (!row) return std::unexpected(ProjectNotFound(name));
    return ToProject(*row);
  });
}

Result<Project> SqlProjectStore::Save(const Project& project, SaveMode mode) {
  MARKET_ASSIGN_OR_RETURN(auto pipeline, PipelineText(project.pipeline));
  return pool_->Run("project save", [&](soci::session& sql) -> Result<Project> {
    Transaction tx(sql, *pool_, Transaction::Kind::kWrite);
    if (mode == SaveMode::kAdd) {
      try {
        InsertRow(sql, project, pipeline);
      } catch (const soci::soci_error& e) {
        if (IsUniqueViolation(e)) return Fail(Errc::kAlreadyExists, AlreadyExists(project.name));
        throw;
      }
    } else {
      // One statement, so concurrent updates (or an update racing a first save) never fail
      // on the unique name: the loser of the insert becomes an update.
      std::string name = project.name;
      std::string creator = project.creator;
      long long create_time = ToMs(project.create_time);
      long long modify_time = ToMs(project.last_modify_time);
      std::string modify_operator = project.last_modify_operator;
      std::string cluster = project.cluster;
      std::string type(ToString(project.define_type));
      std::string pipeline_text = pipeline;
      sql << "INSERT INTO projects (" << kProjectColumns
          << ") VALUES (:name, :creator, :ct, :mt, :op, :cluster, :type, :pipeline) "
             "ON CONFLICT (name) DO UPDATE SET cluster = excluded.cluster, "
             "define_type = excluded.define_type, pipeline = excluded.pipeline, "
             "last_modify_time = excluded.last_modify_time, "
             "last_modify_operator = excluded.last_modify_operator",
          soci::use(name), soci::use(creator), soci::use(create_time), soci::use(modify_time),
          soci::use(modify_operator), soci::use(cluster), soci::use(type), soci::use(pipeline_text);
    }
    auto row = SelectProject(*pool_, sql, project.name);
    tx.Commit();
    if (!row) return Fail(Errc::kInternal, "saved project vanished: " + project.name);
    return ToProject(*row);
  });
}

Result<void> SqlProjectStore::Remove(std::string_view name) {
  return pool_->Run("project remove", [&](soci::session& sql) -> Result<void> {
    Transaction tx(sql, *pool_, Transaction::Kind::kWrite);
    std::string key(name);
    long long id = 0;
    // PostgreSQL: FOR UPDATE waits for an Enqueue that holds the row (FOR KEY SHARE) to
    // commit, so its queued build is seen below; SQLite's write lock serializes the same.
    if (pool_->is_postgres()) {
      sql << "SELECT id FROM projects WHERE name = :name FOR UPDATE", soci::use(key),
          soci::into(id);
    } else {
      sql << "SELECT id FROM projects WHERE name = :name", soci::use(key), soci::into(id);
    }
    if (!sql.got_data()) {
      return Fail(Errc::kDeleteTargetMissing, "project does not exist: " + key);
    }
    long long active = 0;
    sql << "SELECT COUNT(*) FROM builds WHERE project_id = :id "
           "AND state IN ('queued', 'running')",
        soci::use(id), soci::into(active);
    if (active > 0) {
      return Fail(Errc::kBuildActive,
                  "project " + key + " has a queued or running build; cancel it first");
    }
    sql << "DELETE FROM projects WHERE id = :id", soci::use(id);
    tx.Commit();
    return {};
  });
}

Result<Project> SqlProjectStore::Clone(std::string_view source, const Project& copy) {
  return pool_->Run("project clone", [&](soci::session& sql) -> Result<Project> {
    Transaction tx(sql, *pool_, Transaction::Kind::kWrite);
    std::string key(source);
    std::string cluster, type, pipeline;
    // FOR SHARE keeps the source from changing or vanishing until the copy commits.
    sql << (pool_->is_postgres()
                ? "SELECT cluster, define_type, pipeline FROM projects WHERE name = :n FOR SHARE"
                : "SELECT cluster, define_type, pipeline FROM projects WHERE name = :n"),
        soci::use(key), soci::into(cluster), soci::into(type), soci::into(pipeline);
    if (!sql.got_data()) {
      return Fail(Errc::kCloneSourceMissing, "clone source does not exist: " + key);
    }
    Project stored = copy;
    stored.cluster = cluster;
    auto parsed_type = ParseDockerfileType(type);
    if (!parsed_type) {
      return Fail(Errc::kInternal, "stored project " + key + " has an unknown define_type");
    }
    stored.define_type = *parsed_type;
    try {
      // The pipeline text is copied as stored, byte for byte.
      InsertRow(sql, stored, pipeline);
    } catch (const soci::soci_error& e) {
      if (IsUniqueViolation(e)) return Fail(Errc::kAlreadyExists, AlreadyExists(copy.name));
      throw;
    }
    auto row = SelectProject(*pool_, sql, copy.name);
    tx.Commit();
    if (!row) return Fail(Errc::kInternal, "cloned project vanished: " + copy.name);
    return ToProject(*row);
  });
}

Result<ProjectPage> SqlProjectStore::List(const ProjectListQuery& query) {
  const bool pg = pool_->is_postgres();
  Result<ListPlan> planned = PlanList(query, pg);
  if (!planned) return std::unexpected(planned.error());
  const ListPlan& plan = *planned;
  const ListArguments& arguments = plan.arguments;
  const ProjectQueries& queries = QueriesOf(*pool_);
  const bool filtered = plan.filter != NameFilter::kNone;
  // Each shape's statements are prepared once per pooled session (SessionPool::Prepared), as
  // the point read is: SQLite's parser cost more than the rest of a list request. PostgreSQL's
  // trigram shapes are planned afresh each time instead: a prepared statement would soon get
  // the generic plan, which cannot see how selective the pattern is and may walk the name
  // index instead of asking the trigram index. With pieces the statement is prepared: a GIN
  // index answers `@>` whatever the pieces (a bitmap scan is the only plan it has), so the
  // generic plan is the one a fresh plan would be.
  const bool one_time = pg && plan.filter == NameFilter::kTrigram;

  return pool_->Run("project list", [&](soci::session& sql) -> Result<ProjectPage> {
    // SQLite: one read transaction, so the count and the page come from one snapshot. On
    // PostgreSQL (READ COMMITTED) a BEGIN would not give that, only two more round trips.
    std::optional<Transaction> tx;
    if (!pg) tx.emplace(sql, *pool_, Transaction::Kind::kRead);
    ProjectPage page;
    auto on_row = [&](const ProjectRow& row) -> Result<void> {
      MARKET_ASSIGN_OR_RETURN(auto project, ToProject(row, query.with_pipeline));
      page.projects.push_back(std::move(project));
      return {};
    };
    // This session's prepared statement of the shape, under `key`.
    auto prepared = [&]<class Query>(std::type_identity<Query>, const std::string& key) -> Query& {
      return pool_->Prepared<Query>(
          sql, key, [&] { return std::make_unique<Query>(sql, queries, plan, pg, false); });
    };
    if (filtered) {
      auto one_pass =
          one_time ? FilteredPageQuery(sql, queries, plan, pg, true).Fetch(arguments, on_row)
                   : prepared(std::type_identity<FilteredPageQuery>(),
                              "project filtered page " + ShapeKey(plan, true))
                         .Fetch(arguments, on_row);
      if (!one_pass) return std::unexpected(one_pass.error());
      if (one_pass->has_value()) {
        page.total_count = **one_pass;
        if (tx) tx->Commit();
        return page;
      }
    }
    Result<void> fetched;
    if (one_time) {
      page.total_count = ProjectCountQuery(sql, queries, plan, pg, true).Count(arguments);
      fetched = ProjectPageQuery(sql, queries, plan, pg, true).Fetch(arguments, on_row);
    } else {
      page.total_count = prepared(std::type_identity<ProjectCountQuery>(),
                                  "project count " + ShapeKey(plan, false))
                             .Count(arguments);
      fetched = prepared(std::type_identity<ProjectPageQuery>(), "project page " + ShapeKey(plan, true))
                    .Fetch(arguments, on_row);
    }
    if (!fetched) return std::unexpected(fetched.error());
    if (tx) tx->Commit();
    return page;
  });
}

Result<void> SqlProjectStore::Ping() {
  return pool_->Run("ping", [&](soci::session& sql) -> Result<void> {
    int one = 0;
    sql << "SELECT 1", soci::into(one);
    if (one != 1) return Fail(Errc::kUnavailable, "database ping answered unexpectedly");
    return {};
  });
}

}  // namespace market::sql
