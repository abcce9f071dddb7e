-- Trigger fleet.adopted_heartbeats_touch_agents: inserts into an adopted heartbeats table keep
-- the adopted agents table current, for an application that does not do it itself.
--
-- fleet.adopt installs it as fleetcron_touch_agents (AFTER INSERT, once per statement over the
-- inserted rows). Like fleetcron's own heartbeat trigger it moves each agent's last heartbeat
-- forward to its newest heartbeat (never back) and brings it online when that heartbeat is
-- fresher than its threshold, locking the agents in id order so bulk inserts never deadlock.
-- The statement is built from the registration's catalog names (%I, regclass) with values as
-- parameters, and times are converted between the two tables through the registered zone.
--
-- It must never cost the application a heartbeat: if it fails (say a registered column was
-- dropped since), the insert still goes through, a WARNING says why, and doctor reports the
-- registration problem.

create or replace function fleet.adopted_heartbeats_touch_agents()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  tables record;
  settings fleet.config;
  now_utc timestamp := now() at time zone 'UTC';
  default_cutoff timestamptz;
  newest text;
  fresh text;
  failure text;
begin
  begin
    -- Validated when adopted and by every job; not again on each insert statement.
    select *
    into tables
    from fleet.resolve_registration(validate => false);
    if tables.heartbeats <> tg_relid then
      return null;
    end if;
    select *
    into settings
    from fleet.config;
    default_cutoff := (now_utc - settings.stale_after) at time zone 'UTC';

    -- The newest heartbeat per agent, in the type of the agents' last-heartbeat column.
    newest := format('max(h.%I)', tables.heartbeat_time);
    if tables.heartbeat_time_is_local <> tables.last_heartbeat_is_local then
      newest := format('(%s) at time zone $3', newest);
    end if;
    fresh := format('l.newest >= %s', fleet.agent_cutoff_sql('a', tables.agent_stale_after,
                                                              tables.last_heartbeat_is_local));

    execute format(
      'select 1 from %1$s as a where a.%2$I in (select h.%3$I from arrived as h) '
      'order by a.%2$I for no key update',
      tables.agents, tables.agent_id, tables.heartbeat_agent
    );
    perform set_config('fleet.transition_reason', 'heartbeat', true);
    execute format(
      $sql$
      update %1$s as a
      set %2$I = greatest(a.%2$I, l.newest),
          %3$I = case when %7$s then $4::%4$s else a.%3$I end
      from (
        select h.%5$I as agent, %6$s as newest
        from arrived as h
        group by h.%5$I
      ) as l
      where a.%8$I = l.agent
        and (
          a.%2$I is null
          or l.newest > a.%2$I
          or (a.%3$I is distinct from $4::%4$s and %7$s)
        )
      $sql$,
      tables.agents, tables.agent_last_heartbeat, tables.agent_status, tables.status_type,
      tables.heartbeat_agent, newest, fresh, tables.agent_id
    )
    using default_cutoff, now_utc, tables.time_zone, tables.online_value;
    perform set_config('fleet.transition_reason', '', true);
  exception
    when others then
      get stacked diagnostics failure = message_text;
      raise warning 'fleetcron could not update the agents for these heartbeats: %', failure
        using hint = 'the heartbeats were stored; run fleetcron doctor';
  end;
  return null;
end
$$;

revoke all
  on function fleet.adopted_heartbeats_touch_agents()
  from public;

comment on function fleet.adopted_heartbeats_touch_agents() is
  'Trigger fleet.adopt installs on an adopted heartbeats table: moves the agents'' last '
  'heartbeat forward and brings agents with a fresh heartbeat online.';
