-- GET /api/project/list, first page: the kept count, then the page.
SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM project_count;
SELECT name, creator, create_time, last_modify_time, last_modify_operator, cluster, define_type, pipeline FROM projects ORDER BY name LIMIT 10;
