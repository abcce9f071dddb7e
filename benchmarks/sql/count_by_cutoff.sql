-- Benchmark verification: how many heartbeats lie on each side of the purge cutoff.
--
-- What: counts rows older than fleet.ago(fleet.config.heartbeat_retention) (what a purge must
-- delete) and the rest (what it must never touch), and returns the cutoff it used. Run
-- before and after each method, outside the timed section: afterwards no expired row may be
-- left and the kept count must be unchanged (nothing inserts, so an equal count means no
-- younger row was deleted). Two counts, each an index or sequential scan, whichever is
-- cheaper (one scan that joined every row to the cutoff took 2 us a row); not timed.
-- Pattern: benchmark plumbing, no production counterpart.
-- {heartbeats}: the table, spliced in by the caller (psycopg.sql): fleet.heartbeats, or the
-- plain copy that benchmarks.scale compares it with.

with cut as materialized (
  select fleet.ago(c.heartbeat_retention) as at
  from fleet.config as c
)
select
  (select count(*) from {heartbeats} as h where h.created_at < (select cut.at from cut)),
  (select count(*) from {heartbeats} as h where h.created_at >= (select cut.at from cut)),
  (select cut.at from cut);
