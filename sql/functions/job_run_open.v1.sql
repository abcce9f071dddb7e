-- fleet.job_run_open(job, triggered_by, deadline): start a row in fleet.job_runs.
--
-- Shared by both jobs so that every run is recorded the same way. SECURITY DEFINER because the
-- cleanup procedure runs with its caller's rights (it COMMITs, so it cannot be a definer), and
-- that caller (fleet_cron) holds no privilege on the table.

create or replace function fleet.job_run_open(
  job text,
  triggered_by text default null,
  deadline timestamptz default null
)
returns bigint
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  run_id bigint;
begin
  insert into fleet.job_runs (job, triggered_by, deadline)
  values (
    job_run_open.job,
    fleet.job_trigger_source(job_run_open.triggered_by),
    job_run_open.deadline
  )
  returning id into run_id;

  return run_id;
end
$$;

revoke all
  on function fleet.job_run_open(text, text, timestamptz)
  from public;

grant execute
  on function fleet.job_run_open(text, text, timestamptz)
  to fleet_cron;

comment on function fleet.job_run_open(text, text, timestamptz) is
  'Internal: records the start of a job run (outcome running) and returns its id.';
