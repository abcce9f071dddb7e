-- fleet.adopt_own_tables() v2: go back to fleetcron's own fleet.agents and fleet.heartbeats.
--
-- The one call that undoes fleet.adopt: the triggers it put on the application's tables are
-- removed and the registration points at fleetcron's own tables again. The application's
-- tables and data are not touched otherwise. Only the owner of fleetcron's routines may call it.
--
-- Removing a trigger locks the application's table (fleet.remove_adopted_triggers): v2 waits at
-- most 5 seconds for each (or the caller's lock_timeout, when that is shorter) and then stops,
-- naming the table and changing nothing, where v1 could wait for ever while the application's
-- queries queued behind it. The caller's lock_timeout is as it was afterwards.

create or replace function fleet.adopt_own_tables()
returns fleet.registration
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  registered fleet.registration;
  callers_lock_timeout text := current_setting('lock_timeout');
begin
  if current_setting('lock_timeout')::interval not between interval '1 millisecond'
    and interval '5 seconds'
  then
    perform set_config('lock_timeout', '5s', true);
  end if;

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

  perform set_config('lock_timeout', callers_lock_timeout, true);
  return registered;
end
$$;

revoke all
  on function fleet.adopt_own_tables()
  from public;

comment on function fleet.adopt_own_tables() is
  'Switches the jobs back to fleetcron''s own fleet.agents and fleet.heartbeats and removes '
  'the triggers fleet.adopt installed. Example: select fleet.adopt_own_tables();';
