-- fleet.remove_adopted_triggers() v2: take fleetcron's triggers off the adopted tables.
--
-- fleet.adopt and fleet.adopt_own_tables call it before the registration changes, so nothing
-- of fleetcron is left behind on an application's tables it no longer works on. It looks for
-- the triggers by the names fleet.adopt gives them, on the tables registered now, and removes
-- only those that run fleetcron's trigger functions.
--
-- DROP TRIGGER takes ACCESS EXCLUSIVE on the application's table: it waits for every
-- transaction using the table, readers included, and every query of the application queues
-- behind it. Its callers cap lock_timeout at 5 seconds first (v1's callers set none, and could
-- wait for ever); a lock that does not come in time stops v2 with a message naming the table.
-- v2 also drops the heartbeats table's trigger before the agents table's, the order in which
-- heartbeat writers lock the two (an INSERT, then the UPDATE of its agent), so it cannot close
-- a deadlock cycle with them.

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
    -- The heartbeats table first: the order heartbeat writers lock the tables in.
    order by t.tgrelid = r.agents, t.tgname
  loop
    begin
      execute format('drop trigger %I on %s', installed.tgname, installed.relation);
    exception
      when lock_not_available then
        raise exception 'cannot take fleetcron''s triggers off % now: another transaction holds '
                        'a lock on it (waited %)', installed.relation,
                        current_setting('lock_timeout')
          using errcode = 'lock_not_available',
                hint = 'try again once that transaction has ended (pg_locks and '
                       'pg_stat_activity show which it is); nothing was changed';
    end;
  end loop;
end
$$;

revoke all
  on function fleet.remove_adopted_triggers()
  from public;

comment on function fleet.remove_adopted_triggers() is
  'Internal: drops the triggers fleet.adopt installed on the currently adopted tables, the '
  'heartbeats table''s first (its callers cap lock_timeout).';
