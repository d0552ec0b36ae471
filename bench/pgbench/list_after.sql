-- GET /api/project/list?after=NAME: the kept count, then the keyset page.
SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM project_count;
SELECT name, creator, create_time, last_modify_time, last_modify_operator, cluster, define_type, pipeline FROM projects WHERE name > :after ORDER BY name LIMIT 10;
