-- fleet.agent_summary v2: the fleet in one row, for `fleetcron status` and a glance in psql.
--
-- v2 reads the registered agents table (fleet.agents, or the application's own adopted with
-- fleet.adopt) through fleet.agent_counts(), which runs with its owner's rights, so fleet_cron
-- may read the counts without any privilege on the table behind them.

create or replace view fleet.agent_summary as
select
  c.agents,
  c.online,
  c.offline,
  c.never_seen,
  c.stale_now
from fleet.agent_counts() as c;

comment on view fleet.agent_summary is
  'Agents by status; stale_now = online agents the next check-stale run would mark offline. '
  'select * from fleet.agent_summary;';
