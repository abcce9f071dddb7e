-- fleet.prune_run_log(): delete job runs and agent events past their retention.
--
-- Both tables grow by a few hundred rows a day (check-stale runs every five minutes), so one
-- statement each is enough; the cleanup job calls this after the heartbeats. A running row is
-- never deleted here: fleet.claim_purge_run retires those.

create or replace function fleet.prune_run_log()
returns table (
  job_runs_pruned bigint,
  events_pruned bigint
)
language sql
security definer
set search_path = pg_catalog, pg_temp
begin atomic
  with settings as (
    select
      fleet.ago(c.job_run_retention) as runs_cutoff,
      fleet.ago(c.event_retention) as events_cutoff
    from fleet.config as c
  ),
  runs_gone as (
    delete from fleet.job_runs as r
    using settings as s
    where r.started_at < s.runs_cutoff
      and r.outcome <> 'running'
    returning 1
  ),
  events_gone as (
    delete from fleet.agent_events as e
    using settings as s
    where e.occurred_at < s.events_cutoff
    returning 1
  )
  select
    (select count(*) from runs_gone),
    (select count(*) from events_gone);
end;

revoke all
  on function fleet.prune_run_log()
  from public;

grant execute
  on function fleet.prune_run_log()
  to fleet_cron;

comment on function fleet.prune_run_log() is
  'Deletes fleet.job_runs and fleet.agent_events rows older than their retention in '
  'fleet.config; returns the counts. Example: select * from fleet.prune_run_log();';
