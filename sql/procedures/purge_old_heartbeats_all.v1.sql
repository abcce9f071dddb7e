-- fleet.purge_old_heartbeats_all(...): the cleanup-heartbeats job.
--
-- Deletes every heartbeat older than fleet.config.heartbeat_retention, in batches of `batch`
-- rows with a COMMIT after each, carrying the keyset cursor from batch to batch
-- (fleet.purge_heartbeat_batch), until nothing expired is left or `time_budget` is spent
-- (checked between batches). Then it prunes fleet.job_runs and fleet.agent_events past their
-- retention. Short transactions keep locks, WAL bursts and replication lag small, and an
-- interruption loses at most the batch in flight.
--
-- Reports through its INOUT arguments (psql shows them as a row): the run id, the outcome
-- (ok, or skipped when another cleanup run is still going), rows deleted, batches, and whether
-- a backlog remains for the next run. Progress is sent as a NOTICE per batch, whose DETAIL is
-- JSON for programs.
--
-- Why a procedure with caller's rights: only a procedure may COMMIT, and a procedure that
-- COMMITs may be neither SECURITY DEFINER nor carry a SET clause. So it touches no table
-- itself; the SECURITY DEFINER functions it calls do, and every name here is schema-qualified.
-- It must be called outside a transaction block (psql's default; autocommit in drivers).
--
-- On an error in a batch: the run is recorded as error (with the SQLSTATE and message),
-- committed, and the error is raised again. Batches committed before it stay deleted.

create or replace procedure fleet.purge_old_heartbeats_all(
  batch integer default null,
  time_budget interval default null,
  triggered_by text default null,
  inout run_id bigint default null,
  inout outcome text default null,
  inout deleted bigint default null,
  inout batches integer default null,
  inout backlog boolean default null
)
language plpgsql
as $$
declare
  claim record;
  step record;
  pruned record;
  started timestamptz := clock_timestamp();
  cursor_created_at timestamptz;
  cursor_id bigint;
  failed_state text;
  failed_message text;
begin
  select *
  into claim
  from fleet.claim_purge_run(batch, time_budget, triggered_by);

  run_id := claim.run_id;
  outcome := claim.outcome;
  deleted := 0;
  batches := 0;
  if outcome = 'skipped' then
    raise notice 'cleanup-heartbeats run % skipped: another run is still going', run_id;
    return;
  end if;
  commit;

  loop
    begin
      select *
      into step
      from fleet.purge_heartbeat_batch(claim.run_batch, cursor_created_at, cursor_id);
    exception
      when query_canceled then
        get stacked diagnostics failed_state = returned_sqlstate, failed_message = message_text;
      when others then
        get stacked diagnostics failed_state = returned_sqlstate, failed_message = message_text;
    end;
    exit when failed_state is not null;

    deleted := deleted + step.deleted;
    batches := batches + 1;
    backlog := step.backlog;
    cursor_created_at := step.last_created_at;
    cursor_id := step.last_id;
    commit;

    raise notice 'cleanup-heartbeats run %: batch % deleted % rows, % so far', run_id, batches, step.deleted, deleted
      using detail = json_build_object(
        'run_id', run_id,
        'batches', batches,
        'deleted', deleted,
        'backlog', backlog
      )::text;

    exit when not backlog;
    exit when clock_timestamp() - started >= claim.run_time_budget;
  end loop;

  if failed_state is null then
    begin
      select *
      into pruned
      from fleet.prune_run_log();
    exception
      when query_canceled then
        get stacked diagnostics failed_state = returned_sqlstate, failed_message = message_text;
      when others then
        get stacked diagnostics failed_state = returned_sqlstate, failed_message = message_text;
    end;
  end if;

  if failed_state is not null then
    perform fleet.job_run_close(
      run_id,
      'error',
      deleted,
      jsonb_build_object(
        'sqlstate', failed_state,
        'error', failed_message,
        'batches', batches
      )
    );
    commit;
    raise exception using
      errcode = failed_state,
      message = failed_message,
      hint = format('cleanup-heartbeats run %s was recorded as error after %s rows', run_id, deleted);
  end if;

  outcome := (fleet.job_run_close(
    run_id,
    'ok',
    deleted,
    jsonb_build_object(
      'batches', batches,
      'batch', claim.run_batch,
      'time_budget', claim.run_time_budget,
      'backlog', coalesce(backlog, false),
      'job_runs_pruned', pruned.job_runs_pruned,
      'events_pruned', pruned.events_pruned
    )
  )).outcome;
  backlog := coalesce(backlog, false);
end
$$;

revoke all
  on procedure fleet.purge_old_heartbeats_all(integer, interval, text, bigint, text, bigint, integer, boolean)
  from public;

grant execute
  on procedure fleet.purge_old_heartbeats_all(integer, interval, text, bigint, text, bigint, integer, boolean)
  to fleet_cron;

comment on procedure fleet.purge_old_heartbeats_all(integer, interval, text, bigint, text, bigint, integer, boolean) is
  'The cleanup-heartbeats job: deletes expired heartbeats in batches (default '
  'fleet.config.purge_batch_size) with a COMMIT after each until done or time_budget (default '
  'fleet.config.purge_time_budget) is spent, then prunes old job runs and events. Reports '
  'run_id, outcome, deleted, batches, backlog. Call outside a transaction block. '
  'Example: call fleet.purge_old_heartbeats_all(); '
  'call fleet.purge_old_heartbeats_all(batch => 50000, time_budget => interval ''10 minutes'');';
