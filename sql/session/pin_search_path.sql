-- The search_path of every migration run, set first in its transaction.
--
-- A migration runs as the schema owner, often a superuser. Anyone who can create objects in a
-- schema on that role's search_path (public, on PostgreSQL 14 and older or in a database owned
-- by someone else) could otherwise plant a better-matching function, operator or type, say
-- public.format(text, text), and have the migration call it with the migrator's rights; and a
-- view or SQL-standard function body binds its names when it is created. With only pg_catalog
-- and our own temporary schema on the path, every name in sql/ resolves to a built-in or is
-- qualified with fleet. SET LOCAL: it ends with the transaction, so it is safe through a pooler.

set local search_path = pg_catalog, pg_temp;
