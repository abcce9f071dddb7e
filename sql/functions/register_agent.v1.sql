-- fleet.register_agent(name, stale_after): add an agent to the fleet, or return it if present.
--
-- Idempotent by name, so an agent can call it on every start and always get the same id back.
-- Given a stale_after, it also sets the agent's own silence threshold; NULL leaves it alone.
-- The new agent is offline until its first heartbeat.

create or replace function fleet.register_agent(
  name text,
  stale_after interval default null
)
returns fleet.agents
language sql
security definer
set search_path = pg_catalog, pg_temp
begin atomic
  insert into fleet.agents as a (name, stale_after)
  values (register_agent.name, register_agent.stale_after)
  on conflict on constraint agents_name_is_unique do update
    set stale_after = coalesce(excluded.stale_after, a.stale_after)
  returning *;
end;

revoke all
  on function fleet.register_agent(text, interval)
  from public;

grant execute
  on function fleet.register_agent(text, interval)
  to fleet_agent;

comment on function fleet.register_agent(text, interval) is
  'Registers an agent by name (or returns the existing one) and returns its row; optional '
  'stale_after overrides fleet.config.stale_after for it. New agents are offline until their '
  'first heartbeat. Example: select id from fleet.register_agent(''edge-42'', interval ''10 minutes'');';
