-- fleet.job_runs: one row per run of a job, whoever started it.
--
-- The run log answers "did check-stale run at 03:05, and what did it do?" for all three doors
-- (Vercel, pg_cron, a DBA in psql). A cleanup run commits its row as 'running' before its first
-- batch, so a run that dies leaves a visible trace; deadline says when such a row counts as
-- abandoned. Rows older than fleet.config.job_run_retention are pruned by the cleanup job.

create table fleet.job_runs (
  id bigint generated always as identity primary key,
  job text not null
    constraint job_runs_job_is_check_stale_or_cleanup_heartbeats
    check (job in ('check-stale', 'cleanup-heartbeats')),
  triggered_by text not null
    constraint job_runs_triggered_by_is_known
    check (triggered_by in ('vercel', 'pg_cron', 'psql', 'cli', 'other')),
  outcome text not null default 'running'
    constraint job_runs_outcome_is_known
    check (outcome in ('running', 'ok', 'skipped', 'error')),
  started_at timestamptz not null default clock_timestamp(),
  finished_at timestamptz,
  deadline timestamptz,
  rows_affected bigint not null default 0,
  detail jsonb not null default '{}',
  constraint job_runs_finished_unless_running check ((outcome = 'running') = (finished_at is null)),
  constraint job_runs_finish_not_before_start check (finished_at >= started_at)
);

create index job_runs_job_started_at_idx
  on fleet.job_runs (job, started_at desc);

comment on table fleet.job_runs is
  'Run log of the jobs. Latest runs: '
  'select * from fleet.job_runs order by started_at desc limit 20;';
comment on column fleet.job_runs.triggered_by is
  'Which door started the run: vercel, pg_cron, psql, cli or other.';
comment on column fleet.job_runs.outcome is
  'running, ok, skipped (another run held the job) or error (detail says why).';
comment on column fleet.job_runs.deadline is
  'A running row past this time belongs to a run that died; the next cleanup run marks it error.';
comment on column fleet.job_runs.rows_affected is
  'check-stale: agents marked offline. cleanup-heartbeats: heartbeats deleted.';
