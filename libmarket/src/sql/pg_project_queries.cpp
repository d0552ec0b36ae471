// ProjectQueries of PostgreSQL. The filtered shapes' names must match pg_trgm's and
// project_name_grams' indexes (migrations 3 and 7).

#include "sql/project_queries.hpp"

namespace market::sql {

const ProjectQueries& PostgresQueries() {
  static constexpr ProjectQueries queries{
    .by_name = "SELECT " MARKET_PROJECT_COLUMNS " FROM projects WHERE name = :name",
    .count = {
        // kNone
        "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM project_count",
        // kPieces
        "SELECT COUNT(*) FROM projects WHERE project_name_grams(name) @> CAST(:grm AS "
        "text[]) AND strpos(name, :lit) > 0",
        // kTrigram
        "SELECT COUNT(*) FROM projects WHERE name LIKE :pat ESCAPE '\\' AND strpos(name, "
        ":lit) > 0",
        // kScan
        "",
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
            "SELECT " MARKET_PROJECT_COLUMNS " FROM projects WHERE project_name_grams(name) @> CAST(:grm AS "
            "text[]) AND strpos(name, :lit) > 0 ORDER BY name LIMIT :lim",
            "SELECT " MARKET_PROJECT_COLUMNS " FROM projects WHERE project_name_grams(name) @> CAST(:grm AS "
            "text[]) AND strpos(name, :lit) > 0 AND name > :after ORDER BY name LIMIT :lim",
            "SELECT " MARKET_PROJECT_COLUMNS " FROM projects WHERE project_name_grams(name) @> CAST(:grm AS "
            "text[]) AND strpos(name, :lit) > 0 AND name >= (SELECT name FROM projects "
            "WHERE project_name_grams(name) @> CAST(:grm2 AS text[]) AND strpos(name, "
            ":lit2) > 0 ORDER BY name LIMIT 1 OFFSET :off) ORDER BY name LIMIT :lim",
        },
        // kTrigram: first, after, at
        {
            "SELECT " MARKET_PROJECT_COLUMNS " FROM projects WHERE name LIKE :pat ESCAPE '\\' AND strpos(name, "
            ":lit) > 0 ORDER BY name LIMIT :lim",
            "SELECT " MARKET_PROJECT_COLUMNS " FROM projects WHERE name LIKE :pat ESCAPE '\\' AND strpos(name, "
            ":lit) > 0 AND name > :after ORDER BY name LIMIT :lim",
            "SELECT " MARKET_PROJECT_COLUMNS " FROM projects WHERE name LIKE :pat ESCAPE '\\' AND strpos(name, "
            ":lit) > 0 AND name >= (SELECT name FROM projects WHERE name LIKE :pat2 ESCAPE "
            "'\\' AND strpos(name, :lit2) > 0 ORDER BY name LIMIT 1 OFFSET :off) ORDER BY "
            "name LIMIT :lim",
        },
        // kScan: first, after, at
        {
            "",
            "",
            "",
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
            "WITH m AS MATERIALIZED (SELECT name FROM projects WHERE "
            "project_name_grams(name) @> CAST(:grm AS text[]) AND strpos(name, :lit) > 0 "
            "LIMIT :cap) SELECT (SELECT COUNT(*) FROM m), " MARKET_PROJECT_COLUMNS " FROM projects WHERE name "
            "IN (SELECT name FROM m ORDER BY name LIMIT :lim) ORDER BY name",
            "WITH m AS MATERIALIZED (SELECT name FROM projects WHERE "
            "project_name_grams(name) @> CAST(:grm AS text[]) AND strpos(name, :lit) > 0 "
            "LIMIT :cap) SELECT (SELECT COUNT(*) FROM m), " MARKET_PROJECT_COLUMNS " FROM projects WHERE name "
            "IN (SELECT name FROM m WHERE name > :after ORDER BY name LIMIT :lim) ORDER BY "
            "name",
            "WITH m AS MATERIALIZED (SELECT name FROM projects WHERE "
            "project_name_grams(name) @> CAST(:grm AS text[]) AND strpos(name, :lit) > 0 "
            "LIMIT :cap) SELECT (SELECT COUNT(*) FROM m), " MARKET_PROJECT_COLUMNS " FROM projects WHERE name "
            "IN (SELECT name FROM m ORDER BY name LIMIT :lim OFFSET :off) ORDER BY name",
        },
        // kTrigram: first, after, at
        {
            "WITH m AS MATERIALIZED (SELECT name FROM projects WHERE name LIKE :pat ESCAPE "
            "'\\' AND strpos(name, :lit) > 0 LIMIT :cap) SELECT (SELECT COUNT(*) FROM m), "
            MARKET_PROJECT_COLUMNS " FROM projects WHERE name IN (SELECT name FROM m ORDER BY name LIMIT "
            ":lim) ORDER BY name",
            "WITH m AS MATERIALIZED (SELECT name FROM projects WHERE name LIKE :pat ESCAPE "
            "'\\' AND strpos(name, :lit) > 0 LIMIT :cap) SELECT (SELECT COUNT(*) FROM m), "
            MARKET_PROJECT_COLUMNS " FROM projects WHERE name IN (SELECT name FROM m WHERE name > :after "
            "ORDER BY name LIMIT :lim) ORDER BY name",
            "WITH m AS MATERIALIZED (SELECT name FROM projects WHERE name LIKE :pat ESCAPE "
            "'\\' AND strpos(name, :lit) > 0 LIMIT :cap) SELECT (SELECT COUNT(*) FROM m), "
            MARKET_PROJECT_COLUMNS " FROM projects WHERE name IN (SELECT name FROM m ORDER BY name LIMIT "
            ":lim OFFSET :off) ORDER BY name",
        },
        // kScan: first, after, at
        {
            "",
            "",
            "",
        },
    }},
  };
  return queries;
}

}  // namespace market::sql
