-- fleet.stale_agents_now(): the agents the next check-stale run would mark offline, and why,
-- for the view fleet.stale_agents.
--
-- agent_id is text, whatever the registered table's id type; name is the registered name
-- column, if any.

create or replace function fleet.stale_agents_now()
returns table (
  agent_id text,
  name text,
  last_heartbeat timestamptz,
  stale_after interval,
  silent_for interval
)
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
set jit = off
as $$
declare
  tables record;
  default_stale_after interval := (
    select c.stale_after
    from fleet.config as c
  );
  now_utc timestamp := now() at time zone 'UTC';
  last_heartbeat_at text;
begin
  select *
  into tables
  from fleet.resolve_registration();
  last_heartbeat_at := format(
    case when tables.last_heartbeat_is_local then '(a.%I at time zone $3)' else 'a.%I' end,
    tables.agent_last_heartbeat
  );
  return query execute format(
    $sql$
    select
      a.%1$I::text,
      %2$s,
      %3$s,
      %4$s,
      now() - %3$s
    from %5$s as a
    where a.%6$I = $4::%7$s
      and a.%8$I < %9$s
    $sql$,
    tables.agent_id,
    case when tables.agent_name is null then 'null::text'
         else format('a.%I::text', tables.agent_name) end,
    last_heartbeat_at,
    case when tables.agent_stale_after is null then '$5'
         else format('coalesce(a.%I, $5)', tables.agent_stale_after) end,
    tables.agents,
    tables.agent_status,
    tables.status_type,
    tables.agent_last_heartbeat,
    fleet.agent_cutoff_sql('a', tables.agent_stale_after, tables.last_heartbeat_is_local)
  )
  using (now_utc - default_stale_after) at time zone 'UTC', now_utc, tables.time_zone,
        tables.online_value, default_stale_after;
end
$$;

revoke all
  on function fleet.stale_agents_now()
  from public;

grant execute
  on function fleet.stale_agents_now()
  to fleet_cron;

comment on function fleet.stale_agents_now() is
  'Online agents of the registered table silent past their threshold right now. Read it '
  'through the view: select * from fleet.stale_agents order by silent_for desc;';
