-- GET /api/project/list?projectName=F: one pass over the matches gives the count and the page.
-- The LIKE on the longest alphanumeric run of F is for the trigram index, strpos() checks F
-- exactly; at most 10,000 matching names are materialized (past that the store falls back to a
-- separate count and page, which a selective filter never needs).
WITH m AS MATERIALIZED (SELECT name FROM projects WHERE name LIKE :pattern ESCAPE '\' AND strpos(name, :literal) > 0 LIMIT 10000) SELECT (SELECT COUNT(*) FROM m), q.name, q.creator, q.create_time, q.last_modify_time, q.last_modify_operator, q.cluster, q.define_type, q.pipeline FROM (SELECT name FROM m ORDER BY name LIMIT 10) k JOIN projects q ON q.name = k.name ORDER BY q.name;
