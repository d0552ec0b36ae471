// SqlProjectStore: projects in SQLite or PostgreSQL. Every user value is a bound parameter.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "market/pipeline_json.hpp"
#include "sql/project_row.hpp"
#include "sql/sql_stores.hpp"

namespace market::sql {

namespace {

// The order of these into() calls matches kProjectColumns.
void IntoRow(soci::statement& st, ProjectRow& row) {
  st.exchange(soci::into(row.name));
  st.exchange(soci::into(row.creator));
  st.exchange(soci::into(row.create_time));
  st.exchange(soci::into(row.last_modify_time));
  st.exchange(soci::into(row.last_modify_operator));
  st.exchange(soci::into(row.cluster));
  st.exchange(soci::into(row.define_type));
  st.exchange(soci::into(row.pipeline));
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
  explicit ProjectByName(soci::session& sql) : st_(sql) {
    IntoRow(st_, row_);
    st_.exchange(soci::use(key_, "name"));
    st_.alloc();
    st_.prepare(std::string("SELECT ") + kProjectColumns + " FROM projects WHERE name = :name");
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
      sql, "project by name", [&sql] { return std::make_unique<ProjectByName>(sql); });
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

// `text` as a LIKE pattern that matches exactly itself (the escape character is `\`).
std::string EscapeLike(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 4);
  for (char c : text) {
    if (c == '\\' || c == '%' || c == '_') out += '\\';
    out += c;
  }
  return out;
}

// Calls `on_run` with each maximal run of ASCII letters and digits in `text`, in order.
template <class OnRun>
void ForEachWordRun(std::string_view text, OnRun&& on_run) {
  auto word = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  for (std::size_t i = 0; i < text.size();) {
    if (!word(text[i])) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < text.size() && word(text[j])) ++j;
    on_run(text.substr(i, j - i));
    i = j;
  }
}

// The longest run of ASCII letters and digits in a filter (empty when it has none).
std::string_view LongestWordRun(std::string_view filter) {
  std::string_view best;
  ForEachWordRun(filter, [&best](std::string_view run) {
    if (run.size() > best.size()) best = run;
  });
  return best;
}

// The piece of a literal substring filter a trigram index is asked for: the longest run of
// ASCII letters and digits in it, when it has at least 3 (one trigram), else the filter.
// pg_trgm cuts a pattern into words at every other character, and a word's edges become
// trigrams of their own ("  0", "ch "); with FTS5 the separators' trigrams ("ch-", "-00")
// are what every name like `team-service-0042` has. Either way the index would read posting
// lists as long as the table. The run is a substring of the filter, so matching it is a
// necessary condition; strpos()/instr() then check the filter exactly.
std::string_view IndexedPiece(std::string_view filter) {
  std::string_view run = LongestWordRun(filter);
  return run.size() >= 3 ? run : filter;
}

std::string IndexPattern(std::string_view filter) {
  return "%" + EscapeLike(IndexedPiece(filter)) + "%";
}

// Both backends index every 5-character piece of a name's runs of ASCII letters and digits
// (PostgreSQL: project_name_grams, migration 7; SQLite: project_name_pieces, migration 8). A
// filter with such a run asks that index: a name holding the filter holds each of its runs'
// pieces, and they are far rarer than trigrams.
constexpr std::size_t kGramLength = 5;

// The filter's pieces, in order (a repeated one is harmless to both indexes' queries).
std::vector<std::string_view> FilterPieces(std::string_view filter) {
  std::vector<std::string_view> pieces;
  ForEachWordRun(filter, [&pieces](std::string_view run) {
    for (std::size_t i = 0; i + kGramLength <= run.size(); ++i) {
      pieces.push_back(run.substr(i, kGramLength));
    }
  });
  return pieces;
}

// PostgreSQL: the pieces as a text[] literal, "{bench,00042}": what project_name_grams(filter)
// gives, cut here so that PostgreSQL does not plan and run that SQL function on every list
// (that halved the statement's throughput). Letters and digits need no quoting.
std::string PgTextArray(const std::vector<std::string_view>& pieces) {
  std::string literal = "{";
  for (std::string_view piece : pieces) {
    if (literal.size() > 1) literal += ',';
    literal += piece;
  }
  return literal + '}';
}

// SQLite: an FTS5 query for rows holding every piece: "bench" "00042".
std::string FtsAllOf(const std::vector<std::string_view>& pieces) {
  std::string query;
  for (std::string_view piece : pieces) {
    if (!query.empty()) query += ' ';
    query += '"';
    query += piece;
    query += '"';
  }
  return query;
}

// The values a list statement binds.
struct ListArguments {
  std::string literal;
  std::string pattern;  // PostgreSQL's LIKE pattern for the trigram index
  std::string grams;    // the filter's 5-character pieces: a text[] or an FTS5 query
  std::string fts;      // SQLite's FTS5 query: the filter as one quoted string
  std::string after;
  long long offset = 0;
  long long limit = 0;
};

// Which of the list's statements a query needs. Each shape's statements are prepared once per
// pooled session (SessionPool::Prepared), as the point read is: SQLite's parser cost more than
// the rest of a list request.
struct ListShape {
  bool postgres = false;
  bool filtered = false;  // a name substring
  bool trigram = false;   // SQLite: the filter asks the trigram index
  bool grams = false;     // the filter has a run for the index of 5-character pieces
  bool after = false;     // a keyset cursor
  bool offset = false;    // a page past the first without a cursor

  std::string Key() const {
    return std::string("project page ") + (filtered ? "f" : "-") + (trigram ? "t" : "-") +
           (grams ? "g" : "-") + (after ? "a" : "-") + (offset ? "o" : "-");
  }
  std::string CountKey() const {
    return std::string("project count ") + (filtered ? "f" : "-") + (trigram ? "t" : "-") +
           (grams ? "g" : "-");
  }
  // The filter is a literal substring: strpos()/instr() give `%` and `_` no meaning. A
  // filter with a run of 5 letters or digits asks the index of pieces for candidates
  // (migrations 7 and 8). Else, on PostgreSQL a LIKE on a piece of it asks the trigram index
  // (migration 3; see IndexPattern), and on SQLite a filter of three characters or more asks
  // the FTS5 trigram index (migration 5); a shorter one scans.
  std::string Match(const std::string& suffix) const {
    const std::string exact_pg = "strpos(name, :lit" + suffix + ") > 0";
    if (postgres && grams) {
      return "project_name_grams(name) @> CAST(:grm" + suffix + " AS text[]) AND " + exact_pg;
    }
    if (postgres) return "name LIKE :pat" + suffix + R"( ESCAPE '\' AND )" + exact_pg;
    std::string exact = "instr(name, :lit" + suffix + ") > 0";
    if (grams) {
      return "id IN (SELECT rowid FROM project_name_pieces WHERE project_name_pieces MATCH :grm" +
             suffix + ") AND " + exact;
    }
    if (!trigram) return exact;
    return "id IN (SELECT rowid FROM project_names WHERE project_names MATCH :fts" + suffix +
           ") AND " + exact;
  }
  // Binds the filter's values under their names in `st`.
  void BindFilter(soci::statement& st, ListArguments& a, const std::string& suffix) const {
    if (grams) st.exchange(soci::use(a.grams, "grm" + suffix));
    if (postgres && !grams) st.exchange(soci::use(a.pattern, "pat" + suffix));
    if (trigram) st.exchange(soci::use(a.fts, "fts" + suffix));
    st.exchange(soci::use(a.literal, "lit" + suffix));
  }
};

// Characters, not bytes: the trigram tokenizer works on Unicode characters.
std::size_t Utf8Length(std::string_view text) {
  std::size_t n = 0;
  for (unsigned char c : text) n += (c & 0xC0) != 0x80 ? 1 : 0;
  return n;
}

// The filter as an FTS5 string literal: within double quotes every character is literal, and
// a double quote is written twice.
std::string FtsPhrase(std::string_view filter) {
  std::string out = "\"";
  for (char c : filter) {
    out += c;
    if (c == '"') out += '"';
  }
  out += '"';
  return out;
}

// The page's total: unfiltered, the counter the triggers of migration 3 keep, not a scan of the
// table. Filtered: an exact count of the matches (found through a gram index), whose cost
// grows with the number of matches, not with the table; see docs/performance.md.
class ProjectCountQuery final : public CachedStatement {
 public:
  ProjectCountQuery(soci::session& sql, const ListShape& shape, bool one_time) : st_(sql) {
    st_.exchange(soci::into(total_));
    std::string text;
    if (shape.filtered) {
      shape.BindFilter(st_, bound_, "");
      text = "SELECT COUNT(*) FROM projects WHERE " + shape.Match("");
    } else if (shape.postgres) {
      text = "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM project_count";
    } else {
      text = "SELECT n FROM project_count WHERE id = 1";
    }
    st_.alloc();
    st_.prepare(text, one_time ? soci::details::st_one_time_query
                               : soci::details::st_repeatable_query);
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

// One page of rows in name order. A page past the first skips `offset` names in the name
// index alone (an index-only scan on PostgreSQL once the table is vacuumed, the covering unique
// index on SQLite) and then reads only the rows it returns, instead of reading every skipped
// row in full.
class ProjectPageQuery final : public CachedStatement {
 public:
  ProjectPageQuery(soci::session& sql, const ListShape& shape, bool one_time) : st_(sql) {
    std::string where;
    auto and_where = [&where](const std::string& condition) {
      where += (where.empty() ? " WHERE " : " AND ") + condition;
    };
    if (shape.filtered) and_where(shape.Match(""));
    if (shape.after) and_where("name > :after");
    if (shape.offset) {
      and_where("name >= (SELECT name FROM projects" +
                (shape.filtered ? " WHERE " + shape.Match("2") : std::string()) +
                " ORDER BY name LIMIT 1 OFFSET :off)");
    }
    IntoRow(st_, row_);
    if (shape.filtered) shape.BindFilter(st_, bound_, "");
    if (shape.after) st_.exchange(soci::use(bound_.after, "after"));
    if (shape.offset) {
      // The same values under second names: a named parameter binds once per use.
      if (shape.filtered) shape.BindFilter(st_, bound2_, "2");
      st_.exchange(soci::use(bound_.offset, "off"));
    }
    st_.exchange(soci::use(bound_.limit, "lim"));
    st_.alloc();
    st_.prepare(std::string("SELECT ") + kProjectColumns + " FROM projects" + where +
                    " ORDER BY name LIMIT :lim",
                one_time ? soci::details::st_one_time_query : soci::details::st_repeatable_query);
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
// that each ask the trigram index (about half the cost: the index read is most of a selective
// filter's). The matches' names, at most kFilterScanCap of them, are materialized once; the
// count and the page's names come from that set, then only the page's rows are read. When the
// cap is reached, or the page is empty (past the end: no row carries the count), Fetch says so
// and the caller runs the count and the page separately; a filter that matches much of the
// table pays a capped scan more, a selective one half.
constexpr long long kFilterScanCap = 10000;

class FilteredPageQuery final : public CachedStatement {
 public:
  FilteredPageQuery(soci::session& sql, const ListShape& shape, bool one_time) : st_(sql) {
    // The page's names; the statement then reads only those rows.
    std::string page = "SELECT name FROM m";
    if (shape.after) page += " WHERE name > :after";
    page += " ORDER BY name LIMIT :lim";
    if (shape.offset) page += " OFFSET :off";
    st_.exchange(soci::into(total_));
    IntoRow(st_, row_);
    shape.BindFilter(st_, bound_, "");
    st_.exchange(soci::use(cap_, "cap"));
    if (shape.after) st_.exchange(soci::use(bound_.after, "after"));
    st_.exchange(soci::use(bound_.limit, "lim"));
    if (shape.offset) st_.exchange(soci::use(bound_.offset, "off"));
    st_.alloc();
    st_.prepare("WITH m AS MATERIALIZED (SELECT name FROM projects WHERE " + shape.Match("") +
                    " LIMIT :cap) SELECT (SELECT COUNT(*) FROM m), " + kProjectColumns +
                    " FROM projects WHERE name IN (" + page + ") ORDER BY name",
                one_time ? soci::details::st_one_time_query : soci::details::st_repeatable_query);
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
  auto pipeline = PipelineText(project.pipeline);
  if (!pipeline) return std::unexpected(pipeline.error());
  return pool_->Run("project insert", [&](soci::session& sql) -> Result<void> {
    Transaction tx(sql, *pool_, Transaction::Kind::kWrite);
    try {
      InsertRow(sql, project, *pipeline);
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
    if (!row) return Fail(Errc::kNotFound, "project not found: " + std::string(name));
    return ToProject(*row);
  });
}

Result<Project> SqlProjectStore::Save(const Project& project, SaveMode mode) {
  auto pipeline = PipelineText(project.pipeline);
  if (!pipeline) return std::unexpected(pipeline.error());
  return pool_->Run("project save", [&](soci::session& sql) -> Result<Project> {
    Transaction tx(sql, *pool_, Transaction::Kind::kWrite);
    if (mode == SaveMode::kAdd) {
      try {
        InsertRow(sql, project, *pipeline);
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
      std::string pipeline_text = *pipeline;
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
  if (query.page < 1 || query.page_size < 1) {
    return Fail(Errc::kInvalid, "page and page_size must be positive");
  }
  const bool pg = pool_->is_postgres();
  ListShape shape;
  shape.postgres = pg;
  shape.filtered = !query.name_filter.empty();
  shape.grams = LongestWordRun(query.name_filter).size() >= kGramLength;
  shape.trigram = !pg && !shape.grams && Utf8Length(IndexedPiece(query.name_filter)) >= 3;
  shape.after = query.after.has_value();
  // With a keyset cursor the page number is not used: the cursor already says where the
  // page starts, and its cost does not grow with the depth.
  const long long offset =
      query.after ? 0 : static_cast<long long>(query.page - 1) * query.page_size;
  shape.offset = offset > 0;
  ListArguments arguments;
  arguments.literal = query.name_filter;
  arguments.pattern =
      pg && shape.filtered && !shape.grams ? IndexPattern(query.name_filter) : std::string();
  if (shape.grams) {
    const auto pieces = FilterPieces(query.name_filter);
    arguments.grams = pg ? PgTextArray(pieces) : FtsAllOf(pieces);
  }
  arguments.fts = shape.trigram ? FtsPhrase(IndexedPiece(query.name_filter)) : std::string();
  arguments.after = query.after.value_or("");
  arguments.offset = offset;
  arguments.limit = query.page_size;

  return pool_->Run("project list", [&](soci::session& sql) -> Result<ProjectPage> {
    // SQLite: one read transaction, so the count and the page come from one snapshot. On
    // PostgreSQL (READ COMMITTED) a BEGIN would not give that, only two more round trips.
    std::optional<Transaction> tx;
    if (!pg) tx.emplace(sql, *pool_, Transaction::Kind::kRead);
    ProjectPage page;
    auto on_row = [&](const ProjectRow& row) -> Result<void> {
      auto project = ToProject(row, query.with_pipeline);
      if (!project) return std::unexpected(project.error());
      page.projects.push_back(std::move(*project));
      return {};
    };
    Result<void> fetched;
    if (shape.filtered) {
      // PostgreSQL's trigram shapes are planned afresh each time (see below). With grams the
      // statement is prepared: a GIN index answers `@>` whatever the pieces (a bitmap scan is
      // the only plan it has), so the generic plan is the one a fresh plan would be.
      auto one_pass =
          pg && !shape.grams
             ? FilteredPageQuery(sql, shape, true).Fetch(arguments, on_row)
             : pool_->Prepared<FilteredPageQuery>(sql, "filtered " + shape.Key(), [&] {
                 return std::make_unique<FilteredPageQuery>(sql, shape, false);
               }).Fetch(arguments, on_row);
      if (!one_pass) return std::unexpected(one_pass.error());
      if (one_pass->has_value()) {
        page.total_count = **one_pass;
        if (tx) tx->Commit();
        return page;
      }
    }
    if (pg && shape.filtered) {
      // Planned afresh each time: a prepared statement would soon get PostgreSQL's generic
      // plan, which cannot see how selective the pattern is and may walk the name index
      // instead of asking the trigram index.
      page.total_count = ProjectCountQuery(sql, shape, true).Count(arguments);
      fetched = ProjectPageQuery(sql, shape, true).Fetch(arguments, on_row);
    } else {
      auto& count = pool_->Prepared<ProjectCountQuery>(
          sql, shape.CountKey(),
          [&] { return std::make_unique<ProjectCountQuery>(sql, shape, false); });
      page.total_count = count.Count(arguments);
      auto& rows = pool_->Prepared<ProjectPageQuery>(sql, shape.Key(), [&] {
        return std::make_unique<ProjectPageQuery>(sql, shape, false);
      });
      fetched = rows.Fetch(arguments, on_row);
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
