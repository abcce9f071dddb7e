-- Benchmark verification: how many agents the stale check should still mark offline.
--
-- What: online agents of fleet.agents whose last heartbeat is older than the stale cutoff
-- (fleet.config.stale_after before now, in UTC, as fleet.run_check_stale computes it; the
-- seeded agents have no stale_after of their own). Counted before a run (what it must mark)
-- and after (what it left). One sequential scan; not timed.
-- Pattern: benchmark plumbing, no production counterpart.

select count(*)
from fleet.agents as a
where a.status = 'online'
  and a.last_heartbeat < (
    select ((now() at time zone 'UTC') - c.stale_after) at time zone 'UTC'
    from fleet.config as c
  );
