-- fleet.adopt_own_tables(): go back to fleetcron's own fleet.agents and fleet.heartbeats.
--
-- The one call that undoes fleet.adopt: the triggers it put on the application's tables are
-- removed and the registration points at fleetcron's own tables again. The application's
-- tables and data are not touched otherwise. Only the owner of fleetcron's routines may call it.

create or replace function fleet.adopt_own_tables()
returns fleet.registration
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  registered fleet.registration;
begin
  perform fleet.remove_adopted_triggers();
  update fleet.registration
  set agents = 'fleet.agents',
      agent_id = 'id',
      agent_status = 'status',
      online_value = 'online',
      offline_value = 'offline',
      agent_last_heartbeat = 'last_heartbeat',
      agent_stale_after = 'stale_after',
      agent_name = 'name',
      heartbeats = 'fleet.heartbeats',
      heartbeat_time = 'created_at',
      heartbeat_agent = 'agent_id',
      heartbeat_key = 'id',
      time_zone = null,
      records_transitions = true,
      touches_agents = true,
      fingerprint = '{}',
      registered_at = now(),
      registered_by = session_user
  returning * into registered;
  return registered;
end
$$;

revoke all
  on function fleet.adopt_own_tables()
  from public;

comment on function fleet.adopt_own_tables() is
  'Switches the jobs back to fleetcron''s own fleet.agents and fleet.heartbeats and removes '
  'the triggers fleet.adopt installed. Example: select fleet.adopt_own_tables();';
