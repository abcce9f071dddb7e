-- fleet.remove_adopted_triggers(): take fleetcron's triggers off the adopted tables.
--
-- fleet.adopt and fleet.adopt_own_tables call it before the registration changes, so nothing
-- of fleetcron is left behind on an application's tables it no longer works on. It looks for
-- the triggers by the names fleet.adopt gives them, on the tables registered now, and removes
-- only those that run fleetcron's trigger functions.

create or replace function fleet.remove_adopted_triggers()
returns void
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  installed record;
begin
  for installed in
    select t.tgname, t.tgrelid::regclass as relation
    from fleet.registration as r
    join pg_trigger as t
      on t.tgrelid in (r.agents, r.heartbeats)
    where r.agents <> 'fleet.agents'::regclass
      and t.tgname in ('fleetcron_record_transition', 'fleetcron_touch_agents')
      and t.tgfoid in (
        'fleet.adopted_agents_record_transition()'::regprocedure,
        'fleet.adopted_heartbeats_touch_agents()'::regprocedure
      )
  loop
    execute format('drop trigger %I on %s', installed.tgname, installed.relation);
  end loop;
end
$$;

revoke all
  on function fleet.remove_adopted_triggers()
  from public;

comment on function fleet.remove_adopted_triggers() is
  'Internal: drops the triggers fleet.adopt installed on the currently adopted tables.';
