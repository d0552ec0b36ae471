#include "sql/migrations.hpp"

#include <chrono>
#include <string>
#include <vector>

#include "log.hpp"

namespace market::sql {

namespace {

// Any constant works as long as nothing else in the database uses it: "market" in ASCII.
constexpr long long kMigrationLockKey = 0x6d61726b6574;

}  // namespace

// Times are epoch milliseconds (BIGINT) in both dialects: no time-zone conversions, and the
// domain's TimePoint is milliseconds already. Each migration's text is frozen once released:
// a database that applied it keeps what it ran, so a change goes in a new migration.
const std::vector<Migration>& Migrations() {
  static const std::vector<Migration> migrations = {
      {1,
       "projects",
       {R"(CREATE TABLE projects (
             id INTEGER PRIMARY KEY,
             name TEXT NOT NULL UNIQUE,
             creator TEXT NOT NULL,
             create_time BIGINT NOT NULL,
             last_modify_time BIGINT NOT NULL,
             last_modify_operator TEXT NOT NULL,
             cluster TEXT NOT NULL,
             define_type TEXT NOT NULL,
             pipeline TEXT NOT NULL))"},
       {R"(CREATE TABLE projects (
             id BIGSERIAL PRIMARY KEY,
             name TEXT NOT NULL UNIQUE,
             creator TEXT NOT NULL,
             create_time BIGINT NOT NULL,
             last_modify_time BIGINT NOT NULL,
             last_modify_operator TEXT NOT NULL,
             cluster TEXT NOT NULL,
             define_type TEXT NOT NULL,
             pipeline TEXT NOT NULL))"}},
      {2,
       "builds and build logs",
       {R"(CREATE TABLE builds (
             id INTEGER PRIMARY KEY AUTOINCREMENT,
             project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
             project TEXT NOT NULL,
             tag TEXT NOT NULL,
             operator TEXT NOT NULL,
             image TEXT NOT NULL,
             digest TEXT NOT NULL DEFAULT '',
             size BIGINT NOT NULL DEFAULT 0,
             queued_at BIGINT NOT NULL,
             started_at BIGINT,
             finished_at BIGINT,
             state TEXT NOT NULL,
             reason TEXT NOT NULL DEFAULT '',
             cancel_requested INTEGER NOT NULL DEFAULT 0,
             worker TEXT NOT NULL DEFAULT '',
             lease_until BIGINT,
             log_size BIGINT NOT NULL DEFAULT 0,
             log_chunks BIGINT NOT NULL DEFAULT 0))",
        "CREATE INDEX builds_queue ON builds (state, id)",
        "CREATE INDEX builds_project ON builds (project_id, id)",
        R"(CREATE TABLE build_logs (
             build_id BIGINT NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
             seq BIGINT NOT NULL,
             byte_offset BIGINT NOT NULL,
             text TEXT NOT NULL,
             PRIMARY KEY (build_id, seq)))",
        "CREATE INDEX build_logs_offset ON build_logs (build_id, byte_offset)"},
       {R"(CREATE TABLE builds (
             id BIGSERIAL PRIMARY KEY,
             project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
             project TEXT NOT NULL,
             tag TEXT NOT NULL,
             operator TEXT NOT NULL,
             image TEXT NOT NULL,
             digest TEXT NOT NULL DEFAULT '',
             size BIGINT NOT NULL DEFAULT 0,
             queued_at BIGINT NOT NULL,
             started_at BIGINT,
             finished_at BIGINT,
             state TEXT NOT NULL,
             reason TEXT NOT NULL DEFAULT '',
             cancel_requested INTEGER NOT NULL DEFAULT 0,
             worker TEXT NOT NULL DEFAULT '',
             lease_until BIGINT,
             log_size BIGINT NOT NULL DEFAULT 0,
             log_chunks BIGINT NOT NULL DEFAULT 0))",
        "CREATE INDEX builds_queue ON builds (state, id)",
        "CREATE INDEX builds_project ON builds (project_id, id)",
        R"(CREATE TABLE build_logs (
             build_id BIGINT NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
             seq BIGINT NOT NULL,
             byte_offset BIGINT NOT NULL,
             text TEXT NOT NULL,
             PRIMARY KEY (build_id, seq)))",
        "CREATE INDEX build_logs_offset ON build_logs (build_id, byte_offset)"}},
      {3,
       "project count kept by triggers; trigram index for the name filter (PostgreSQL)",
       // SQLite has one writer at a time, so one counter row costs nothing extra. (Its
       // substring filter got a trigram index in migration 5.)
       {"CREATE TABLE project_count (id INTEGER PRIMARY KEY CHECK (id = 1), n BIGINT NOT NULL)",
        "INSERT INTO project_count (id, n) SELECT 1, COUNT(*) FROM projects",
        R"(CREATE TRIGGER projects_count_insert AFTER INSERT ON projects
           BEGIN UPDATE project_count SET n = n + 1 WHERE id = 1; END)",
        R"(CREATE TRIGGER projects_count_delete AFTER DELETE ON projects
           BEGIN UPDATE project_count SET n = n - 1 WHERE id = 1; END)"},
       // PostgreSQL: the unfiltered total_count is SUM(n) over 16 slots instead of a scan of
       // the table. Each session adds to the slot of its backend, so concurrent inserts and
       // deletes rarely wait on one another's counter row until commit. Statement triggers
       // with transition tables make a bulk load one counter update, not one per row, and an
       // upsert that only updated skips the counter entirely.
       {"CREATE EXTENSION IF NOT EXISTS pg_trgm",
        "CREATE INDEX projects_name_trgm ON projects USING gin (name gin_trgm_ops)",
        "CREATE TABLE project_count (slot INTEGER PRIMARY KEY, n BIGINT NOT NULL)",
        "INSERT INTO project_count (slot, n) SELECT s, 0 FROM generate_series(0, 15) AS s",
        "UPDATE project_count SET n = (SELECT COUNT(*) FROM projects) WHERE slot = 0",
        R"(CREATE FUNCTION project_count_add() RETURNS trigger LANGUAGE plpgsql AS $$
           DECLARE
             delta BIGINT;
           BEGIN
             IF TG_OP = 'INSERT' THEN
               SELECT COUNT(*) INTO delta FROM changed_rows;
             ELSE
               SELECT -COUNT(*) INTO delta FROM changed_rows;
             END IF;
             IF delta <> 0 THEN
               UPDATE project_count SET n = n + delta WHERE slot = pg_backend_pid() % 16;
             END IF;
             RETURN NULL;
           END $$)",
        R"(CREATE TRIGGER projects_count_insert AFTER INSERT ON projects
           REFERENCING NEW TABLE AS changed_rows
           FOR EACH STATEMENT EXECUTE FUNCTION project_count_add())",
        R"(CREATE TRIGGER projects_count_delete AFTER DELETE ON projects
           REFERENCING OLD TABLE AS changed_rows
           FOR EACH STATEMENT EXECUTE FUNCTION project_count_add())",
        R"(CREATE FUNCTION project_count_reset() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
             UPDATE project_count SET n = 0;
             RETURN NULL;
           END $$)",
        R"(CREATE TRIGGER projects_count_truncate AFTER TRUNCATE ON projects
           FOR EACH STATEMENT EXECUTE FUNCTION project_count_reset())"}},
      {4,
       "users, API tokens (SHA-256 digests only) and the audit log",
       // Roles are text so a row reads on its own. Token lookups go by the digest's unique
       // index: one indexed query per request that is not in the server's short cache.
       {R"(CREATE TABLE users (
             id INTEGER PRIMARY KEY AUTOINCREMENT,
             name TEXT NOT NULL UNIQUE,
             role TEXT NOT NULL,
             password_hash TEXT NOT NULL,
             created_at BIGINT NOT NULL))",
        R"(CREATE TABLE api_tokens (
             id INTEGER PRIMARY KEY AUTOINCREMENT,
             user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
             label TEXT NOT NULL,
             prefix TEXT NOT NULL,
             digest TEXT NOT NULL UNIQUE,
             created_at BIGINT NOT NULL,
             revoked_at BIGINT))",
        "CREATE INDEX api_tokens_user ON api_tokens (user_id, id)",
        R"(CREATE TABLE audit_log (
             id INTEGER PRIMARY KEY AUTOINCREMENT,
             at BIGINT NOT NULL,
             actor TEXT NOT NULL,
             on_behalf_of TEXT NOT NULL,
             action TEXT NOT NULL,
             target TEXT NOT NULL,
             request_id TEXT NOT NULL,
             before_json TEXT NOT NULL,
             after_json TEXT NOT NULL))",
        "CREATE INDEX audit_log_target ON audit_log (target, id)",
        "CREATE INDEX audit_log_actor ON audit_log (actor, id)",
        "CREATE INDEX audit_log_on_behalf_of ON audit_log (on_behalf_of, id)"},
       {R"(CREATE TABLE users (
             id BIGSERIAL PRIMARY KEY,
             name TEXT NOT NULL UNIQUE,
             role TEXT NOT NULL,
             password_hash TEXT NOT NULL,
             created_at BIGINT NOT NULL))",
        R"(CREATE TABLE api_tokens (
             id BIGSERIAL PRIMARY KEY,
             user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
             label TEXT NOT NULL,
             prefix TEXT NOT NULL,
             digest TEXT NOT NULL UNIQUE,
             created_at BIGINT NOT NULL,
             revoked_at BIGINT))",
        "CREATE INDEX api_tokens_user ON api_tokens (user_id, id)",
        R"(CREATE TABLE audit_log (
             id BIGSERIAL PRIMARY KEY,
             at BIGINT NOT NULL,
             actor TEXT NOT NULL,
             on_behalf_of TEXT NOT NULL,
             action TEXT NOT NULL,
             target TEXT NOT NULL,
             request_id TEXT NOT NULL,
             before_json TEXT NOT NULL,
             after_json TEXT NOT NULL))",
        "CREATE INDEX audit_log_target ON audit_log (target, id)",
        "CREATE INDEX audit_log_actor ON audit_log (actor, id)",
        "CREATE INDEX audit_log_on_behalf_of ON audit_log (on_behalf_of, id)"}},
      {5,
       "trigram index for the name filter (SQLite)",
       // An FTS5 trigram index over projects.name (external content: the names are not
       // stored twice), kept by triggers. A filter of three characters or more asks it for
       // candidate rows instead of scanning the table; instr() then checks each exactly, since
       // the index folds case. PostgreSQL has had pg_trgm since migration 3.
       {R"(CREATE VIRTUAL TABLE project_names USING fts5(
             name, tokenize = 'trigram', content = 'projects', content_rowid = 'id'))",
        "INSERT INTO project_names (project_names) VALUES ('rebuild')",
        R"(CREATE TRIGGER projects_names_insert AFTER INSERT ON projects
           BEGIN INSERT INTO project_names (rowid, name) VALUES (new.id, new.name); END)",
        R"(CREATE TRIGGER projects_names_delete AFTER DELETE ON projects
           BEGIN
             INSERT INTO project_names (project_names, rowid, name)
               VALUES ('delete', old.id, old.name);
           END)",
        R"(CREATE TRIGGER projects_names_update AFTER UPDATE OF id, name ON projects
           BEGIN
             INSERT INTO project_names (project_names, rowid, name)
               VALUES ('delete', old.id, old.name);
             INSERT INTO project_names (rowid, name) VALUES (new.id, new.name);
           END)"},
       {}},
      {6,
       "the name filter's trigram index without a pending list (PostgreSQL)",
       // GIN's fastupdate queues new names in a pending list that every search reads whole
       // until a vacuum flushes it: 5,000 new names made a selective filter twice as slow at
       // a million projects (2.1 -> 4.4 ms; 2.0 -> 2.1 ms without the list). Projects are
       // created far less often than listed, so each insert now updates the index itself
       // (about 50 us more per name); the entries already queued go in now.
       {},
       {"ALTER INDEX projects_name_trgm SET (fastupdate = off)",
        "SELECT gin_clean_pending_list('projects_name_trgm')"}},
      {7,
       "five-character grams for the name filter (PostgreSQL)",
       // Trigrams of digits are in thousands of names each, and a filter like "00042" read
       // three such posting lists (1.1 ms at a million projects). Every 5-character piece of
       // a name's runs of ASCII letters and digits is in few names: the filter's pieces
       // answer in 0.03 ms. pg_trgm still serves filters whose longest run is 3 or 4
       // characters. An expression index, not a table: it keeps itself.
       {},
       {R"(CREATE FUNCTION project_name_grams(name text) RETURNS text[]
           LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
             SELECT coalesce(array_agg(DISTINCT substr(run[1], i, 5)), '{}')
             FROM regexp_matches(name, '[A-Za-z0-9]{5,}', 'g') AS run,
                  generate_series(1, length(run[1]) - 4) AS i
           $$)",
        "CREATE INDEX projects_name_grams ON projects USING gin (project_name_grams(name)) "
        "WITH (fastupdate = off)",
        // No statistics on the pieces: a bitmap scan of this index is the plan for any
        // filter, but with statistics each prepared list would be planned afresh (a custom
        // plan looks cheaper than the generic one), which doubled PostgreSQL's CPU per list.
        "ALTER INDEX projects_name_grams ALTER COLUMN 1 SET STATISTICS 0"}},
      {8,
       "five-character pieces for the name filter (SQLite)",
       // What migration 7 did for PostgreSQL: FTS5's trigram index read the long posting
       // lists of digit trigrams too. A contentless FTS5 table holds each name's pieces as
       // tokens (the ascii tokenizer folds case; instr() checks the filter exactly), kept by
       // triggers; a contentless row is deleted by giving its tokens again.
       // Whole tokens are all a query asks for: no positions, no column sizes (detail,
       // columnsize), which keeps the index and each write smaller.
       // Written out as databases applied it: each trigger gives a name's pieces with
       // json_each over length(name) - 4 positions (a trigger cannot use a recursive CTE).
       {"CREATE VIRTUAL TABLE project_name_pieces USING fts5(pieces, content = '', tokenize "
        "= 'ascii', detail = none, columnsize = 0)",
        "INSERT INTO project_name_pieces (rowid, pieces) SELECT id, (SELECT "
        "group_concat(piece, ' ') FROM (SELECT DISTINCT substr(name, key + 1, 5) AS piece "
        "FROM json_each('[' || substr(replace(hex(zeroblob(max(length(name) - 4, 0))), '00', "
        "',0'), 2) || ']') WHERE piece GLOB "
        "'[A-Za-z0-9][A-Za-z0-9][A-Za-z0-9][A-Za-z0-9][A-Za-z0-9]')) FROM projects",
        "CREATE TRIGGER projects_pieces_insert AFTER INSERT ON projects BEGIN INSERT INTO "
        "project_name_pieces (rowid, pieces) VALUES (new.id, (SELECT group_concat(piece, ' "
        "') FROM (SELECT DISTINCT substr(new.name, key + 1, 5) AS piece FROM json_each('[' "
        "|| substr(replace(hex(zeroblob(max(length(new.name) - 4, 0))), '00', ',0'), 2) || "
        "']') WHERE piece GLOB '[A-Za-z0-9][A-Za-z0-9][A-Za-z0-9][A-Za-z0-9][A-Za-z0-9]'))); "
        "END",
        "CREATE TRIGGER projects_pieces_delete AFTER DELETE ON projects BEGIN INSERT INTO "
        "project_name_pieces (project_name_pieces, rowid, pieces) VALUES ('delete', old.id, "
        "(SELECT group_concat(piece, ' ') FROM (SELECT DISTINCT substr(old.name, key + 1, 5) "
        "AS piece FROM json_each('[' || substr(replace(hex(zeroblob(max(length(old.name) - "
        "4, 0))), '00', ',0'), 2) || ']') WHERE piece GLOB "
        "'[A-Za-z0-9][A-Za-z0-9][A-Za-z0-9][A-Za-z0-9][A-Za-z0-9]'))); END",
        "CREATE TRIGGER projects_pieces_update AFTER UPDATE OF id, name ON projects BEGIN "
        "INSERT INTO project_name_pieces (project_name_pieces, rowid, pieces) VALUES "
        "('delete', old.id, (SELECT group_concat(piece, ' ') FROM (SELECT DISTINCT "
        "substr(old.name, key + 1, 5) AS piece FROM json_each('[' || "
        "substr(replace(hex(zeroblob(max(length(old.name) - 4, 0))), '00', ',0'), 2) || ']') "
        "WHERE piece GLOB '[A-Za-z0-9][A-Za-z0-9][A-Za-z0-9][A-Za-z0-9][A-Za-z0-9]'))); "
        "INSERT INTO project_name_pieces (rowid, pieces) VALUES (new.id, (SELECT "
        "group_concat(piece, ' ') FROM (SELECT DISTINCT substr(new.name, key + 1, 5) AS "
        "piece FROM json_each('[' || substr(replace(hex(zeroblob(max(length(new.name) - 4, "
        "0))), '00', ',0'), 2) || ']') WHERE piece GLOB "
        "'[A-Za-z0-9][A-Za-z0-9][A-Za-z0-9][A-Za-z0-9][A-Za-z0-9]'))); END"},
       {}},
      {9,
       "builds by operator",
       // /api/builds?operator=NAME, newest first: without it a rare operator reads every build.
       {"CREATE INDEX builds_operator ON builds (operator, id)"},
       {"CREATE INDEX builds_operator ON builds (operator, id)"}},
      {10,
       "audit log by action",
       // /api/audit?action=token.create, newest first, without reading the whole log.
       {"CREATE INDEX audit_log_action ON audit_log (action, id)"},
       {"CREATE INDEX audit_log_action ON audit_log (action, id)"}},
      {11,
       "webhook policies, deliveries and attempts",
       // A global policy has no project_id and the project '': UNIQUE treats NULLs as distinct,
       // so the names are unique on the text. redelivery_of has no foreign key: pruning the
       // delivery it repeats must not delete or change the repeat. Claims read
       // webhook_deliveries_due; pruning, webhook_deliveries_finished (NULL while pending).
       {R"(CREATE TABLE webhook_policies (
             id INTEGER PRIMARY KEY AUTOINCREMENT,
             project_id BIGINT REFERENCES projects(id) ON DELETE CASCADE,
             project TEXT NOT NULL,
             name TEXT NOT NULL,
             enabled INTEGER NOT NULL,
             url TEXT NOT NULL,
             events TEXT NOT NULL,
             repository_glob TEXT NOT NULL,
             tag_glob TEXT NOT NULL,
             secret TEXT NOT NULL,
             format TEXT NOT NULL,
             consecutive_failures INTEGER NOT NULL DEFAULT 0,
             disabled_reason TEXT NOT NULL DEFAULT '',
             creator TEXT NOT NULL,
             created_at BIGINT NOT NULL,
             updated_at BIGINT NOT NULL,
             UNIQUE (project, name)))",
        R"(CREATE TABLE webhook_deliveries (
             id INTEGER PRIMARY KEY AUTOINCREMENT,
             policy_id BIGINT NOT NULL REFERENCES webhook_policies(id) ON DELETE CASCADE,
             event_id TEXT NOT NULL,
             event_type TEXT NOT NULL,
             body TEXT NOT NULL,
             content_type TEXT NOT NULL,
             state TEXT NOT NULL,
             attempts INTEGER NOT NULL DEFAULT 0,
             created_at BIGINT NOT NULL,
             next_attempt_at BIGINT NOT NULL,
             finished_at BIGINT,
             last_status INTEGER NOT NULL DEFAULT 0,
             last_error TEXT NOT NULL DEFAULT '',
             redelivery_of BIGINT,
             lease_owner TEXT,
             lease_until BIGINT))",
        "CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at, id)",
        "CREATE INDEX webhook_deliveries_policy ON webhook_deliveries (policy_id, id)",
        "CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (finished_at)",
        R"(CREATE TABLE webhook_attempts (
             id INTEGER PRIMARY KEY AUTOINCREMENT,
             delivery_id BIGINT NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
             number INTEGER NOT NULL,
             started_at BIGINT NOT NULL,
             duration_ms BIGINT NOT NULL,
             status INTEGER NOT NULL,
             error TEXT NOT NULL,
             request_headers TEXT NOT NULL,
             response_headers TEXT NOT NULL,
             response_excerpt TEXT NOT NULL,
             UNIQUE (delivery_id, number)))"},
       {R"(CREATE TABLE webhook_policies (
             id BIGSERIAL PRIMARY KEY,
             project_id BIGINT REFERENCES projects(id) ON DELETE CASCADE,
             project TEXT NOT NULL,
             name TEXT NOT NULL,
             enabled INTEGER NOT NULL,
             url TEXT NOT NULL,
             events TEXT NOT NULL,
             repository_glob TEXT NOT NULL,
             tag_glob TEXT NOT NULL,
             secret TEXT NOT NULL,
             format TEXT NOT NULL,
             consecutive_failures INTEGER NOT NULL DEFAULT 0,
             disabled_reason TEXT NOT NULL DEFAULT '',
             creator TEXT NOT NULL,
             created_at BIGINT NOT NULL,
             updated_at BIGINT NOT NULL,
             UNIQUE (project, name)))",
        R"(CREATE TABLE webhook_deliveries (
             id BIGSERIAL PRIMARY KEY,
             policy_id BIGINT NOT NULL REFERENCES webhook_policies(id) ON DELETE CASCADE,
             event_id TEXT NOT NULL,
             event_type TEXT NOT NULL,
             body TEXT NOT NULL,
             content_type TEXT NOT NULL,
             state TEXT NOT NULL,
             attempts INTEGER NOT NULL DEFAULT 0,
             created_at BIGINT NOT NULL,
             next_attempt_at BIGINT NOT NULL,
             finished_at BIGINT,
             last_status INTEGER NOT NULL DEFAULT 0,
             last_error TEXT NOT NULL DEFAULT '',
             redelivery_of BIGINT,
             lease_owner TEXT,
             lease_until BIGINT))",
        "CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at, id)",
        "CREATE INDEX webhook_deliveries_policy ON webhook_deliveries (policy_id, id)",
        "CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (finished_at)",
        R"(CREATE TABLE webhook_attempts (
             id BIGSERIAL PRIMARY KEY,
             delivery_id BIGINT NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
             number INTEGER NOT NULL,
             started_at BIGINT NOT NULL,
             duration_ms BIGINT NOT NULL,
             status INTEGER NOT NULL,
             error TEXT NOT NULL,
             request_headers TEXT NOT NULL,
             response_headers TEXT NOT NULL,
             response_excerpt TEXT NOT NULL,
             UNIQUE (delivery_id, number)))"}},
      {12,
       "build triggers, and what triggered each build",
       // trigger_id has no foreign key: deleting a trigger keeps its builds' history. The two
       // unique indexes make a git host's redelivery (the same delivery id, or the same commit
       // for the same tag) queue one build, also when two instances receive it at once.
       {R"(CREATE TABLE build_triggers (
             id INTEGER PRIMARY KEY AUTOINCREMENT,
             project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
             project TEXT NOT NULL,
             name TEXT NOT NULL,
             enabled INTEGER NOT NULL,
             secret TEXT NOT NULL,
             branches TEXT NOT NULL,
             tags TEXT NOT NULL,
             tag_templates TEXT NOT NULL,
             latest INTEGER NOT NULL,
             default_branch TEXT NOT NULL,
             consecutive_failures INTEGER NOT NULL DEFAULT 0,
             disabled_reason TEXT NOT NULL DEFAULT '',
             creator TEXT NOT NULL,
             created_at BIGINT NOT NULL,
             updated_at BIGINT NOT NULL,
             UNIQUE (project, name)))",
        "ALTER TABLE builds ADD COLUMN trigger_kind TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE builds ADD COLUMN trigger_id BIGINT NOT NULL DEFAULT 0",
        "ALTER TABLE builds ADD COLUMN trigger_ref TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE builds ADD COLUMN trigger_sha TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE builds ADD COLUMN trigger_repository TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE builds ADD COLUMN trigger_delivery TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE builds ADD COLUMN extra_tags TEXT NOT NULL DEFAULT ''",
        "CREATE UNIQUE INDEX builds_trigger_delivery ON builds (trigger_id, trigger_delivery) "
        "WHERE trigger_delivery <> ''",
        "CREATE UNIQUE INDEX builds_trigger_commit ON builds (trigger_id, trigger_sha, tag) "
        "WHERE trigger_kind = 'git-push' AND trigger_sha <> ''"},
       {R"(CREATE TABLE build_triggers (
             id BIGSERIAL PRIMARY KEY,
             project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
             project TEXT NOT NULL,
             name TEXT NOT NULL,
             enabled INTEGER NOT NULL,
             secret TEXT NOT NULL,
             branches TEXT NOT NULL,
             tags TEXT NOT NULL,
             tag_templates TEXT NOT NULL,
             latest INTEGER NOT NULL,
             default_branch TEXT NOT NULL,
             consecutive_failures INTEGER NOT NULL DEFAULT 0,
             disabled_reason TEXT NOT NULL DEFAULT '',
             creator TEXT NOT NULL,
             created_at BIGINT NOT NULL,
             updated_at BIGINT NOT NULL,
             UNIQUE (project, name)))",
        "ALTER TABLE builds ADD COLUMN trigger_kind TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE builds ADD COLUMN trigger_id BIGINT NOT NULL DEFAULT 0",
        "ALTER TABLE builds ADD COLUMN trigger_ref TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE builds ADD COLUMN trigger_sha TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE builds ADD COLUMN trigger_repository TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE builds ADD COLUMN trigger_delivery TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE builds ADD COLUMN extra_tags TEXT NOT NULL DEFAULT ''",
        "CREATE UNIQUE INDEX builds_trigger_delivery ON builds (trigger_id, trigger_delivery) "
        "WHERE trigger_delivery <> ''",
        "CREATE UNIQUE INDEX builds_trigger_commit ON builds (trigger_id, trigger_sha, tag) "
        "WHERE trigger_kind = 'git-push' AND trigger_sha <> ''"}},
      {13,
       "build log retention",
       // A pruned log's build keeps its row, marked. Retention finds the builds whose log is
       // still there through builds_log_kept: once old logs are gone it holds the builds that
       // keep theirs, not every build ever run.
       {"ALTER TABLE builds ADD COLUMN log_pruned INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE builds ADD COLUMN log_pruned_at BIGINT",
        "CREATE INDEX builds_log_kept ON builds (id) WHERE log_pruned = 0 AND finished_at IS NOT "
        "NULL"},
       {"ALTER TABLE builds ADD COLUMN log_pruned INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE builds ADD COLUMN log_pruned_at BIGINT",
        "CREATE INDEX builds_log_kept ON builds (id) WHERE log_pruned = 0 AND finished_at IS NOT "
        "NULL"}},
      {14,
       "what each build trigger received",
       // Bounded per trigger by the store; the index serves both the list and the pruning.
       {R"(CREATE TABLE trigger_deliveries (
             id INTEGER PRIMARY KEY AUTOINCREMENT,
             trigger_id BIGINT NOT NULL REFERENCES build_triggers(id) ON DELETE CASCADE,
             received_at BIGINT NOT NULL,
             host TEXT NOT NULL,
             event TEXT NOT NULL,
             delivery_id TEXT NOT NULL,
             ref TEXT NOT NULL,
             sha TEXT NOT NULL,
             outcome TEXT NOT NULL,
             reason TEXT NOT NULL,
             build_id BIGINT NOT NULL))",
        "CREATE INDEX trigger_deliveries_trigger ON trigger_deliveries (trigger_id, id)"},
       {R"(CREATE TABLE trigger_deliveries (
             id BIGSERIAL PRIMARY KEY,
             trigger_id BIGINT NOT NULL REFERENCES build_triggers(id) ON DELETE CASCADE,
             received_at BIGINT NOT NULL,
             host TEXT NOT NULL,
             event TEXT NOT NULL,
             delivery_id TEXT NOT NULL,
             ref TEXT NOT NULL,
             sha TEXT NOT NULL,
             outcome TEXT NOT NULL,
             reason TEXT NOT NULL,
             build_id BIGINT NOT NULL))",
        "CREATE INDEX trigger_deliveries_trigger ON trigger_deliveries (trigger_id, id)"}},
      {15,
       "immutability rules",
       {R"(CREATE TABLE immutability_rules (
             id INTEGER PRIMARY KEY,
             repository TEXT NOT NULL,
             tag_pattern TEXT NOT NULL,
             enabled INTEGER NOT NULL,
             description TEXT NOT NULL,
             creator TEXT NOT NULL,
             created_at BIGINT NOT NULL,
             updated_at BIGINT NOT NULL))"},
       {R"(CREATE TABLE immutability_rules (
             id BIGSERIAL PRIMARY KEY,
             repository TEXT NOT NULL,
             tag_pattern TEXT NOT NULL,
             enabled INTEGER NOT NULL,
             description TEXT NOT NULL,
             creator TEXT NOT NULL,
             created_at BIGINT NOT NULL,
             updated_at BIGINT NOT NULL))"}},
      {16,
       "tag retention rule sets and runs",
       // rule_set_id has no foreign key: deleting a rule set keeps its runs' history. A run's
       // summaries and items are JSON written once, when it ends.
       {R"(CREATE TABLE retention_rule_sets (
             id INTEGER PRIMARY KEY AUTOINCREMENT,
             cluster TEXT NOT NULL,
             name TEXT NOT NULL,
             enabled INTEGER NOT NULL,
             schedule TEXT NOT NULL,
             rules TEXT NOT NULL,
             next_run_at BIGINT,
             creator TEXT NOT NULL,
             created_at BIGINT NOT NULL,
             updated_at BIGINT NOT NULL,
             UNIQUE (cluster, name)))",
        R"(CREATE TABLE retention_runs (
             id INTEGER PRIMARY KEY AUTOINCREMENT,
             rule_set_id BIGINT NOT NULL,
             cluster TEXT NOT NULL,
             rule_set TEXT NOT NULL,
             dry_run INTEGER NOT NULL,
             run_trigger TEXT NOT NULL,
             operator TEXT NOT NULL,
             state TEXT NOT NULL,
             error TEXT NOT NULL DEFAULT '',
             queued_at BIGINT NOT NULL,
             started_at BIGINT,
             finished_at BIGINT,
             repositories TEXT NOT NULL DEFAULT '[]',
             items TEXT NOT NULL DEFAULT '[]',
             lease_owner TEXT,
             lease_until BIGINT))",
        "CREATE INDEX retention_runs_claim ON retention_runs (state, id)",
        "CREATE INDEX retention_runs_rule_set ON retention_runs (rule_set_id, id)"},
       {R"(CREATE TABLE retention_rule_sets (
             id BIGSERIAL PRIMARY KEY,
             cluster TEXT NOT NULL,
             name TEXT NOT NULL,
             enabled INTEGER NOT NULL,
             schedule TEXT NOT NULL,
             rules TEXT NOT NULL,
             next_run_at BIGINT,
             creator TEXT NOT NULL,
             created_at BIGINT NOT NULL,
             updated_at BIGINT NOT NULL,
             UNIQUE (cluster, name)))",
        R"(CREATE TABLE retention_runs (
             id BIGSERIAL PRIMARY KEY,
             rule_set_id BIGINT NOT NULL,
             cluster TEXT NOT NULL,
             rule_set TEXT NOT NULL,
             dry_run INTEGER NOT NULL,
             run_trigger TEXT NOT NULL,
             operator TEXT NOT NULL,
             state TEXT NOT NULL,
             error TEXT NOT NULL DEFAULT '',
             queued_at BIGINT NOT NULL,
             started_at BIGINT,
             finished_at BIGINT,
             repositories TEXT NOT NULL DEFAULT '[]',
             items TEXT NOT NULL DEFAULT '[]',
             lease_owner TEXT,
             lease_until BIGINT))",
        "CREATE INDEX retention_runs_claim ON retention_runs (state, id)",
        "CREATE INDEX retention_runs_rule_set ON retention_runs (rule_set_id, id)"}},
      {17,
       "webhook repository filters in the one glob meaning",
       // Globs now mean what Harbor's do ('*' stays within a path component, '**' crosses '/'),
       // where webhook filters had '*' cross '/'. Each '*' or '**' of a stored filter becomes
       // '**', so every filter matches exactly the repositories it matched before.
       {"UPDATE webhook_policies SET repository_glob = "
        "replace(replace(repository_glob, '**', '*'), '*', '**')"},
       {"UPDATE webhook_policies SET repository_glob = "
        "replace(replace(repository_glob, '**', '*'), '*', '**')"}},
      {18,
       "base images of builds; rebuilds when a base image changes",
       // A build's base images are JSON written once per build. base_rebuilds holds one row per
       // (project, base image, new digest): its unique key makes every instance, and both the
       // event and the poll path, queue one rebuild per base change.
       {        "ALTER TABLE builds ADD COLUMN trigger_base_image TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE builds ADD COLUMN trigger_old_digest TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE builds ADD COLUMN trigger_new_digest TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE builds ADD COLUMN trigger_cause_build BIGINT NOT NULL DEFAULT 0",
        "ALTER TABLE builds ADD COLUMN base_images TEXT NOT NULL DEFAULT '[]'",
        "CREATE INDEX builds_base_image_queued ON builds (queued_at) "
        "WHERE trigger_kind = 'base-image'",
        R"(CREATE TABLE base_rebuild_settings (
             project_id BIGINT PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
             project TEXT NOT NULL UNIQUE,
             enabled INTEGER NOT NULL,
             operator TEXT NOT NULL,
             updated_at BIGINT NOT NULL))",
        R"(CREATE TABLE base_rebuilds (
             id INTEGER PRIMARY KEY AUTOINCREMENT,
             project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
             project TEXT NOT NULL,
             base_image TEXT NOT NULL,
             old_digest TEXT NOT NULL,
             new_digest TEXT NOT NULL,
             cause_build BIGINT NOT NULL,
             build_id BIGINT NOT NULL DEFAULT 0,
             outcome TEXT NOT NULL DEFAULT '',
             created_at BIGINT NOT NULL,
             UNIQUE (project, base_image, new_digest)))"},
       {        "ALTER TABLE builds ADD COLUMN trigger_base_image TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE builds ADD COLUMN trigger_old_digest TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE builds ADD COLUMN trigger_new_digest TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE builds ADD COLUMN trigger_cause_build BIGINT NOT NULL DEFAULT 0",
        "ALTER TABLE builds ADD COLUMN base_images TEXT NOT NULL DEFAULT '[]'",
        "CREATE INDEX builds_base_image_queued ON builds (queued_at) "
        "WHERE trigger_kind = 'base-image'",
        R"(CREATE TABLE base_rebuild_settings (
             project_id BIGINT PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
             project TEXT NOT NULL UNIQUE,
             enabled INTEGER NOT NULL,
             operator TEXT NOT NULL,
             updated_at BIGINT NOT NULL))",
        R"(CREATE TABLE base_rebuilds (
             id BIGSERIAL PRIMARY KEY,
             project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
             project TEXT NOT NULL,
             base_image TEXT NOT NULL,
             old_digest TEXT NOT NULL,
             new_digest TEXT NOT NULL,
             cause_build BIGINT NOT NULL,
             build_id BIGINT NOT NULL DEFAULT 0,
             outcome TEXT NOT NULL DEFAULT '',
             created_at BIGINT NOT NULL,
             UNIQUE (project, base_image, new_digest)))"}},
      {19,
       "builds asked to build cold; projects' build settings",
       {"ALTER TABLE builds ADD COLUMN no_cache INTEGER NOT NULL DEFAULT 0",
        R"(CREATE TABLE project_build_settings (
             project_id BIGINT PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
             project TEXT NOT NULL UNIQUE,
             layer_cache INTEGER NOT NULL,
             operator TEXT NOT NULL,
             updated_at BIGINT NOT NULL))"},
       {"ALTER TABLE builds ADD COLUMN no_cache INTEGER NOT NULL DEFAULT 0",
        R"(CREATE TABLE project_build_settings (
             project_id BIGINT PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
             project TEXT NOT NULL UNIQUE,
             layer_cache INTEGER NOT NULL,
             operator TEXT NOT NULL,
             updated_at BIGINT NOT NULL))"}},
  };
  return migrations;
}

namespace {

long long NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<void> ApplyAll(SessionPool& pool, soci::session& sql) {
  {
    Transaction tx(sql, pool, Transaction::Kind::kWrite);
    sql << "CREATE TABLE IF NOT EXISTS schema_migrations ("
           "version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at BIGINT NOT NULL)";
    tx.Commit();
  }
  long long newest = 0;
  soci::indicator newest_ind = soci::i_null;
  sql << "SELECT MAX(version) FROM schema_migrations", soci::into(newest, newest_ind);
  if (newest_ind == soci::i_ok && newest > kSchemaVersion) {
    return Fail(Errc::kUnavailable, "database schema version " + std::to_string(newest) +
                                        " is newer than this program's (" +
                                        std::to_string(kSchemaVersion) + "); upgrade the program");
  }
  for (const Migration& migration : Migrations()) {
    Transaction tx(sql, pool, Transaction::Kind::kWrite);
    long long applied = 0;
    int version = migration.version;
    sql << "SELECT COUNT(*) FROM schema_migrations WHERE version = :v", soci::use(version),
        soci::into(applied);
    if (applied != 0) continue;  // the guard rolls the empty transaction back
    const auto& statements = pool.is_postgres() ? migration.postgres : migration.sqlite;
    for (const std::string& statement : statements) sql << statement;
    std::string description = migration.description;
    long long now = NowMs();
    sql << "INSERT INTO schema_migrations (version, description, applied_at) "
           "VALUES (:v, :d, :t)",
        soci::use(version), soci::use(description), soci::use(now);
    tx.Commit();
    MARKET_LOG_INFO("database schema migrated to version {} ({})", version, description);
  }
  return {};
}

}  // namespace

Result<void> Migrate(SessionPool& pool) {
  // Unbounded: building an index on a large table may rightly take minutes.
  return pool.RunUnbounded("schema migration", [&](soci::session& sql) -> Result<void> {
    if (!pool.is_postgres()) return ApplyAll(pool, sql);
    // Two servers starting at once would both try CREATE TABLE; the session-level advisory
    // lock makes the second wait and then find every migration applied.
    long long key = kMigrationLockKey;
    sql << "SELECT pg_advisory_lock(:k)", soci::use(key);
    Result<void> result;
    try {
      result = ApplyAll(pool, sql);
    } catch (...) {
      try {
        sql << "SELECT pg_advisory_unlock(:k)", soci::use(key);
      } catch (...) {
        // A lost connection releases the lock by itself.
      }
      throw;
    }
    sql << "SELECT pg_advisory_unlock(:k)", soci::use(key);
    return result;
  });
}

}  // namespace market::sql
