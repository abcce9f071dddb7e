-- fleet.recent_job_runs v2: the latest 50 runs, without the cleanup runs' lease tokens.
--
-- The same view as v1, created again under the pinned search_path every migration now runs
-- with: a view binds its functions and operators when it is created, and v1 was bound with the
-- migrator's search_path (where a planted public operator could have been chosen).
--
-- fleet.job_runs itself holds a running cleanup run's lease token, which is what lets only
-- that run advance or close itself; this view is what a reader who is not the table's owner
-- (fleet_cron, the CLI's status) gets instead.

create or replace view fleet.recent_job_runs as
select
  r.id,
  r.job,
  r.triggered_by,
  r.outcome,
  r.started_at,
  r.finished_at,
  coalesce(r.finished_at, clock_timestamp()) - r.started_at as duration,
  r.rows_affected,
  r.deadline,
  r.detail
from fleet.job_runs as r
order by r.started_at desc
limit 50;

revoke all
  on fleet.recent_job_runs
  from public;

grant select
  on fleet.recent_job_runs
  to fleet_cron;

comment on view fleet.recent_job_runs is
  'The latest 50 job runs (no lease tokens). select * from fleet.recent_job_runs;';
