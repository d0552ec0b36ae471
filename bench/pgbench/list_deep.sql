-- GET /api/project/list?page=N: the kept count, then the page after skipping in the name index.
SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM project_count;
SELECT name, creator, create_time, last_modify_time, last_modify_operator, cluster, define_type, pipeline FROM projects WHERE name >= (SELECT name FROM projects ORDER BY name LIMIT 1 OFFSET :off) ORDER BY name LIMIT 10;
