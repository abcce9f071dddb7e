-- fleet.job_summary: one row per job: its last run, its health over a day, runs stuck.
--
-- stuck counts cleanup runs still marked running after their lease ran out: their caller died,
-- and the next cleanup run will mark them error.

create view fleet.job_summary as
select
  j.job,
  last.started_at as last_started_at,
  last.outcome as last_outcome,
  last.rows_affected as last_rows_affected,
  last.finished_at - last.started_at as last_duration,
  (
    select max(r.started_at)
    from fleet.job_runs as r
    where r.job = j.job
      and r.outcome = 'ok'
  ) as last_ok_at,
  (
    select count(*)
    from fleet.job_runs as r
    where r.job = j.job
      and r.started_at > now() - interval '24 hours'
  ) as runs_24h,
  (
    select count(*)
    from fleet.job_runs as r
    where r.job = j.job
      and r.outcome = 'error'
      and r.started_at > now() - interval '24 hours'
  ) as errors_24h,
  (
    select count(*)
    from fleet.job_runs as r
    where r.job = j.job
      and r.outcome = 'running'
      and r.deadline >= clock_timestamp()
  ) as running,
  (
    select count(*)
    from fleet.job_runs as r
    where r.job = j.job
      and r.outcome = 'running'
      and r.deadline < clock_timestamp()
  ) as stuck
from (
  values ('check-stale'), ('cleanup-heartbeats')
) as j (job)
left join lateral (
  select r.started_at, r.finished_at, r.outcome, r.rows_affected
  from fleet.job_runs as r
  where r.job = j.job
  order by r.started_at desc
  limit 1
) as last on true;

revoke all
  on fleet.job_summary
  from public;

grant select
  on fleet.job_summary
  to fleet_cron;

comment on view fleet.job_summary is
  'Per job: the last run (outcome, rows, duration), the last ok run, runs and errors in the '
  'last 24 hours, runs in progress, and runs stuck as running. select * from fleet.job_summary;';
