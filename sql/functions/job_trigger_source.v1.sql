-- fleet.job_trigger_source(requested): who is running a job, for fleet.job_runs.triggered_by.
--
-- The HTTP endpoints and the CLI say who they are. A DBA in psql or a pg_cron job usually
-- does not, so a NULL is read from application_name (psql and pg_cron set theirs). Anything
-- else is refused before a job changes anything. Internal: only the job routines call it.

create or replace function fleet.job_trigger_source(requested text default null)
returns text
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
begin
  if requested is null then
    return case current_setting('application_name')
      when 'pg_cron' then 'pg_cron'
      when 'psql' then 'psql'
      else 'other'
    end;
  end if;

  -- Same list as the CHECK constraint job_runs_triggered_by_is_known.
  if requested not in ('vercel', 'pg_cron', 'psql', 'cli', 'other') then
    raise exception 'triggered_by must be one of vercel, pg_cron, psql, cli, other (got "%")', requested
      using errcode = 'invalid_parameter_value';
  end if;
  return requested;
end
$$;

revoke all
  on function fleet.job_trigger_source(text)
  from public;

comment on function fleet.job_trigger_source(text) is
  'Internal: validates a triggered_by value, or infers one from application_name when NULL. '
  'Example: select fleet.job_trigger_source(null);';
