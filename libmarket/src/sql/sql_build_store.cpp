// SqlBuildStore: builds, their logs and the claim queue in SQLite or PostgreSQL.

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sql/sql_stores.hpp"

namespace market::sql {

namespace {

constexpr const char* kBuildColumns =
    "id, project, tag, operator, image, digest, size, queued_at, started_at, finished_at, state, "
    "reason, log_pruned, cancel_requested, trigger_kind, trigger_id, trigger_ref, trigger_sha, "
    "trigger_repository, trigger_delivery, extra_tags, trigger_base_image, trigger_old_digest, "
    "trigger_new_digest, trigger_cause_build, base_images, no_cache";

// One builds row as SOCI binds it; the order of IntoRow matches kBuildColumns.
struct BuildRow {
  long long id = 0;
  std::string project;
  std::string tag;
  std::string operator_name;
  std::string image;
  std::string digest;
  long long size = 0;
  long long queued_at = 0;
  long long started_at = 0;
  soci::indicator started_ind = soci::i_null;
  long long finished_at = 0;
  soci::indicator finished_ind = soci::i_null;
  std::string state;
  std::string reason;
  int log_pruned = 0;
  int cancel_requested = 0;
  std::string trigger_kind;
  long long trigger_id = 0;
  std::string trigger_ref;
  std::string trigger_sha;
  std::string trigger_repository;
  std::string trigger_delivery;
  std::string extra_tags;  // space-separated (a tag holds no space)
  std::string trigger_base_image;
  std::string trigger_old_digest;
  std::string trigger_new_digest;
  long long trigger_cause_build = 0;
  std::string base_images;  // JSON: [{"image", "digest"}]
  int no_cache = 0;
};

void IntoRow(soci::statement& st, BuildRow& row) {
  st.exchange(soci::into(row.id));
  st.exchange(soci::into(row.project));
  st.exchange(soci::into(row.tag));
  st.exchange(soci::into(row.operator_name));
  st.exchange(soci::into(row.image));
  st.exchange(soci::into(row.digest));
  st.exchange(soci::into(row.size));
  st.exchange(soci::into(row.queued_at));
  st.exchange(soci::into(row.started_at, row.started_ind));
  st.exchange(soci::into(row.finished_at, row.finished_ind));
  st.exchange(soci::into(row.state));
  st.exchange(soci::into(row.reason));
  st.exchange(soci::into(row.log_pruned));
  st.exchange(soci::into(row.cancel_requested));
  st.exchange(soci::into(row.trigger_kind));
  st.exchange(soci::into(row.trigger_id));
  st.exchange(soci::into(row.trigger_ref));
  st.exchange(soci::into(row.trigger_sha));
  st.exchange(soci::into(row.trigger_repository));
  st.exchange(soci::into(row.trigger_delivery));
  st.exchange(soci::into(row.extra_tags));
  st.exchange(soci::into(row.trigger_base_image));
  st.exchange(soci::into(row.trigger_old_digest));
  st.exchange(soci::into(row.trigger_new_digest));
  st.exchange(soci::into(row.trigger_cause_build));
  st.exchange(soci::into(row.base_images));
  st.exchange(soci::into(row.no_cache));
}

std::string BaseImagesJson(const std::vector<BaseImage>& bases) {
  nlohmann::json out = nlohmann::json::array();
  for (const BaseImage& base : bases) {
    out.push_back({{"image", base.image}, {"digest", base.digest}});
  }
  return out.dump();
}

// Written by BaseImagesJson only; anything else reads as no base images.
std::vector<BaseImage> ParseBaseImages(std::string_view text) {
  std::vector<BaseImage> bases;
  nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!json.is_array()) return bases;
  for (const auto& item : json) {
    if (!item.is_object()) continue;
    BaseImage base;
    base.image = item.value("image", "");
    base.digest = item.value("digest", "");
    bases.push_back(std::move(base));
  }
  return bases;
}

std::string JoinTags(const std::vector<std::string>& tags) {
  std::string out;
  for (const auto& tag : tags) {
    if (!out.empty()) out += ' ';
    out += tag;
  }
  return out;
}

std::vector<std::string> SplitTags(std::string_view text) {
  std::vector<std::string> tags;
  while (!text.empty()) {
    auto space = text.find(' ');
    if (space != 0) tags.emplace_back(text.substr(0, space));
    if (space == std::string_view::npos) break;
    text.remove_prefix(space + 1);
  }
  return tags;
}

Result<Build> ToBuild(const BuildRow& row) {
  Build build;
  build.id = row.id;
  build.project = row.project;
  build.tag = row.tag;
  build.operator_name = row.operator_name;
  build.image = row.image;
  build.digest = row.digest;
  build.size = row.size;
  build.queued_at = FromMs(row.queued_at);
  if (row.started_ind == soci::i_ok) build.started_at = FromMs(row.started_at);
  if (row.finished_ind == soci::i_ok) build.finished_at = FromMs(row.finished_at);
  auto state = ParseBuildState(row.state);
  if (!state) {
    return Fail(Errc::kInternal,
                "build " + std::to_string(row.id) + " has an unknown state " + row.state);
  }
  build.state = *state;
  build.reason = row.reason;
  build.log_pruned = row.log_pruned != 0;
  build.cancel_requested = row.cancel_requested != 0;
  build.trigger.kind = row.trigger_kind;
  build.trigger.trigger_id = row.trigger_id;
  build.trigger.ref = row.trigger_ref;
  build.trigger.sha = row.trigger_sha;
  build.trigger.repository = row.trigger_repository;
  build.trigger.delivery_id = row.trigger_delivery;
  build.extra_tags = SplitTags(row.extra_tags);
  build.trigger.base_image = row.trigger_base_image;
  build.trigger.old_digest = row.trigger_old_digest;
  build.trigger.new_digest = row.trigger_new_digest;
  build.trigger.cause_build_id = row.trigger_cause_build;
  build.base_images = ParseBaseImages(row.base_images);
  build.no_cache = row.no_cache != 0;
  return build;
}

// The bind names of a state filter's IN list: one per state at most.
constexpr std::array<const char*, 5> kStateParams = {"s0", "s1", "s2", "s3", "s4"};

// Runs a prepared statement bound to `row`; every row it yields, as builds.
Result<std::vector<Build>> FetchAll(soci::statement& st, BuildRow& row) {
  st.define_and_bind();
  st.execute(false);
  std::vector<Build> builds;
  while (st.fetch()) {
    MARKET_ASSIGN_OR_RETURN(auto build, ToBuild(row));
    builds.push_back(std::move(build));
    row.started_ind = soci::i_null;
    row.finished_ind = soci::i_null;
  }
  return builds;
}

// Fails, in one UPDATE, the running builds `condition` picks; `st` is bound to `row`, to :rs (the
// reason), :fin (finished_at) and the condition's names. A build another instance failed first
// is no longer running, so each is failed, and returned, once. Returns them by id.
Result<std::vector<Build>> FailRunning(soci::session& sql, SessionPool& pool, soci::statement& st,
                                       BuildRow& row, std::string_view condition) {
  Transaction tx(sql, pool, Transaction::Kind::kWrite);
  st.alloc();
  st.prepare(std::string("UPDATE builds SET state = 'failed', reason = :rs, finished_at = :fin, "
                         "lease_until = NULL WHERE state = 'running' AND ") +
             std::string(condition) + " RETURNING " + kBuildColumns);
  MARKET_ASSIGN_OR_RETURN(auto builds, FetchAll(st, row));
  tx.Commit();
  std::sort(builds.begin(), builds.end(),
            [](const Build& a, const Build& b) { return a.id < b.id; });
  return builds;
}

std::optional<BuildRow> SelectBuild(soci::session& sql, long long id, bool for_update,
                                    bool postgres) {
  BuildRow row;
  long long key = id;
  soci::statement st(sql);
  IntoRow(st, row);
  st.exchange(soci::use(key, "id"));
  st.alloc();
  st.prepare(std::string("SELECT ") + kBuildColumns + " FROM builds WHERE id = :id" +
             (for_update && postgres ? " FOR UPDATE" : ""));
  st.define_and_bind();
  if (!st.execute(true)) return std::nullopt;
  return row;
}

Result<Build> GetBuild(soci::session& sql, long long id, bool postgres) {
  auto row = SelectBuild(sql, id, false, postgres);
  if (!row) return Fail(Errc::kBuildNotFound, "build not found: " + std::to_string(id));
  return ToBuild(*row);
}

// The longest prefix of `text` not longer than `max_bytes` that does not split a UTF-8
// character; at least one whole character when max_bytes is smaller than the first one.
std::size_t Utf8Cut(const std::string& text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return text.size();
  std::size_t cut = max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  if (cut == 0) {
    cut = 1;
    while (cut < text.size() && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) ++cut;
  }
  return cut;
}

std::string BuildIdText(std::int64_t id) { return "build not found: " + std::to_string(id); }

// A pruned build's log: kPrunedLogText stands for all of it, so offsets and `finished` work as
// for any finished build (a reader already past its end just finishes).
LogChunk PrunedLog(std::int64_t offset, std::int64_t max_bytes) {
  const std::string text(kPrunedLogText);
  LogChunk chunk;
  chunk.next_offset = offset;
  if (offset < static_cast<std::int64_t>(text.size())) {
    std::string rest = text.substr(static_cast<std::size_t>(offset));
    rest.resize(Utf8Cut(rest, static_cast<std::size_t>(max_bytes)));
    chunk.next_offset = offset + static_cast<std::int64_t>(rest.size());
    chunk.text = std::move(rest);
  }
  chunk.finished = chunk.next_offset >= static_cast<std::int64_t>(text.size());
  return chunk;
}

}  // namespace

std::string SanitizeUtf8(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  const std::size_t n = in.size();
  std::size_t i = 0;
  while (i < n) {
    unsigned char c = p[i];
    if (c == 0) {
      ++i;
      continue;
    }
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    std::size_t len = 0;
    unsigned int cp = 0;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    }
    bool ok = len != 0 && i + len <= n;
    for (std::size_t k = 1; ok && k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) ok = false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are invalid too.
    if (ok && ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
               (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))) {
      ok = false;
    }
    if (ok) {
      out.append(in.substr(i, len));
      i += len;
    } else {
      out.append("\xEF\xBF\xBD");
      ++i;
    }
  }
  return out;
}

Result<Build> SqlBuildStore::Enqueue(const Build& build) {
  return pool_->Run("build enqueue", [&](soci::session& sql) -> Result<Build> {
    const bool pg = pool_->is_postgres();
    Transaction tx(sql, *pool_, Transaction::Kind::kWrite);
    std::string project = build.project;
    long long project_id = 0;
    // FOR KEY SHARE: a concurrent Remove (FOR UPDATE) waits until this build is committed and
    // then refuses with kBuildActive, instead of deleting the project under a new build.
    sql << (pg ? "SELECT id FROM projects WHERE name = :n FOR KEY SHARE"
               : "SELECT id FROM projects WHERE name = :n"),
        soci::use(project), soci::into(project_id);
    if (!sql.got_data()) {
      return Fail(Errc::kBuildProjectMissing, "project does not exist: " + project);
    }
    std::string tag = build.tag;
    std::string operator_name = build.operator_name;
    std::string image = build.image;
    long long queued_at = ToMs(build.queued_at);
    const BuildTrigger& trigger = build.trigger;
    std::string kind = trigger.kind, ref = trigger.ref, sha = trigger.sha;
    std::string repository = trigger.repository, delivery = trigger.delivery_id;
    long long trigger_id = trigger.trigger_id;
    std::string extra_tags = JoinTags(build.extra_tags);
    std::string base_image = trigger.base_image, old_digest = trigger.old_digest;
    std::string new_digest = trigger.new_digest;
    long long cause_build = trigger.cause_build_id;
    std::string base_images = BaseImagesJson(build.base_images);
    int no_cache = build.no_cache ? 1 : 0;
    long long id = 0;
    try {
      sql << "INSERT INTO builds (project_id, project, tag, operator, image, queued_at, state, "
             "trigger_kind, trigger_id, trigger_ref, trigger_sha, trigger_repository, "
             "trigger_delivery, extra_tags, trigger_base_image, trigger_old_digest, "
             "trigger_new_digest, trigger_cause_build, base_images, no_cache) "
             "VALUES (:pid, :project, :tag, :op, :image, :queued, 'queued', :tk, :tid, :tref, "
             ":tsha, :trepo, :tdel, :extra, :tbase, :told, :tnew, :tcause, :bases, :nocache) "
             "RETURNING id",
          soci::use(project_id), soci::use(project), soci::use(tag), soci::use(operator_name),
          soci::use(image), soci::use(queued_at), soci::use(kind), soci::use(trigger_id),
          soci::use(ref), soci::use(sha), soci::use(repository), soci::use(delivery),
          soci::use(extra_tags), soci::use(base_image), soci::use(old_digest),
          soci::use(new_digest), soci::use(cause_build), soci::use(base_images),
          soci::use(no_cache), soci::into(id);
    } catch (const soci::soci_error& e) {
      // Only the trigger indexes are unique on builds: this event has its build already.
      if (IsUniqueViolation(e)) {
        return Fail(Errc::kAlreadyExists, "the trigger's event has a build already");
      }
      throw;
    }
    auto stored = GetBuild(sql, id, pg);
    if (!stored) return stored;
    tx.Commit();
    return stored;
  });
}

Result<Build> SqlBuildStore::Get(std::int64_t id) {
  return pool_->Run("build get", [&](soci::session& sql) -> Result<Build> {
    return GetBuild(sql, id, pool_->is_postgres());
  });
}

Result<std::optional<Build>> SqlBuildStore::FindTriggered(const Build& build) {
  const BuildTrigger& trigger = build.trigger;
  const bool by_commit = trigger.kind == "git-push" && !trigger.sha.empty();
  if (trigger.trigger_id == 0 || (trigger.delivery_id.empty() && !by_commit)) {
    return std::optional<Build>();
  }
  return pool_->Run("build find triggered", [&](soci::session& sql) -> Result<std::optional<Build>> {
    BuildRow row;
    long long trigger_id = trigger.trigger_id;
    std::string delivery = trigger.delivery_id, sha = trigger.sha, tag = build.tag;
    int commit = by_commit ? 1 : 0;
    soci::statement st(sql);
    IntoRow(st, row);
    st.exchange(soci::use(trigger_id, "tid"));
    st.exchange(soci::use(delivery, "del"));
    std::string delivery_again = delivery;  // a name is bound once
    st.exchange(soci::use(delivery_again, "del2"));
    st.exchange(soci::use(sha, "sha"));
    st.exchange(soci::use(tag, "tag"));
    st.exchange(soci::use(commit, "commit"));
    st.alloc();
    // The same two keys as the unique indexes of migration 12.
    st.prepare(std::string("SELECT ") + kBuildColumns +
               " FROM builds WHERE trigger_id = :tid AND ((:del <> '' AND trigger_delivery = :del2)"
               " OR (:commit = 1 AND trigger_kind = 'git-push' AND trigger_sha = :sha AND "
               "tag = :tag)) ORDER BY id LIMIT 1");
    MARKET_ASSIGN_OR_RETURN(auto builds, FetchAll(st, row));
    if (builds.empty()) return std::optional<Build>();
    return std::optional<Build>(std::move(builds.front()));
  });
}

Result<BuildPage> SqlBuildStore::ListForProject(std::string_view project, int page, int page_size) {
  if (page < 1 || page_size < 1) return Fail(Errc::kInvalid, "page and page_size must be positive");
  return pool_->Run("build history", [&](soci::session& sql) -> Result<BuildPage> {
    std::string name(project);
    long long limit = page_size;
    long long offset = static_cast<long long>(page - 1) * page_size;
    Transaction tx(sql, *pool_, Transaction::Kind::kRead);
    BuildPage result;
    long long total = 0;
    sql << "SELECT COUNT(*) FROM builds WHERE project_id = "
           "(SELECT id FROM projects WHERE name = :p)",
        soci::use(name), soci::into(total);
    result.total_count = total;
    BuildRow row;
    soci::statement st(sql);
    IntoRow(st, row);
    st.exchange(soci::use(name, "p"));
    st.exchange(soci::use(limit, "lim"));
    st.exchange(soci::use(offset, "off"));
    st.alloc();
    st.prepare(std::string("SELECT ") + kBuildColumns +
               " FROM builds WHERE project_id = (SELECT id FROM projects WHERE name = :p) "
               "ORDER BY id DESC LIMIT :lim OFFSET :off");
    MARKET_ASSIGN_OR_RETURN(result.builds, FetchAll(st, row));
    tx.Commit();
    return result;
  });
}

Result<std::vector<Build>> SqlBuildStore::List(const BuildFilter& filter) {
  if (filter.limit < 1) return Fail(Errc::kInvalid, "limit must be positive");
  if (filter.states.size() > kStateParams.size()) {
    return Fail(Errc::kInvalid, "too many states in one filter");
  }
  return pool_->Run("build list", [&](soci::session& sql) -> Result<std::vector<Build>> {
    // Each filter adds one fixed condition and binds only its own names; the statement has one
    // shape per combination of filters given, each served by an index: builds_project,
    // builds_queue, builds_operator or the primary key.
    std::vector<std::string> conditions;
    std::vector<std::string> states;
    for (BuildState state : filter.states) states.emplace_back(ToString(state));
    std::string project = filter.project;
    std::string operator_name = filter.operator_name;
    long long before = filter.before_id.value_or(0);
    long long limit = filter.limit;
    BuildRow row;
    soci::statement st(sql);
    IntoRow(st, row);
    if (!project.empty()) {
      conditions.emplace_back("project_id = (SELECT id FROM projects WHERE name = :project)");
      st.exchange(soci::use(project, "project"));
    }
    if (!states.empty()) {
      std::string in;
      for (std::size_t i = 0; i < states.size(); ++i) {
        in += (i == 0 ? ":" : ", :") + std::string(kStateParams[i]);
        st.exchange(soci::use(states[i], kStateParams[i]));
      }
      conditions.push_back("state IN (" + in + ")");
    }
    if (!operator_name.empty()) {
      conditions.emplace_back("operator = :operator");
      st.exchange(soci::use(operator_name, "operator"));
    }
    if (filter.before_id) {
      conditions.emplace_back("id < :before");
      st.exchange(soci::use(before, "before"));
    }
    st.exchange(soci::use(limit, "lim"));
    std::string where;
    for (const std::string& condition : conditions) {
      where += (where.empty() ? " WHERE " : " AND ") + condition;
    }
    st.alloc();
    st.prepare(std::string("SELECT ") + kBuildColumns + " FROM builds" + where +
               " ORDER BY id DESC LIMIT :lim");
    return FetchAll(st, row);
  });
}

Result<std::optional<Build>> SqlBuildStore::ClaimNext(std::string_view worker, TimePoint now,
                                                      TimePoint lease_until) {
  using Claimed = std::optional<Build>;
  return pool_->Run("build claim", [&](soci::session& sql) -> Result<Claimed> {
    const bool pg = pool_->is_postgres();
    std::string worker_name(worker);
    long long started = ToMs(now);
    long long lease = ToMs(lease_until);
    // PostgreSQL: locking the candidate build AND its project row (SKIP LOCKED) means two
    // claimers never take builds of one project at once; the running-build check is then
    // repeated under the project lock, because the candidate query's snapshot may predate a
    // claim that committed while we waited. A few rounds settle any such race.
    for (int round = 0; round < 8; ++round) {
      Transaction tx(sql, *pool_, Transaction::Kind::kWrite);
      long long id = 0;
      long long project_id = 0;
      if (pg) {
        sql << "SELECT b.id, b.project_id FROM builds b JOIN projects p ON p.id = b.project_id "
               "WHERE b.state = 'queued' AND NOT EXISTS (SELECT 1 FROM builds r "
               "WHERE r.project_id = b.project_id AND r.state = 'running') "
               "ORDER BY b.id LIMIT 1 FOR NO KEY UPDATE OF b, p SKIP LOCKED",
            soci::into(id), soci::into(project_id);
      } else {
        // BEGIN IMMEDIATE already serializes every writer.
        sql << "SELECT b.id, b.project_id FROM builds b WHERE b.state = 'queued' AND NOT EXISTS "
               "(SELECT 1 FROM builds r WHERE r.project_id = b.project_id "
               "AND r.state = 'running') ORDER BY b.id LIMIT 1",
            soci::into(id), soci::into(project_id);
      }
      if (!sql.got_data()) {
        tx.Commit();
        return Claimed{};
      }
      if (pg) {
        long long running = 0;
        sql << "SELECT COUNT(*) FROM builds WHERE project_id = :pid AND state = 'running'",
            soci::use(project_id), soci::into(running);
        if (running > 0) continue;  // rolled back; the next round's snapshot sees that build
      }
      long long claimed = Execute(
          sql,
          "UPDATE builds SET state = 'running', worker = :w, started_at = :s, lease_until = :l "
          "WHERE id = :id AND state = 'queued'",
          soci::use(worker_name, "w"), soci::use(started, "s"), soci::use(lease, "l"),
          soci::use(id, "id"));
      if (claimed != 1) continue;
      MARKET_ASSIGN_OR_RETURN(auto build, GetBuild(sql, id, pg));
      tx.Commit();
      return Claimed{std::move(build)};
    }
    return Claimed{};
  });
}

Result<bool> SqlBuildStore::Heartbeat(std::int64_t id, std::string_view worker,
                                      TimePoint lease_until) {
  return pool_->Run("build heartbeat", [&](soci::session& sql) -> Result<bool> {
    long long key = id;
    long long lease = ToMs(lease_until);
    std::string worker_name(worker);
    long long n = Execute(sql,
                          "UPDATE builds SET lease_until = :l WHERE id = :id AND state = 'running' "
                          "AND worker = :w",
                          soci::use(lease, "l"), soci::use(key, "id"), soci::use(worker_name, "w"));
    return n == 1;
  });
}

Result<void> SqlBuildStore::RecordBaseImages(std::int64_t id,
                                            const std::vector<BaseImage>& bases) {
  std::string json = BaseImagesJson(bases);
  return pool_->Run("build base images", [&](soci::session& sql) -> Result<void> {
    long long key = id;
    long long found = 0;
    sql << "UPDATE builds SET base_images = :bases WHERE id = :id RETURNING id", soci::use(json),
        soci::use(key), soci::into(found);
    if (!sql.got_data()) return Fail(Errc::kBuildNotFound, BuildIdText(id));
    return {};
  });
}

Result<void> SqlBuildStore::AppendLog(std::int64_t id, std::string_view text) {
  std::string clean = SanitizeUtf8(text);
  return pool_->Run("build log append", [&](soci::session& sql) -> Result<void> {
    Transaction tx(sql, *pool_, Transaction::Kind::kWrite);
    long long key = id;
    long long bytes = static_cast<long long>(clean.size());
    long long size = 0;
    long long chunks = 0;
    int pruned = 0;
    // The UPDATE locks the build row, so concurrent appends to one build get distinct,
    // gapless offsets; the log itself only ever grows by new rows.
    sql << "UPDATE builds SET log_size = log_size + :n, log_chunks = log_chunks + 1 "
           "WHERE id = :id RETURNING log_size, log_chunks, log_pruned",
        soci::use(bytes), soci::use(key), soci::into(size), soci::into(chunks), soci::into(pruned);
    if (!sql.got_data()) return Fail(Errc::kBuildNotFound, BuildIdText(id));
    // Nothing to store, or a pruned log (a worker that lost its lease may write on): the guard
    // rolls the no-op back.
    if (clean.empty() || pruned != 0) return {};
    long long start = size - bytes;
    sql << "INSERT INTO build_logs (build_id, seq, byte_offset, text) "
           "VALUES (:id, :seq, :off, :text)",
        soci::use(key), soci::use(chunks), soci::use(start), soci::use(clean);
    tx.Commit();
    return {};
  });
}

Result<LogChunk> SqlBuildStore::ReadLog(std::int64_t id, std::int64_t offset,
                                        std::int64_t max_bytes) {
  if (offset < 0) return Fail(Errc::kInvalid, "log offset must not be negative");
  if (max_bytes < 1) return Fail(Errc::kInvalid, "log max_bytes must be positive");
  return pool_->Run("build log read", [&](soci::session& sql) -> Result<LogChunk> {
    long long key = id;
    std::string state_text;
    long long size = 0;
    int pruned = 0;
    // State and size first: every chunk appended before the build finished is then within
    // `size`, so `finished` is only reported once the reader has all of it.
    sql << "SELECT state, log_size, log_pruned FROM builds WHERE id = :id", soci::use(key),
        soci::into(state_text), soci::into(size), soci::into(pruned);
    if (!sql.got_data()) return Fail(Errc::kBuildNotFound, BuildIdText(id));
    auto state = ParseBuildState(state_text);
    if (!state) return Fail(Errc::kInternal, "build has an unknown state " + state_text);
    if (pruned != 0) return PrunedLog(offset, max_bytes);

    LogChunk chunk;
    chunk.next_offset = offset;
    if (offset < size) {
      long long from = offset;
      long long seq = 0;
      sql << "SELECT seq FROM build_logs WHERE build_id = :id AND byte_offset <= :off "
             "ORDER BY byte_offset DESC LIMIT 1",
          soci::use(key), soci::use(from), soci::into(seq);
      if (!sql.got_data()) return Fail(Errc::kInternal, "build log has no chunk at its start");
      // Collects whole chunks from the one holding `offset` until max_bytes (plus one
      // character's slack) is covered, a page of rows at a time.
      const long long want = std::min<long long>(size - offset, max_bytes + 4);
      std::string text;
      bool more = true;
      while (more && static_cast<long long>(text.size()) < want) {
        long long row_seq = 0;
        long long row_offset = 0;
        std::string row_text;
        long long first = seq;
        soci::statement st(sql);
        st.exchange(soci::into(row_seq));
        st.exchange(soci::into(row_offset));
        st.exchange(soci::into(row_text));
        st.exchange(soci::use(key, "id"));
        st.exchange(soci::use(first, "seq"));
        st.alloc();
        st.prepare(
            "SELECT seq, byte_offset, text FROM build_logs WHERE build_id = :id AND seq >= :seq "
            "ORDER BY seq LIMIT 64");
        st.define_and_bind();
        st.execute(false);
        int rows = 0;
        while (st.fetch()) {
          ++rows;
          seq = row_seq + 1;
          if (row_offset >= size) {
            more = false;
            break;
          }
          long long skip = std::max<long long>(0, offset - row_offset);
          long long end =
              std::min<long long>(row_offset + static_cast<long long>(row_text.size()), size);
          if (end > row_offset + skip) {
            text.append(row_text, static_cast<std::size_t>(skip),
                        static_cast<std::size_t>(end - row_offset - skip));
          }
          if (static_cast<long long>(text.size()) >= want) break;
        }
        if (rows < 64) more = false;
      }
      std::size_t cut = Utf8Cut(text, static_cast<std::size_t>(max_bytes));
      text.resize(cut);
      chunk.next_offset = offset + static_cast<long long>(text.size());
      chunk.text = std::move(text);
    }
    chunk.finished = IsFinished(*state) && chunk.next_offset >= size;
    return chunk;
  });
}

Result<Build> SqlBuildStore::Finish(std::int64_t id, const BuildResult& result, TimePoint now) {
  if (!IsFinished(result.state)) {
    return Fail(Errc::kInvalid, "a build finishes as succeeded, failed or cancelled");
  }
  return pool_->Run("build finish", [&](soci::session& sql) -> Result<Build> {
    const bool pg = pool_->is_postgres();
    Transaction tx(sql, *pool_, Transaction::Kind::kWrite);
    long long key = id;
    std::string state(ToString(result.state));
    std::string digest = result.digest;
    long long size = result.size;
    std::string reason = result.reason;
    long long finished = ToMs(now);
    long long n =
        Execute(sql,
                "UPDATE builds SET state = :st, digest = :dg, size = :sz, reason = :rs, "
                "finished_at = :fin, lease_until = NULL "
                "WHERE id = :id AND state = 'running'",
                soci::use(state, "st"), soci::use(digest, "dg"), soci::use(size, "sz"),
                soci::use(reason, "rs"), soci::use(finished, "fin"), soci::use(key, "id"));
    auto build = GetBuild(sql, id, pg);
    if (!build) return build;
    if (n != 1) {
      if (IsFinished(build->state)) {
        return Fail(Errc::kBuildFinished, "build " + std::to_string(id) + " already ended");
      }
      return Fail(Errc::kInvalid, "build " + std::to_string(id) + " is not running");
    }
    tx.Commit();
    return build;
  });
}

Result<Build> SqlBuildStore::RequestCancel(std::int64_t id, std::string_view reason,
                                           TimePoint now) {
  return pool_->Run("build cancel", [&](soci::session& sql) -> Result<Build> {
    const bool pg = pool_->is_postgres();
    Transaction tx(sql, *pool_, Transaction::Kind::kWrite);
    // Locked so a concurrent claim either happened before (we see running) or waits.
    auto row = SelectBuild(sql, id, /*for_update=*/true, pg);
    if (!row) return Fail(Errc::kBuildNotFound, BuildIdText(id));
    auto current = ToBuild(*row);
    if (!current) return current;
    if (IsFinished(current->state)) {
      return Fail(Errc::kBuildFinished, "build " + std::to_string(id) + " already ended");
    }
    long long key = id;
    std::string why(reason);
    if (current->state == BuildState::kQueued) {
      long long finished = ToMs(now);
      Execute(sql,
              "UPDATE builds SET state = 'cancelled', cancel_requested = 1, reason = :rs, "
              "finished_at = :fin WHERE id = :id",
              soci::use(why, "rs"), soci::use(finished, "fin"), soci::use(key, "id"));
    } else {
      Execute(sql, "UPDATE builds SET cancel_requested = 1, reason = :rs WHERE id = :id",
              soci::use(why, "rs"), soci::use(key, "id"));
    }
    auto build = GetBuild(sql, id, pg);
    if (!build) return build;
    tx.Commit();
    return build;
  });
}

Result<std::vector<Build>> SqlBuildStore::FailExpired(TimePoint now, std::string_view reason) {
  return pool_->Run("build expiry", [&](soci::session& sql) -> Result<std::vector<Build>> {
    long long at = ToMs(now);
    long long cutoff = ToMs(now);
    std::string why(reason);
    BuildRow row;
    soci::statement st(sql);
    IntoRow(st, row);
    st.exchange(soci::use(why, "rs"));
    st.exchange(soci::use(at, "fin"));
    st.exchange(soci::use(cutoff, "cut"));
    return FailRunning(sql, *pool_, st, row, "lease_until < :cut");
  });
}

Result<std::vector<Build>> SqlBuildStore::FailOwnedBy(std::string_view instance,
                                                      std::string_view reason, TimePoint now) {
  return pool_->Run("build takeover", [&](soci::session& sql) -> Result<std::vector<Build>> {
    long long at = ToMs(now);
    std::string why(reason);
    std::string exact(instance);
    // A prefix compare, not LIKE: worker names may hold '_' and '%'.
    std::string prefix = exact + "/";
    int prefix_length = static_cast<int>(prefix.size());
    BuildRow row;
    soci::statement st(sql);
    IntoRow(st, row);
    st.exchange(soci::use(why, "rs"));
    st.exchange(soci::use(at, "fin"));
    st.exchange(soci::use(exact, "w"));
    st.exchange(soci::use(prefix_length, "plen"));
    st.exchange(soci::use(prefix, "prefix"));
    return FailRunning(sql, *pool_, st, row, "(worker = :w OR substr(worker, 1, :plen) = :prefix)");
  });
}

Result<std::int64_t> SqlBuildStore::QueueDepth() {
  return pool_->Run("queue depth", [&](soci::session& sql) -> Result<std::int64_t> {
    long long n = 0;
    sql << "SELECT COUNT(*) FROM builds WHERE state = 'queued'", soci::into(n);
    return static_cast<std::int64_t>(n);
  });
}

Result<BuildStore::QueuedCounts> SqlBuildStore::CountQueued(std::string_view project,
                                                             std::string_view operator_name) {
  return pool_->Run("queued builds", [&](soci::session& sql) -> Result<QueuedCounts> {
    const std::string p(project), o(operator_name);
    long long for_project = 0, for_operator = 0;
    sql << "SELECT COALESCE(SUM(CASE WHEN project = :p THEN 1 ELSE 0 END), 0), "
           "COALESCE(SUM(CASE WHEN operator = :o THEN 1 ELSE 0 END), 0) "
           "FROM builds WHERE state = 'queued'",
        soci::use(p), soci::use(o), soci::into(for_project), soci::into(for_operator);
    return QueuedCounts{for_project, for_operator};
  });
}

Result<LogPruneBatch> SqlBuildStore::PruneLogs(const LogKeepRule& rule, std::int64_t after_id,
                                               int limit, TimePoint now) {
  if (limit < 1) return Fail(Errc::kInvalid, "the log prune limit must be positive");
  if (rule.newest_builds < 0) {
    return Fail(Errc::kInvalid, "newest_builds (build-log-keep) must not be negative");
  }
  if (rule.KeepsAll()) return LogPruneBatch{};
  return pool_->Run("build log prune", [&](soci::session& sql) -> Result<LogPruneBatch> {
    long long after = after_id;
    long long cutoff = rule.finished_since ? ToMs(*rule.finished_since) : 0;
    long long skip = rule.newest_builds - 1;
    long long bound = limit;
    std::vector<long long> ids;
    {
      long long id = 0;
      // Read before the write transaction, which SQLite allows one at a time: this costs a
      // look at a project's N newest builds for each build whose log is kept. A build the rule
      // stops keeping is never kept again, so the write only checks no one pruned it meanwhile.
      // builds_log_kept serves the read (SQLite takes a partial index only when the query
      // repeats its condition word for word). finished_at is set exactly when a build ends;
      // the state test keeps queued and running builds safe whatever.
      std::string query =
          "SELECT id FROM builds b WHERE log_pruned = 0 AND finished_at IS NOT NULL "
          "AND state NOT IN ('queued', 'running') AND id > :after";
      soci::statement st(sql);
      st.exchange(soci::into(id));
      st.exchange(soci::use(after, "after"));
      if (rule.finished_since) {
        query += " AND finished_at < :cutoff";
        st.exchange(soci::use(cutoff, "cutoff"));
      }
      if (rule.newest_builds > 0) {
        // Older than the project's N-th newest build, found through builds_project.
        query +=
            " AND id < (SELECT r.id FROM builds r WHERE r.project_id = b.project_id "
            "ORDER BY r.id DESC LIMIT 1 OFFSET :skip)";
        st.exchange(soci::use(skip, "skip"));
      }
      query += " ORDER BY id LIMIT :lim";
      st.exchange(soci::use(bound, "lim"));
      st.alloc();
      st.prepare(query);
      st.define_and_bind();
      st.execute(false);
      while (st.fetch()) ids.push_back(id);
    }  // the read is done before the write transaction begins

    LogPruneBatch batch;
    if (ids.empty()) return batch;
    long long at = ToMs(now);
    // Ascending ids: two instances pruning the same builds lock them in one order, and the one
    // that comes second finds them pruned.
    Transaction tx(sql, *pool_, Transaction::Kind::kWrite);
    for (long long build_id : ids) {
      if (Execute(sql,
                  "UPDATE builds SET log_pruned = 1, log_pruned_at = :at "
                  "WHERE id = :id AND log_pruned = 0",
                  soci::use(at, "at"), soci::use(build_id, "id")) != 1) {
        continue;
      }
      Execute(sql, "DELETE FROM build_logs WHERE build_id = :id", soci::use(build_id, "id"));
      ++batch.pruned;
    }
    tx.Commit();
    batch.last_id = ids.back();
    batch.more = static_cast<long long>(ids.size()) == bound;
    return batch;
  });
}

Result<ProjectBuildSettings> SqlBuildStore::GetBuildSettings(std::string_view project) {
  return pool_->Run("build settings get", [&](soci::session& sql) -> Result<ProjectBuildSettings> {
    std::string name(project);
    long long project_id = 0;
    sql << "SELECT id FROM projects WHERE name = :n", soci::use(name), soci::into(project_id);
    if (!sql.got_data()) return Fail(Errc::kBuildProjectMissing, "project does not exist: " + name);
    ProjectBuildSettings settings;
    settings.project = name;
    int layer_cache = 1;
    long long updated_at = 0;
    sql << "SELECT layer_cache, operator, updated_at FROM project_build_settings "
           "WHERE project_id = :pid",
        soci::use(project_id), soci::into(layer_cache), soci::into(settings.operator_name),
        soci::into(updated_at);
    if (sql.got_data()) {
      settings.layer_cache = layer_cache != 0;
      settings.updated_at = FromMs(updated_at);
    }
    return settings;
  });
}

Result<ProjectBuildSettings> SqlBuildStore::SetBuildSettings(const ProjectBuildSettings& settings,
                                                             TimePoint now) {
  return pool_->Run("build settings set", [&](soci::session& sql) -> Result<ProjectBuildSettings> {
    Transaction tx(sql, *pool_, Transaction::Kind::kWrite);
    std::string name = settings.project, op = settings.operator_name;
    long long project_id = 0;
    // PostgreSQL: FOR KEY SHARE keeps the project from being deleted until the commit.
    sql << (pool_->is_postgres() ? "SELECT id FROM projects WHERE name = :n FOR KEY SHARE"
                                 : "SELECT id FROM projects WHERE name = :n"),
        soci::use(name), soci::into(project_id);
    if (!sql.got_data()) return Fail(Errc::kBuildProjectMissing, "project does not exist: " + name);
    int layer_cache = settings.layer_cache ? 1 : 0;
    long long at = ToMs(now);
    sql << "INSERT INTO project_build_settings (project_id, project, layer_cache, operator, "
           "updated_at) VALUES (:pid, :p, :c, :op, :at) ON CONFLICT (project_id) DO UPDATE SET "
           "layer_cache = excluded.layer_cache, operator = excluded.operator, "
           "updated_at = excluded.updated_at",
        soci::use(project_id), soci::use(name), soci::use(layer_cache), soci::use(op),
        soci::use(at);
    tx.Commit();
    return ProjectBuildSettings{name, settings.layer_cache, op, FromMs(at)};
  });
}

}  // namespace market::sql
