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
-- Races with heartbeats: under READ COMMITTED an UPDATE that finds a row locked by a
-- heartbeat waits, then re-checks its WHERE clause against the new row, so an agent whose
-- heartbeat commits first stays online and no agent transitions twice.
--
-- Errors roll back the whole run (nothing is marked, no run row) and reach the caller.

create or replace function fleet.run_check_stale(triggered_by text default null)
returns fleet.job_runs
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  run_id bigint;
  marked bigint;
  default_stale_after interval;
begin
  run_id := fleet.job_run_open('check-stale', run_check_stale.triggered_by);

  if not pg_try_advisory_xact_lock(1718379877, 1) then
    return fleet.job_run_close(
      run_id,
      'skipped',
      0,
      jsonb_build_object('reason', 'another check-stale run holds the lock')
    );
  end if;

  select c.stale_after
  into default_stale_after
  from fleet.config as c;

  perform set_config('fleet.transition_reason', 'stale', true),
          set_config('fleet.transition_run_id', run_id::text, true);

  update fleet.agents as a
  set status = 'offline'
  from fleet.config as c
  where a.status = 'online'
    and a.last_heartbeat < fleet.ago(coalesce(a.stale_after, c.stale_after));
  get diagnostics marked = row_count;

  perform set_config('fleet.transition_reason', '', true),
          set_config('fleet.transition_run_id', '', true);

  return fleet.job_run_close(
    run_id,
    'ok',
    marked,
    jsonb_build_object('default_stale_after', default_stale_after)
  );
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
