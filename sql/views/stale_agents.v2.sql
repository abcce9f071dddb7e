-- fleet.stale_agents v2: the agents the next check-stale run would mark offline, and why.
--
-- v2 reads the registered agents table through fleet.stale_agents_now(); agent_id is text
-- (an adopted table's ids may be of any type), so the view is created anew.

-- squawk-ignore ban-drop-view
drop view fleet.stale_agents;

create view fleet.stale_agents as
select
  s.agent_id,
  s.name,
  s.last_heartbeat,
  s.stale_after,
  s.silent_for
from fleet.stale_agents_now() as s;

revoke all
  on fleet.stale_agents
  from public;

grant select
  on fleet.stale_agents
  to fleet_cron;

comment on view fleet.stale_agents is
  'Online agents silent past their threshold right now (what check-stale would mark offline). '
  'select * from fleet.stale_agents order by silent_for desc;';
