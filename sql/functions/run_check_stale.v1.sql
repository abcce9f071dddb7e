-- fleet.run_check_stale(triggered_by): the check-stale job. Marks quiet agents offline.
--
-- Every agent that is online and whose last heartbeat is older than its threshold
-- (fleet.agents.stale_after, else fleet.config.stale_after) goes offline, in one UPDATE.
-- Each transition writes a fleet.agent_events row and a NOTIFY (trigger
-- fleet.agents_record_transition); the run writes one fleet.job_runs row, which it returns.
--
-- Overlap: Vercel may deliver one schedule twice, and Vercel, pg_cron and a DBA may all run it.
-- Whoever gets the transaction-level advisory lock does the work; the others record a
-- 'skipped' run and return at once instead of queueing. A transaction-level lock is safe
-- behind a transaction-mode pooler (a session lock is not). Lock key: (1718379877, 1), where
-- 1718379877 is 'flee' in ASCII and 1 is check-stale.
--
-- Races with heartbeats: the rows to mark are locked in id order first (as the heartbeat
-- trigger locks its agents), so the two never deadlock. A row a heartbeat holds is waited
-- for and then re-checked under READ COMMITTED, so an agent whose heartbeat commits first
-- stays online and no agent transitions twice.
--
-- Errors roll back the whole run (nothing is marked, no run row) and reach the caller.

create or replace function fleet.run_check_stale(triggered_by text default null)
returns fleet.job_runs
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  started timestamptz := clock_timestamp();
  source text := fleet.job_trigger_source(run_check_stale.triggered_by);
  run fleet.job_runs;
  marked bigint;
  default_stale_after interval;
begin
  perform fleet.require_read_committed();

  if not pg_try_advisory_xact_lock(1718379877, 1) then
    insert into fleet.job_runs (job, triggered_by, outcome, started_at, finished_at, detail)
    values (
      'check-stale',
      source,
      'skipped',
      started,
      clock_timestamp(),
      jsonb_build_object('reason', 'another check-stale run holds the lock')
    )
    returning * into run;
    return run;
  end if;

  select c.stale_after
  into default_stale_after
  from fleet.config as c;

  -- Reserve the run's id first: the transition events refer to it.
  run.id := nextval(pg_get_serial_sequence('fleet.job_runs', 'id'));
  perform set_config('fleet.transition_reason', 'stale', true),
          set_config('fleet.transition_run_id', run.id::text, true);

  update fleet.agents as a
  set status = 'offline'
  from fleet.config as c
  where a.id in (
      select s.id
      from fleet.agents as s
      cross join fleet.config as sc
      where s.status = 'online'
        and s.last_heartbeat < fleet.ago(coalesce(s.stale_after, sc.stale_after))
      order by s.id
      for no key update of s
    )
    and a.status = 'online'
    and a.last_heartbeat < fleet.ago(coalesce(a.stale_after, c.stale_after));
  get diagnostics marked = row_count;

  perform set_config('fleet.transition_reason', '', true),
          set_config('fleet.transition_run_id', '', true);

  insert into fleet.job_runs
    (id, job, triggered_by, outcome, started_at, finished_at, rows_affected, detail)
  overriding system value
  values (
    run.id,
    'check-stale',
    source,
    'ok',
    started,
    clock_timestamp(),
    marked,
    jsonb_build_object('default_stale_after', default_stale_after)
  )
  returning * into run;
  return run;
end
$$;

revoke all
  on function fleet.run_check_stale(text)
  from public;

grant execute
  on function fleet.run_check_stale(text)
  to fleet_cron;

comment on function fleet.run_check_stale(text) is
  'The check-stale job: marks online agents silent past their threshold offline and returns '
  'its fleet.job_runs row (outcome ok, or skipped when another run holds the lock). '
  'triggered_by: vercel, pg_cron, psql, cli or other (NULL: from application_name). '
  'Example: select outcome, rows_affected from fleet.run_check_stale();';
