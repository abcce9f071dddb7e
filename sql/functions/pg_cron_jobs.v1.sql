-- fleet.pg_cron_jobs(): fleetcron's pg_cron jobs with the outcome of each one's latest run.

create or replace function fleet.pg_cron_jobs()
returns table (
  jobname text,
  schedule text,
  command text,
  active boolean,
  last_status text,
  last_start timestamptz,
  last_end timestamptz,
  last_message text
)
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
begin
  perform fleet.require_pg_cron();
  return query
    select j.jobname::text, j.schedule, j.command, j.active,
           d.status, d.start_time, d.end_time, d.return_message
    from cron.job as j
    left join lateral (
      select r.status, r.start_time, r.end_time, r.return_message
      from cron.job_run_details as r
      where r.jobid = j.jobid
      order by r.runid desc
      limit 1
    ) as d on true
    where j.jobname like 'fleetcron-%'
    order by j.jobname;
end
$$;

revoke all
  on function fleet.pg_cron_jobs()
  from public;

comment on function fleet.pg_cron_jobs() is
  'fleetcron''s pg_cron jobs and their latest run. Example: select * from fleet.pg_cron_jobs();';
