-- fleet.job_run_close(run_id, outcome, rows_affected, detail): finish a row in fleet.job_runs.
--
-- Only a running row can be closed, once: a second close (or a close of a row the cleanup job
-- already declared abandoned) is an error rather than a silent overwrite of what happened.

create or replace function fleet.job_run_close(
  run_id bigint,
  outcome text,
  rows_affected bigint default 0,
  detail jsonb default '{}'
)
returns fleet.job_runs
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  closed fleet.job_runs;
begin
  if job_run_close.outcome is null or job_run_close.outcome not in ('ok', 'skipped', 'error') then
    raise exception 'a job run closes as ok, skipped or error (got "%")', job_run_close.outcome
      using errcode = 'invalid_parameter_value';
  end if;

  update fleet.job_runs as r
  set outcome = job_run_close.outcome,
      finished_at = greatest(clock_timestamp(), r.started_at),
      rows_affected = coalesce(job_run_close.rows_affected, 0),
      detail = r.detail || coalesce(job_run_close.detail, '{}')
  where r.id = job_run_close.run_id
    and r.outcome = 'running'
  returning r.* into closed;

  if not found then
    raise exception 'job run % does not exist or has already finished', job_run_close.run_id
      using errcode = 'no_data_found';
  end if;
  return closed;
end
$$;

revoke all
  on function fleet.job_run_close(bigint, text, bigint, jsonb)
  from public;

grant execute
  on function fleet.job_run_close(bigint, text, bigint, jsonb)
  to fleet_cron;

comment on function fleet.job_run_close(bigint, text, bigint, jsonb) is
  'Internal: finishes a running job run with its outcome, row count and detail; returns the row.';
