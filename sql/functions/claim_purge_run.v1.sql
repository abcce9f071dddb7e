-- fleet.claim_purge_run(batch, time_budget, triggered_by): start a cleanup run, or skip it.
--
-- The cleanup job runs for minutes across many transactions, so no transaction-level lock can
-- cover it, and a session-level one is unsafe behind a transaction-mode pooler. Instead the
-- running run is a row in fleet.job_runs: outcome 'running', a secret lease_token, the backend
-- it runs in, and a deadline that fleet.purge_run_batch pushes forward after every batch. Under
-- a short advisory lock (1718379877, 2), so that two claims cannot interleave, this function:
--   1. resolves the defaults from fleet.config and refuses bad arguments (nothing written);
--      a statement_timeout set for the caller's role or database would cancel the whole CALL
--      (one statement), so the budget shrinks to 80 % of it;
--   2. marks running rows as error when their run died: its backend is gone (the client hung
--      up between two batches, where the procedure cannot catch the cancel), or it made no
--      progress before its deadline (a backend behind a pooler outlives its client, so only
--      the lease tells) -- a dead run blocks cleanup for one lease at most;
--   3. records a 'skipped' run if another is still going, else opens a 'running' one.
-- It returns the lease token only to the run it opened; the caller must COMMIT right after,
-- to publish the running row and release the claim lock.

create or replace function fleet.claim_purge_run(
  batch integer default null,
  time_budget interval default null,
  triggered_by text default null
)
returns table (
  run_id bigint,
  outcome text,
  lease_token uuid,
  message text
)
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  source text := fleet.job_trigger_source(claim_purge_run.triggered_by);
  run_batch integer;
  run_time_budget interval;
  session_timeout interval := current_setting('statement_timeout')::interval;
  still_running bigint;
begin
  perform fleet.require_read_committed();

  select
    coalesce(claim_purge_run.batch, c.purge_batch_size),
    coalesce(claim_purge_run.time_budget, c.purge_time_budget)
  into run_batch, run_time_budget
  from fleet.config as c;

  if run_batch not between 1 and 1000000 then
    raise exception 'batch must be between 1 and 1000000 rows (got %)', run_batch
      using errcode = 'invalid_parameter_value';
  end if;
  if run_time_budget <= interval '0' or run_time_budget > interval '1 day' then
    raise exception 'time_budget must be more than 0 and at most 1 day (got %)', run_time_budget
      using errcode = 'invalid_parameter_value';
  end if;

  if session_timeout > interval '0' and run_time_budget > session_timeout * 0.8 then
    run_time_budget := session_timeout * 0.8;
  end if;

  perform pg_advisory_xact_lock(1718379877, 2);

  update fleet.job_runs as r
  set outcome = 'error',
      finished_at = greatest(clock_timestamp(), r.started_at),
      lease_token = null,
      deadline = null,
      backend_pid = null,
      detail = r.detail || jsonb_build_object(
        'error',
        case
          when r.deadline < clock_timestamp()
            then 'abandoned: no progress before its lease ran out'
          else 'abandoned: its session ended before it finished'
        end
      )
  where r.job = 'cleanup-heartbeats'
    and r.outcome = 'running'
    and (
      r.deadline < clock_timestamp()
      or not exists (
        select
        from pg_stat_activity as a
        where a.pid = r.backend_pid
      )
    );

  select r.id
  into still_running
  from fleet.job_runs as r
  where r.job = 'cleanup-heartbeats'
    and r.outcome = 'running';

  if still_running is not null then
    insert into fleet.job_runs (job, triggered_by, outcome, finished_at, detail)
    values (
      'cleanup-heartbeats',
      source,
      'skipped',
      clock_timestamp(),
      jsonb_build_object(
        'reason', format('run %s is still going', still_running),
        'running_run_id', still_running
      )
    )
    returning id into run_id;
    outcome := 'skipped';
    message := format('cleanup-heartbeats run %s skipped: run %s is still going', run_id, still_running);
    return next;
    return;
  end if;

  lease_token := gen_random_uuid();
  insert into fleet.job_runs
    (job, triggered_by, outcome, deadline, lease_token, backend_pid, detail)
  values (
    'cleanup-heartbeats',
    source,
    'running',
    clock_timestamp() + fleet.purge_lease(),
    lease_token,
    pg_backend_pid(),
    jsonb_build_object(
      'batch', run_batch,
      'time_budget', run_time_budget,
      'statement_timeout', nullif(session_timeout, interval '0'),
      'batches', 0
    )
  )
  returning id into run_id;
  outcome := 'running';
  message := format('cleanup-heartbeats run %s started', run_id);
  return next;
end
$$;

revoke all
  on function fleet.claim_purge_run(integer, interval, text)
  from public;

grant execute
  on function fleet.claim_purge_run(integer, interval, text)
  to fleet_cron;

comment on function fleet.claim_purge_run(integer, interval, text) is
  'Internal to fleet.purge_old_heartbeats_all: validates its arguments and opens a running '
  'cleanup-heartbeats run (returning its lease token), or records a skipped one while another '
  'is still going.';
