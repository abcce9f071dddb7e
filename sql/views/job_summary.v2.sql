-- fleet.job_summary v2: one row per job: its last run, its health over a day, runs stuck, and
-- how many runs in a row have failed or been skipped since the last good one.
--
-- errors_in_a_row and skips_in_a_row make a job that keeps failing (a statement timeout every
-- five minutes) or that something keeps from running visible in `fleetcron status` and doctor,
-- even though each such run answered Vercel with a JSON body and some with a 200.
-- stuck counts cleanup runs still marked running after their lease ran out: their caller died,
-- and the next cleanup run will mark them error.

create or replace view fleet.job_summary as
select
  j.job,
  last.started_at as last_started_at,
  last.outcome as last_outcome,
  last.rows_affected as last_rows_affected,
  last.finished_at - last.started_at as last_duration,
  good.started_at as last_ok_at,
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
  ) as stuck,
  (
    select count(*)
    from fleet.job_runs as r
    where r.job = j.job
      and r.outcome = 'error'
      and r.started_at > coalesce(good.started_at, '-infinity')
  ) as errors_in_a_row,
  (
    select count(*)
    from fleet.job_runs as r
    where r.job = j.job
      and r.outcome = 'skipped'
      and r.started_at > coalesce(good.started_at, '-infinity')
  ) as skips_in_a_row
from (
  values ('check-stale'), ('cleanup-heartbeats')
) as j (job)
left join lateral (
  select r.started_at, r.finished_at, r.outcome, r.rows_affected
  from fleet.job_runs as r
  where r.job = j.job
  order by r.started_at desc
  limit 1
) as last on true
left join lateral (
  select max(r.started_at) as started_at
  from fleet.job_runs as r
  where r.job = j.job
    and r.outcome = 'ok'
) as good on true;

comment on view fleet.job_summary is
  'Per job: the last run (outcome, rows, duration), the last ok run, runs and errors in the '
  'last 24 hours, runs in progress, runs stuck as running, and errors and skips since the last '
  'ok run. select * from fleet.job_summary;';
