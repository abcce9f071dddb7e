-- fleet.purge_old_heartbeats_all(...) v2: the cleanup-heartbeats job.
--
-- Deletes every heartbeat older than fleet.config.heartbeat_retention from the registered
-- heartbeats table, one step per transaction with a COMMIT after each, until nothing expired is
-- left or `time_budget` is spent (checked between steps). A step drops one partition that lies
-- wholly before the cutoff, or deletes one batch of `batch` rows where the cutoff cuts through
-- a table (fleet.purge_step), so at steady state on fleetcron's own daily partitions the
-- nightly run drops one partition and deletes only the few rows between midnight and the run.
-- Then it keeps partitions ahead and prunes fleet.job_runs and fleet.agent_events past their
-- retention. Short transactions keep locks, WAL bursts and replication lag small, and an
-- interruption loses at most the step in flight.
--
-- Reports through its INOUT arguments (psql shows them as a row): the run id, the outcome (ok,
-- or skipped when another cleanup run is still going), rows deleted, steps, and whether a
-- backlog remains for the next run. Progress goes out as a NOTICE per step, whose DETAIL is JSON
-- for programs (the fleetcron CLI draws its progress bar from it).
--
-- Why a procedure with caller's rights: only a procedure may COMMIT, and a procedure that
-- COMMITs may be neither SECURITY DEFINER nor carry a SET clause (so Supabase's Security
-- Advisor lists it under lint 0011, the one warning fleetcron leaves). Its body is therefore
-- nothing but control flow and COMMITs: every function it calls is a SECURITY DEFINER function
-- in fleet, named with its schema; every variable's type is named with its schema
-- (pg_catalog.text, not text, which a caller's search_path could resolve to a domain of its
-- own); and it uses no operator or built-in function at all. Nothing in it resolves through the
-- caller's search_path. It must be called outside a transaction block (psql's default;
-- autocommit in drivers).
--
-- The run's row in fleet.job_runs is its lease (see fleet.claim_purge_run): progress is
-- recorded with each committed step. Everything but the COMMITs sits inside an exception
-- block, the progress NOTICE of each step included (a cancel is serviced when a notice goes
-- out; v1 sent it outside the block and a cancel landing there left a live lease): an error or
-- a cancel is recorded on the run (with its SQLSTATE and message), committed, and raised again.
-- A cancel that still slips between a COMMIT and the next block ends the CALL, and the next
-- claim sees that the statement holding the lease is gone and retires the run at once.

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
  claim pg_catalog.record;
  step pg_catalog.record;
  report pg_catalog.record;
  announced pg_catalog.bool := true;
  failed_state pg_catalog.text;
  failed_message pg_catalog.text;
  failed_hint pg_catalog.text;
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

  loop
    begin
      if not announced then
        raise notice '%', step.progress
          using detail = step.progress_detail;
        announced := true;
      end if;
      select *
      into step
      from fleet.purge_run_batch(run_id, claim.lease_token);
      announced := false;
      deleted := step.run_deleted;
      batches := step.run_batches;
      backlog := step.backlog;
    exception
      when query_canceled then
        get stacked diagnostics failed_state = returned_sqlstate, failed_message = message_text;
      when others then
        get stacked diagnostics failed_state = returned_sqlstate, failed_message = message_text;
    end;
    exit when failed_state is not null;
    commit;
    exit when not step.keep_going;
  end loop;

  if failed_state is null then
    begin
      raise notice '%', step.progress
        using detail = step.progress_detail;
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

comment on procedure fleet.purge_old_heartbeats_all(integer, interval, text, bigint, text, bigint, integer, boolean) is
  'The cleanup-heartbeats job: drops wholly expired partitions and deletes expired heartbeats in '
  'batches (default fleet.config.purge_batch_size) with a COMMIT after each step until done or '
  'time_budget (default fleet.config.purge_time_budget, at most 1 day) is spent, then keeps '
  'partitions ahead and prunes old job runs and events. Reports run_id, outcome, deleted, '
  'batches, backlog. Call outside a transaction block. Example: '
  'call fleet.purge_old_heartbeats_all(); '
  'call fleet.purge_old_heartbeats_all(batch => 50000, time_budget => interval ''10 minutes'');';
