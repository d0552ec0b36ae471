-- GET /api/project/list?projectName=F: one pass over the matches gives the count and the page.
-- The containment asks the index of names' 5-character pieces (migration 7) for the names
-- holding every piece of F's runs of letters and digits; strpos() checks F exactly. At most
-- 10,000 matching names are materialized (past that the store falls back to a separate count
-- and page, which a selective filter never needs).
WITH m AS MATERIALIZED (SELECT name FROM projects WHERE project_name_grams(name) @> CAST(:grams AS text[]) AND strpos(name, :literal) > 0 LIMIT 10000) SELECT (SELECT COUNT(*) FROM m), name, creator, create_time, last_modify_time, last_modify_operator, cluster, define_type, pipeline FROM projects WHERE name IN (SELECT name FROM m ORDER BY name LIMIT 10) ORDER BY name;
