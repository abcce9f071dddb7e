-- fleet.agent_counts(): the fleet in one row, for the view fleet.agent_summary.
--
-- Counts the registered agents table (fleet.agents, or the application's own) by status;
-- stale_now counts the agents the next check-stale run would mark offline, with the same
-- cutoff arithmetic (fleet.agent_cutoff_sql). Runs with its owner's rights, so fleet_cron (the
-- Vercel credential) reads the counts without any privilege on the table.

create or replace function fleet.agent_counts()
returns table (
  agents bigint,
  online bigint,
  offline bigint,
  never_seen bigint,
  stale_now bigint
)
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
set jit = off
as $$
declare
  tables record;
  stale_after interval := (
    select c.stale_after
    from fleet.config as c
  );
  now_utc timestamp := now() at time zone 'UTC';
begin
  select *
  into tables
  from fleet.resolve_registration();
  return query execute format(
    $sql$
    select
      count(*),
      count(*) filter (where a.%1$I = $4::%2$s),
      count(*) filter (where a.%1$I = $5::%2$s and a.%3$I is not null),
      count(*) filter (where a.%3$I is null),
      count(*) filter (where a.%1$I = $4::%2$s and a.%3$I < %4$s)
    from %5$s as a
    $sql$,
    tables.agent_status, tables.status_type, tables.agent_last_heartbeat,
    fleet.agent_cutoff_sql('a', tables.agent_stale_after, tables.last_heartbeat_is_local),
    tables.agents
  )
  using (now_utc - stale_after) at time zone 'UTC', now_utc, tables.time_zone,
        tables.online_value, tables.offline_value;
end
$$;

revoke all
  on function fleet.agent_counts()
  from public;

grant execute
  on function fleet.agent_counts()
  to fleet_cron;

comment on function fleet.agent_counts() is
  'Agents of the registered table by status, and how many the next check-stale run would mark '
  'offline. Read it through the view: select * from fleet.agent_summary;';
