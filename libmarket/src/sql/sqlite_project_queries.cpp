// ProjectQueries of SQLite. The filtered shapes ask the FTS5 tables of migrations 5 (trigrams)
// and 8 (pieces).

#include "sql/project_queries.hpp"

namespace market::sql {

const ProjectQueries& SqliteQueries() {
  static constexpr ProjectQueries queries{
    .by_name = "SELECT " MARKET_PROJECT_COLUMNS " FROM projects WHERE name = :name",
    .count = {
        // kNone
        "SELECT n FROM project_count WHERE id = 1",
        // kPieces
        "SELECT COUNT(*) FROM projects WHERE id IN (SELECT rowid FROM project_name_pieces "
        "WHERE project_name_pieces MATCH :grm) AND instr(name, :lit) > 0",
        // kTrigram
        "SELECT COUNT(*) FROM projects WHERE id IN (SELECT rowid FROM project_names WHERE "
        "project_names MATCH :fts) AND instr(name, :lit) > 0",
        // kScan
        "SELECT COUNT(*) FROM projects WHERE instr(name, :lit) > 0",
    },
    .page = {{
        // kNone: first, after, at
        {
            "SELECT " MARKET_PROJECT_COLUMNS " FROM projects ORDER BY name LIMIT :lim",
            "SELECT " MARKET_PROJECT_COLUMNS " FROM projects WHERE name > :after ORDER BY name LIMIT :lim",
            "SELECT " MARKET_PROJECT_COLUMNS " FROM projects WHERE name >= (SELECT name FROM projects ORDER BY "
            "name LIMIT 1 OFFSET :off) ORDER BY name LIMIT :lim",
        },
        // kPieces: first, after, at
        {
            "SELECT " MARKET_PROJECT_COLUMNS " FROM projects WHERE id IN (SELECT rowid FROM "
            "project_name_pieces WHERE project_name_pieces MATCH :grm) AND instr(name, "
            ":lit) > 0 ORDER BY name LIMIT :lim",
            "SELECT " MARKET_PROJECT_COLUMNS " FROM projects WHERE id IN (SELECT rowid FROM "
            "project_name_pieces WHERE project_name_pieces MATCH :grm) AND instr(name, "
            ":lit) > 0 AND name > :after ORDER BY name LIMIT :lim",
            "SELECT " MARKET_PROJECT_COLUMNS " FROM projects WHERE id IN (SELECT rowid FROM "
            "project_name_pieces WHERE project_name_pieces MATCH :grm) AND instr(name, "
            ":lit) > 0 AND name >= (SELECT name FROM projects WHERE id IN (SELECT rowid "
            "FROM project_name_pieces WHERE project_name_pieces MATCH :grm2) AND "
            "instr(name, :lit2) > 0 ORDER BY name LIMIT 1 OFFSET :off) ORDER BY name LIMIT "
            ":lim",
        },
        // kTrigram: first, after, at
        {
            "SELECT " MARKET_PROJECT_COLUMNS " FROM projects WHERE id IN (SELECT rowid FROM project_names "
            "WHERE project_names MATCH :fts) AND instr(name, :lit) > 0 ORDER BY name LIMIT "
            ":lim",
            "SELECT " MARKET_PROJECT_COLUMNS " FROM projects WHERE id IN (SELECT rowid FROM project_names "
            "WHERE project_names MATCH :fts) AND instr(name, :lit) > 0 AND name > :after "
            "ORDER BY name LIMIT :lim",
            "SELECT " MARKET_PROJECT_COLUMNS " FROM projects WHERE id IN (SELECT rowid FROM project_names "
            "WHERE project_names MATCH :fts) AND instr(name, :lit) > 0 AND name >= (SELECT "
            "name FROM projects WHERE id IN (SELECT rowid FROM project_names WHERE "
            "project_names MATCH :fts2) AND instr(name, :lit2) > 0 ORDER BY name LIMIT 1 "
            "OFFSET :off) ORDER BY name LIMIT :lim",
        },
        // kScan: first, after, at
        {
            "SELECT " MARKET_PROJECT_COLUMNS " FROM projects WHERE instr(name, :lit) > 0 ORDER BY name LIMIT "
            ":lim",
            "SELECT " MARKET_PROJECT_COLUMNS " FROM projects WHERE instr(name, :lit) > 0 AND name > :after "
            "ORDER BY name LIMIT :lim",
            "SELECT " MARKET_PROJECT_COLUMNS " FROM projects WHERE instr(name, :lit) > 0 AND name >= (SELECT "
            "name FROM projects WHERE instr(name, :lit2) > 0 ORDER BY name LIMIT 1 OFFSET "
            ":off) ORDER BY name LIMIT :lim",
        },
    }},
    .filtered_page = {{
        // kNone: first, after, at
        {
            "",
            "",
            "",
        },
        // kPieces: first, after, at
        {
            "WITH m AS MATERIALIZED (SELECT name FROM projects WHERE id IN (SELECT rowid "
            "FROM project_name_pieces WHERE project_name_pieces MATCH :grm) AND "
            "instr(name, :lit) > 0 LIMIT :cap) SELECT (SELECT COUNT(*) FROM m), " MARKET_PROJECT_COLUMNS " "
            "FROM projects WHERE name IN (SELECT name FROM m ORDER BY name LIMIT :lim) "
            "ORDER BY name",
            "WITH m AS MATERIALIZED (SELECT name FROM projects WHERE id IN (SELECT rowid "
            "FROM project_name_pieces WHERE project_name_pieces MATCH :grm) AND "
            "instr(name, :lit) > 0 LIMIT :cap) SELECT (SELECT COUNT(*) FROM m), " MARKET_PROJECT_COLUMNS " "
            "FROM projects WHERE name IN (SELECT name FROM m WHERE name > :after ORDER BY "
            "name LIMIT :lim) ORDER BY name",
            "WITH m AS MATERIALIZED (SELECT name FROM projects WHERE id IN (SELECT rowid "
            "FROM project_name_pieces WHERE project_name_pieces MATCH :grm) AND "
            "instr(name, :lit) > 0 LIMIT :cap) SELECT (SELECT COUNT(*) FROM m), " MARKET_PROJECT_COLUMNS " "
            "FROM projects WHERE name IN (SELECT name FROM m ORDER BY name LIMIT :lim "
            "OFFSET :off) ORDER BY name",
        },
        // kTrigram: first, after, at
        {
            "WITH m AS MATERIALIZED (SELECT name FROM projects WHERE id IN (SELECT rowid "
            "FROM project_names WHERE project_names MATCH :fts) AND instr(name, :lit) > 0 "
            "LIMIT :cap) SELECT (SELECT COUNT(*) FROM m), " MARKET_PROJECT_COLUMNS " FROM projects WHERE name "
            "IN (SELECT name FROM m ORDER BY name LIMIT :lim) ORDER BY name",
            "WITH m AS MATERIALIZED (SELECT name FROM projects WHERE id IN (SELECT rowid "
            "FROM project_names WHERE project_names MATCH :fts) AND instr(name, :lit) > 0 "
            "LIMIT :cap) SELECT (SELECT COUNT(*) FROM m), " MARKET_PROJECT_COLUMNS " FROM projects WHERE name "
            "IN (SELECT name FROM m WHERE name > :after ORDER BY name LIMIT :lim) ORDER BY "
            "name",
            "WITH m AS MATERIALIZED (SELECT name FROM projects WHERE id IN (SELECT rowid "
            "FROM project_names WHERE project_names MATCH :fts) AND instr(name, :lit) > 0 "
            "LIMIT :cap) SELECT (SELECT COUNT(*) FROM m), " MARKET_PROJECT_COLUMNS " FROM projects WHERE name "
            "IN (SELECT name FROM m ORDER BY name LIMIT :lim OFFSET :off) ORDER BY name",
        },
        // kScan: first, after, at
        {
            "WITH m AS MATERIALIZED (SELECT name FROM projects WHERE instr(name, :lit) > 0 "
            "LIMIT :cap) SELECT (SELECT COUNT(*) FROM m), " MARKET_PROJECT_COLUMNS " FROM projects WHERE name "
            "IN (SELECT name FROM m ORDER BY name LIMIT :lim) ORDER BY name",
            "WITH m AS MATERIALIZED (SELECT name FROM projects WHERE instr(name, :lit) > 0 "
            "LIMIT :cap) SELECT (SELECT COUNT(*) FROM m), " MARKET_PROJECT_COLUMNS " FROM projects WHERE name "
            "IN (SELECT name FROM m WHERE name > :after ORDER BY name LIMIT :lim) ORDER BY "
            "name",
            "WITH m AS MATERIALIZED (SELECT name FROM projects WHERE instr(name, :lit) > 0 "
            "LIMIT :cap) SELECT (SELECT COUNT(*) FROM m), " MARKET_PROJECT_COLUMNS " FROM projects WHERE name "
            "IN (SELECT name FROM m ORDER BY name LIMIT :lim OFFSET :off) ORDER BY name",
        },
    }},
  };
  return queries;
}

}  // namespace market::sql
