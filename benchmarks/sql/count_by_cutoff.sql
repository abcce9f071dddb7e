-- Benchmark verification: how many heartbeats lie on each side of the purge cutoff.
--
-- What: counts rows older than fleet.ago(fleet.config.heartbeat_retention) (what a purge must
-- delete) and the rest (what it must never touch), and returns the cutoff it used. Run
-- before and after each method, outside the timed section: afterwards no expired row may be
-- left and the kept count must be unchanged (nothing inserts, so an equal count means no
-- younger row was deleted). One sequential scan; not timed.
-- Pattern: benchmark plumbing, no production counterpart.

select
  count(*) filter (where h.created_at < cut.at) as expired,
  count(*) filter (where h.created_at >= cut.at) as kept,
  cut.at as cutoff
from (
  select fleet.ago(c.heartbeat_retention) as at
  from fleet.config as c
) as cut
left join fleet.heartbeats as h on true
group by cut.at;
