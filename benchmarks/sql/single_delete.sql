-- Baseline method `single-delete`: every expired heartbeat in one DELETE statement.
--
-- What: the floor for any DELETE-based purge. One statement, one transaction, one pass over
-- the table. It is what you would type by hand and it is the fastest way to delete rows
-- row by row, but on a live system it holds its row locks and its snapshot for the whole run,
-- produces its WAL in one burst (replicas lag) and cannot be bounded by a time budget; that is
-- why the project batches. DESIGN.md section 7 measured it at 4.5 s for 5 M expired rows.
-- Pattern: the naive retention job (e.g. "DELETE ... WHERE created_at < now() - interval
-- '30 days'" in a cron entry); the cutoff here is the project's own,
-- fleet.ago(fleet.config.heartbeat_retention), so all methods delete the same rows.
-- {heartbeats}: the table, spliced in by the caller (psycopg.sql).

delete from {heartbeats} as h
where h.created_at < (
  select fleet.ago(c.heartbeat_retention)
  from fleet.config as c
);
