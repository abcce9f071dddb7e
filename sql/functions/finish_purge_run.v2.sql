-- fleet.finish_purge_run(run_id, lease_token) v2: close a cleanup run that went well.
--
-- Keeps fleet.heartbeats' partitions ahead of time when the registered tables are fleetcron's
-- own (the check-stale job does too; doing it here as well means one job's failure never
-- leaves inserts without a partition), prunes fleet.job_runs and fleet.agent_events past their
-- retention (fleet.prune_run_log), then closes the run as 'ok' and gives up its lease, in one
-- transaction, and returns the report the procedure hands its caller. A failure to make a
-- partition is recorded in the run's detail and does not fail the run.

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
  partitions jsonb;
  failed_state text;
  failed_message text;
begin
  perform fleet.purge_run_lease(finish_purge_run.run_id, finish_purge_run.lease_token);

  if (select r.agents = 'fleet.agents'::regclass from fleet.registration as r) then
    begin
      partitions := fleet.maintain_heartbeat_partitions();
    exception
      when others then
        get stacked diagnostics failed_state = returned_sqlstate, failed_message = message_text;
        partitions := jsonb_build_object('sqlstate', failed_state, 'error', failed_message);
    end;
  end if;

  select *
  into pruned
  from fleet.prune_run_log();

  update fleet.job_runs as r
  set outcome = 'ok',
      finished_at = greatest(clock_timestamp(), r.started_at),
      lease_token = null,
      deadline = null,
      backend_pid = null,
      statement_started = null,
      detail = r.detail - 'cursor' - 'finished' || jsonb_strip_nulls(jsonb_build_object(
        'backlog', coalesce((r.detail ->> 'backlog')::boolean, false),
        'job_runs_pruned', pruned.job_runs_pruned,
        'events_pruned', pruned.events_pruned,
        'partitions', partitions
      ))
  where r.id = finish_purge_run.run_id
  returning r.outcome, r.rows_affected, (r.detail ->> 'batches')::integer,
            (r.detail ->> 'backlog')::boolean
  into outcome, deleted, batches, backlog;
  return next;
end
$$;

comment on function fleet.finish_purge_run(bigint, uuid) is
  'Internal to fleet.purge_old_heartbeats_all: keeps partitions ahead, prunes the run log and '
  'closes the run as ok.';
