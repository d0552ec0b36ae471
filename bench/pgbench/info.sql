-- GET /api/project/info: the store's point SELECT by name.
\set n random(0, :projects - 1)
SELECT name, creator, create_time, last_modify_time, last_modify_operator, cluster, define_type, pipeline FROM projects WHERE name = 'bench-' || lpad(:n::text, 7, '0');
