-- fleet.purge_old_heartbeats_all(...): the cleanup-heartbeats job.
--
-- Deletes every heartbeat older than fleet.config.heartbeat_retention, in batches of `batch`
-- rows with a COMMIT after each, carrying the keyset cursor from batch to batch, until nothing
-- expired is left or `time_budget` is spent (checked between batches). Then it prunes
-- fleet.job_runs and fleet.agent_events past their retention. Short transactions keep locks,
-- WAL bursts and replication lag small, and an interruption loses at most the batch in flight.
--
-- Reports through its INOUT arguments (psql shows them as a row): the run id, the outcome
-- (ok, or skipped when another cleanup run is still going), rows deleted, batches, and whether
-- a backlog remains for the next run. Progress goes out as a NOTICE per batch, whose DETAIL is
-- JSON for programs (the fleetcron CLI draws its progress bar from it).
--
-- Why a procedure with caller's rights: only a procedure may COMMIT, and a procedure that
-- COMMITs may be neither SECURITY DEFINER nor carry a SET clause. So its body is nothing but
-- control flow and COMMITs: every function it calls is a SECURITY DEFINER function in fleet,
-- named with its schema, and it uses no operator or built-in function at all, so nothing on
-- the caller's search_path can stand in for them. It must be called outside a transaction
-- block (psql's default; autocommit in drivers).
--
-- The run's row in fleet.job_runs is its lease (see fleet.claim_purge_run): progress is
-- recorded with each committed batch. On an error in a batch the run is recorded as error
-- (with the SQLSTATE and message) and committed, and then the error is raised again.

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
  report record;
  cursor_created_at timestamptz;
  cursor_id bigint;
  failed_state text;
  failed_message text;
  failed_hint text;
begin
  select *
  into claim
  from fleet.claim_purge_run(batch, time_budget, triggered_by);

  run_id := claim.run_id;
  outcome := claim.outcome;
  deleted := 0;
  batches := 0;
  if claim.lease_token is null then
    raise notice '%', claim.message;
    return;
  end if;
  commit;

  -- All but the COMMIT sits inside the block, so that a cancel (Ctrl-C, statement_timeout)
  -- is caught and recorded wherever it lands, except between a COMMIT and the next batch; a
  -- run cancelled there is retired by the next run (fleet.claim_purge_run).
  loop
    begin
      select *
      into step
      from fleet.purge_run_batch(run_id, claim.lease_token, cursor_created_at, cursor_id);
      deleted := step.run_deleted;
      batches := step.run_batches;
      backlog := step.backlog;
      cursor_created_at := step.last_created_at;
      cursor_id := step.last_id;
    exception
      when query_canceled then
        get stacked diagnostics failed_state = returned_sqlstate, failed_message = message_text;
      when others then
        get stacked diagnostics failed_state = returned_sqlstate, failed_message = message_text;
    end;
    exit when failed_state is not null;
    commit;
    raise notice '%', step.progress
      using detail = step.progress_detail;
    exit when not step.keep_going;
  end loop;

  if failed_state is null then
    begin
      select *
      into report
      from fleet.finish_purge_run(run_id, claim.lease_token);
    exception
      when query_canceled then
        get stacked diagnostics failed_state = returned_sqlstate, failed_message = message_text;
      when others then
        get stacked diagnostics failed_state = returned_sqlstate, failed_message = message_text;
    end;
  end if;

  if failed_state is not null then
    failed_hint := fleet.fail_purge_run(run_id, claim.lease_token, failed_state, failed_message);
    commit;
    raise exception using
      errcode = failed_state,
      message = failed_message,
      hint = failed_hint;
  end if;

  outcome := report.outcome;
  deleted := report.deleted;
  batches := report.batches;
  backlog := report.backlog;
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
  'fleet.config.purge_time_budget, at most 1 day) is spent, then prunes old job runs and '
  'events. Reports run_id, outcome, deleted, batches, backlog. Call outside a transaction '
  'block. Example: call fleet.purge_old_heartbeats_all(); '
  'call fleet.purge_old_heartbeats_all(batch => 50000, time_budget => interval ''10 minutes'');';
