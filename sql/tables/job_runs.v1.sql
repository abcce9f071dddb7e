-- fleet.job_runs: one row per run of a job, whoever started it.
--
-- The run log answers "did check-stale run at 03:05, and what did it do?" for all three doors
-- (Vercel, pg_cron, a DBA in psql). check-stale is one transaction and writes its row finished.
-- A cleanup run spans many transactions, so its row is its lease: it commits the row as
-- 'running' before its first batch, with a secret lease_token that only its own calls know, the
-- backend it runs in, and a deadline it pushes forward after every batch. A run whose backend is
-- gone (its client hung up, e.g. on Ctrl-C) or whose deadline has passed (a stuck or lost
-- caller behind a pooler) has died; the next cleanup run marks it 'error'. At most one run of a
-- job is 'running' at a time, whatever the isolation level (the partial unique index).
-- Rows older than fleet.config.job_run_retention are pruned by the cleanup job.

create table fleet.job_runs (
  id bigint generated always as identity primary key,
  job text not null
    constraint job_runs_job_is_check_stale_or_cleanup_heartbeats
    check (job in ('check-stale', 'cleanup-heartbeats')),
  triggered_by text not null
    constraint job_runs_triggered_by_is_known
    check (triggered_by in ('vercel', 'pg_cron', 'psql', 'cli', 'other')),
  outcome text not null
    constraint job_runs_outcome_is_known
    check (outcome in ('running', 'ok', 'skipped', 'error')),
  started_at timestamptz not null default clock_timestamp(),
  finished_at timestamptz,
  deadline timestamptz,
  lease_token uuid,
  -- An integer, like pg_backend_pid() and pg_stat_activity.pid that it is compared with.
  -- squawk-ignore prefer-bigint-over-int
  backend_pid integer,
  rows_affected bigint not null default 0,
  detail jsonb not null default '{}',
  constraint job_runs_finished_unless_running check ((outcome = 'running') = (finished_at is null)),
  constraint job_runs_finish_not_before_start check (finished_at >= started_at),
  constraint job_runs_running_holds_a_lease check (
    (outcome = 'running') = (
      lease_token is not null
      and deadline is not null
      and backend_pid is not null
    )
  )
);

create index job_runs_job_started_at_idx
  on fleet.job_runs (job, started_at desc);

create unique index job_runs_one_running_per_job
  on fleet.job_runs (job)
  where outcome = 'running';

comment on table fleet.job_runs is
  'Run log of the jobs. Latest runs: '
  'select * from fleet.job_runs order by started_at desc limit 20;';
comment on column fleet.job_runs.triggered_by is
  'Which door started the run: vercel, pg_cron, psql, cli or other.';
comment on column fleet.job_runs.outcome is
  'running, ok, skipped (another run held the job) or error (detail says why).';
comment on column fleet.job_runs.deadline is
  'A running row''s lease: pushed forward after every batch; once past, the run counts as dead.';
comment on column fleet.job_runs.lease_token is
  'Secret of a running cleanup run; only calls that present it may advance or close the run.';
comment on column fleet.job_runs.backend_pid is
  'The server process a cleanup run ran in; once that process is gone, so is the run.';
comment on column fleet.job_runs.rows_affected is
  'check-stale: agents marked offline. cleanup-heartbeats: heartbeats deleted (so far, while running).';
