-- fleet.mark_stale_agents(triggered_by, batch): the check-stale job, answering with the agents.
--
-- The DBA's door to the same job as fleet.run_check_stale (which it calls): one run, one
-- fleet.job_runs row, but the answer is the list of agents it just marked offline, read back
-- from the transitions that run recorded in this same transaction. agent_id is text, because an
-- adopted agents table may key its agents by bigint, text or anything else; agent_name is the
-- registered name column, if any. A run that was skipped (another holds the job) or failed
-- returns no rows and says why in a NOTICE or WARNING.

-- v2 adds an optional argument and returns agent_id as text; every call v1 took still resolves.
-- squawk-ignore ban-drop-function
drop function if exists fleet.mark_stale_agents(text);

create or replace function fleet.mark_stale_agents(
  triggered_by text default null,
  batch integer default null
)
returns table (
  agent_id text,
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
  tables record;
  default_stale_after interval;
begin
  run := fleet.run_check_stale(mark_stale_agents.triggered_by, mark_stale_agents.batch);

  if run.outcome = 'skipped' then
    raise notice 'check-stale run % skipped: %', run.id, run.detail ->> 'reason';
  end if;
  if run.outcome <> 'ok' or run.rows_affected = 0 then
    return;
  end if;

  select *
  into tables
  from fleet.resolve_registration();
  default_stale_after := (run.detail ->> 'default_stale_after')::interval;

  return query execute format(
    $sql$
    select e.agent_key, %3$s, (e.detail ->> 'last_heartbeat')::timestamptz, %4$s
    from fleet.agent_events as e
    left join %1$s as a
      on a.%2$I = e.agent_key::%5$s
    where e.run_id = $1
      and e.reason = 'stale'
    order by 2, 1
    $sql$,
    tables.agents,
    tables.agent_id,
    case when tables.agent_name is null then 'null::text'
         else format('a.%I::text', tables.agent_name) end,
    case when tables.agent_stale_after is null then '$2'
         else format('coalesce(a.%I, $2)', tables.agent_stale_after) end,
    tables.agent_id_type
  )
  using run.id, default_stale_after;
end
$$;

revoke all
  on function fleet.mark_stale_agents(text, integer)
  from public;

grant execute
  on function fleet.mark_stale_agents(text, integer)
  to fleet_cron;

comment on function fleet.mark_stale_agents(text, integer) is
  'Runs the check-stale job and returns the agents it marked offline (none when skipped or '
  'failed). Example: select * from fleet.mark_stale_agents();';
