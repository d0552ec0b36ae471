-- GET /api/project/list?projectName=F: the exact count of matches, then the page. The LIKE on
-- the longest alphanumeric run of F is for the trigram index, strpos() checks F exactly.
SELECT COUNT(*) FROM projects WHERE name LIKE :pattern ESCAPE '\' AND strpos(name, :literal) > 0;
SELECT name, creator, create_time, last_modify_time, last_modify_operator, cluster, define_type, pipeline FROM projects WHERE name LIKE :pattern ESCAPE '\' AND strpos(name, :literal) > 0 ORDER BY name LIMIT 10;
