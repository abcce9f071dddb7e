-- fleet.finish_purge_run(run_id, lease_token): close a cleanup run that went well.
--
-- Prunes fleet.job_runs and fleet.agent_events past their retention (fleet.prune_run_log),
-- then closes the run as 'ok' and gives up its lease, in one transaction, and returns the
-- report the procedure hands its caller.

create or replace function fleet.finish_purge_run(
  run_id bigint,
  lease_token uuid
)
returns table (
  outcome text,
  deleted bigint,
  batches integer,
  backlog boolean
)
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  pruned record;
begin
  perform fleet.purge_run_lease(finish_purge_run.run_id, finish_purge_run.lease_token);

  select *
  into pruned
  from fleet.prune_run_log();

  update fleet.job_runs as r
  set outcome = 'ok',
      finished_at = greatest(clock_timestamp(), r.started_at),
      lease_token = null,
      deadline = null,
      backend_pid = null,
      detail = r.detail || jsonb_build_object(
        'backlog', coalesce((r.detail ->> 'backlog')::boolean, false),
        'job_runs_pruned', pruned.job_runs_pruned,
        'events_pruned', pruned.events_pruned
      )
  where r.id = finish_purge_run.run_id
  returning r.outcome, r.rows_affected, (r.detail ->> 'batches')::integer,
            (r.detail ->> 'backlog')::boolean
  into outcome, deleted, batches, backlog;
  return next;
end
$$;

revoke all
  on function fleet.finish_purge_run(bigint, uuid)
  from public;

grant execute
  on function fleet.finish_purge_run(bigint, uuid)
  to fleet_cron;

comment on function fleet.finish_purge_run(bigint, uuid) is
  'Internal to fleet.purge_old_heartbeats_all: prunes the run log and closes the run as ok.';
