SELECT name, creator, create_time, last_modify_time, last_modify_operator, cluster, define_type, pipeline FROM projects ORDER BY name LIMIT 10 OFFSET 0;
SELECT COUNT(*) FROM projects;
