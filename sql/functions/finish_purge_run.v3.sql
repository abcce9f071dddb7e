-- fleet.finish_purge_run(run_id, lease_token) v3: close a cleanup run that went well.
--
-- Prunes fleet.job_runs and fleet.agent_events past their retention (fleet.prune_run_log), then
-- keeps fleet.heartbeats' partitions ahead of time when the registered tables are fleetcron's
-- own (the check-stale job does too; doing it here as well means one job's failure never
-- leaves inserts without a partition), then closes the run as 'ok' and gives up its lease, in
-- one transaction, and returns the report the procedure hands its caller. A failure to make a
-- partition is recorded in the run's detail and does not fail the run.
--
-- Pruning comes first: making a partition locks fleet.heartbeats against every heartbeat
-- insert until this transaction ends, so nothing slow may follow it here. v2 made partitions
-- first and then pruned under that lock: deleting a backlog of events, or waiting for a row
-- lock on one, held up every heartbeat writer for as long.

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

  select *
  into pruned
  from fleet.prune_run_log();

  if (select r.agents = 'fleet.agents'::regclass from fleet.registration as r) then
    begin
      partitions := fleet.maintain_heartbeat_partitions();
    exception
      when others then
        get stacked diagnostics failed_state = returned_sqlstate, failed_message = message_text;
        partitions := jsonb_build_object('sqlstate', failed_state, 'error', failed_message);
    end;
  end if;

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
  'Internal to fleet.purge_old_heartbeats_all: prunes the run log, keeps partitions ahead and '
  'closes the run as ok.';
