-- fleet.record_failed_run(job, triggered_by, failed_sqlstate, failed_message): record a run that
-- failed where the database could not record it itself.
--
-- The jobs record their own failures (an error inside the run is caught and written as an
-- 'error' run). What they cannot record is a failure on the way: the connection lost mid-job
-- (a pooler killed), or a client deadline that cancelled the call and closed the socket. The
-- fleetcron runner (the Vercel endpoints, the CLI) then calls this, on a new connection, so
-- that such a run is not invisible in fleet.job_runs, `fleetcron status` and doctor.
-- Returns the run's id.

create or replace function fleet.record_failed_run(
  job text,
  triggered_by text,
  failed_sqlstate text,
  failed_message text
)
returns bigint
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  run_id bigint;
begin
  if job is null or job not in ('check-stale', 'cleanup-heartbeats') then
    raise exception 'job must be check-stale or cleanup-heartbeats (got "%")', job
      using errcode = 'invalid_parameter_value';
  end if;
  insert into fleet.job_runs (job, triggered_by, outcome, finished_at, detail)
  values (
    record_failed_run.job,
    fleet.job_trigger_source(record_failed_run.triggered_by),
    'error',
    clock_timestamp(),
    jsonb_strip_nulls(jsonb_build_object(
      'sqlstate', left(failed_sqlstate, 5),
      'error', left(failed_message, 1000),
      'recorded_by', 'client'
    ))
  )
  returning id into run_id;
  return run_id;
end
$$;

revoke all
  on function fleet.record_failed_run(text, text, text, text)
  from public;

grant execute
  on function fleet.record_failed_run(text, text, text, text)
  to fleet_cron;

comment on function fleet.record_failed_run(text, text, text, text) is
  'Records a run that failed outside the database''s reach (connection lost, client deadline) '
  'as error; returns its id. Used by the fleetcron runner.';
