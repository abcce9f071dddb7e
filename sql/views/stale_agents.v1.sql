-- fleet.stale_agents: the agents the next check-stale run would mark offline, and why.

create view fleet.stale_agents as
select
  a.id as agent_id,
  a.name,
  a.last_heartbeat,
  coalesce(a.stale_after, c.stale_after) as stale_after,
  now() - a.last_heartbeat as silent_for
from fleet.agents as a
cross join fleet.config as c
where a.status = 'online'
  and a.last_heartbeat < fleet.ago(coalesce(a.stale_after, c.stale_after));

revoke all
  on fleet.stale_agents
  from public;

grant select
  on fleet.stale_agents
  to fleet_cron;

comment on view fleet.stale_agents is
  'Online agents silent past their threshold right now (what check-stale would mark offline). '
  'select * from fleet.stale_agents order by silent_for desc;';
