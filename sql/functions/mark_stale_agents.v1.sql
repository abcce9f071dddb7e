-- fleet.mark_stale_agents(triggered_by): the check-stale job, answering with the agents.
--
-- The DBA's door to the same job as fleet.run_check_stale (which it calls): one run, one
-- fleet.job_runs row, but the answer is the list of agents it just marked offline, read back
-- from the stale transitions that run wrote (in this same transaction). A skipped run (another
-- holds the lock) returns no rows and says so in a NOTICE.

create or replace function fleet.mark_stale_agents(triggered_by text default null)
returns table (
  agent_id uuid,
  agent_name text,
  last_heartbeat timestamptz,
  stale_after interval
)
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  run fleet.job_runs;
begin
  run := fleet.run_check_stale(mark_stale_agents.triggered_by);

  if run.outcome = 'skipped' then
    raise notice 'check-stale run % skipped: another run holds the lock', run.id;
  end if;

  return query
    select e.agent_id, a.name, a.last_heartbeat, coalesce(a.stale_after, c.stale_after)
    from fleet.agent_events as e
    join fleet.agents as a
      on a.id = e.agent_id
    cross join fleet.config as c
    where e.run_id = run.id
      and e.reason = 'stale'
      and e.to_status = 'offline'
    order by a.name;
end
$$;

revoke all
  on function fleet.mark_stale_agents(text)
  from public;

grant execute
  on function fleet.mark_stale_agents(text)
  to fleet_cron;

comment on function fleet.mark_stale_agents(text) is
  'Runs the check-stale job and returns the agents it marked offline (none when skipped). '
  'Example: select * from fleet.mark_stale_agents();';
