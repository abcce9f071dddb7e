-- fleet.pg_cron_install(...) v3: run the jobs from pg_cron (Supabase Cron) instead of, or beside,
-- Vercel Cron.
--
-- Schedules three jobs, by name, so running it again updates them in place (pg_cron's
-- cron.schedule replaces a job of the same name and owner):
--   fleetcron-check-stale          set local statement_timeout = '45s';
--                                  select fleet.run_check_stale(triggered_by => 'pg_cron')
--   fleetcron-cleanup-heartbeats   call fleet.purge_old_heartbeats_all(triggered_by => 'pg_cron')
--   fleetcron-prune-cron-history   deletes cron.job_run_details rows older than
--                                  history_retention, which pg_cron itself never prunes
-- Overlap with Vercel Cron is harmless: both jobs skip while another run holds them.
-- pg_cron runs a job as the role that scheduled it, and its times are UTC (GMT).
-- Caller's rights: the jobs belong to whoever calls this.
--
-- v2: a job's command runs in pg_cron's session with the job owner's search_path, so the
-- history prune names its functions, operators and types with pg_catalog (v1's "now() -
-- interval" resolved through that path); the two job calls are schema-qualified already.
--
-- v3: check-stale runs under the 45 s statement_timeout the endpoints and the CLI give it
-- (deployer/runtime/jobs.py), so a run that cannot finish ends, recorded, rather than holding
-- the agents it locked; v2 scheduled the bare call, bounded by nothing. pg_cron sends a job's
-- command as one query string, its statements in one transaction (a failure in any rolls back
-- all), so SET LOCAL ends with the run. (Where pg_cron runs jobs in background workers,
-- cron.use_background_workers = on, it arms the statement timer once, before the command starts,
-- from the statement_timeout of the scheduling role and the database: the SET in the command
-- does not reach it, and the run is bounded by that setting alone.) cleanup-heartbeats needs no
-- such bound: its time budget ends it.

create or replace function fleet.pg_cron_install(
  check_stale_schedule text default '*/5 * * * *',
  cleanup_schedule text default '0 0 * * *',
  history_retention interval default interval '7 days'
)
returns table (
  jobname text,
  schedule text,
  command text,
  jobid bigint
)
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  job record;
begin
  perform fleet.require_pg_cron();
  if history_retention is null or history_retention < interval '1 day' then
    raise exception 'history_retention must be at least 1 day (got %)', history_retention
      using errcode = 'invalid_parameter_value';
  end if;

  for job in
    select *
    from (
      values
        (
          'fleetcron-check-stale',
          check_stale_schedule,
          'set local statement_timeout = ''45s''; '
          'select fleet.run_check_stale(triggered_by => ''pg_cron'')'
        ),
        (
          'fleetcron-cleanup-heartbeats',
          cleanup_schedule,
          'call fleet.purge_old_heartbeats_all(triggered_by => ''pg_cron'')'
        ),
        (
          'fleetcron-prune-cron-history',
          '30 1 * * *',
          format(
            'delete from cron.job_run_details where end_time operator(pg_catalog.<) '
            '(pg_catalog.now() operator(pg_catalog.-) %L::pg_catalog.interval)',
            history_retention
          )
        )
    ) as wanted (name, cron_schedule, cron_command)
  loop
    jobname := job.name;
    schedule := job.cron_schedule;
    command := job.cron_command;
    jobid := cron.schedule(job.name, job.cron_schedule, job.cron_command);
    return next;
  end loop;
end
$$;

revoke all
  on function fleet.pg_cron_install(text, text, interval)
  from public;

comment on function fleet.pg_cron_install(text, text, interval) is
  'Schedules fleetcron''s jobs in pg_cron (idempotent, by name): check-stale, '
  'cleanup-heartbeats, and a daily prune of cron.job_run_details. Times are UTC. '
  'Example: select * from fleet.pg_cron_install(); '
  'select * from fleet.pg_cron_install(cleanup_schedule => ''15 3 * * *'');';
