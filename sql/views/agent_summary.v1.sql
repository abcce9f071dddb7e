-- fleet.agent_summary: the fleet in one row, for `fleetcron status` and for a glance in psql.
--
-- stale_now counts the agents the next check-stale run would mark offline. Like every view
-- here it runs with its owner's rights, so fleet_cron (the Vercel credential) may read the
-- counts without any privilege on the tables behind them.

create view fleet.agent_summary as
select
  count(*) as agents,
  count(*) filter (where a.status = 'online') as online,
  count(*) filter (where a.status = 'offline' and a.last_heartbeat is not null) as offline,
  count(*) filter (where a.last_heartbeat is null) as never_seen,
  count(*) filter (
    where a.status = 'online'
      and a.last_heartbeat < fleet.ago(coalesce(a.stale_after, c.stale_after))
  ) as stale_now
from fleet.agents as a
cross join fleet.config as c;

revoke all
  on fleet.agent_summary
  from public;

grant select
  on fleet.agent_summary
  to fleet_cron;

comment on view fleet.agent_summary is
  'Agents by status; stale_now = online agents the next check-stale run would mark offline. '
  'select * from fleet.agent_summary;';
