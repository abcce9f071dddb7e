-- fleet.claim_purge_run(batch, time_budget, triggered_by) v3: start a cleanup run, or skip it.
--
-- The cleanup job runs for minutes across many transactions, so no transaction-level lock can
-- cover it, and a session-level one is unsafe behind a transaction-mode pooler. Instead the
-- running run is a row in fleet.job_runs: outcome 'running', a secret lease_token, the backend
-- and the statement (statement_timestamp() of the CALL) it runs in, and a deadline that only
-- progress pushes forward (fleet.purge_run_batch). Holding the cleanup row of fleet.job_locks
-- (which only fleet routines can lock; 0001's advisory lock key could be taken by any login),
-- waiting at most five seconds for it, this function:
--   1. resolves the defaults from fleet.config and refuses bad arguments, and validates the
--      registered tables (fleet.resolve_registration), writing nothing when either is wrong;
--      a statement_timeout set for the caller's role or database would cancel the whole CALL
--      (one statement), so the budget shrinks to 80 % of it;
--   2. marks running rows as error when their run is over: the statement that ran it has ended
--      (its backend is gone, idle, or running another statement: a client that hung up, or a
--      cancel that landed where the procedure could not record it), or it made no progress
--      before its deadline (a run behind a pooler whose client vanished mid-batch);
--   3. records a 'skipped' run if another is still going, else opens a 'running' one.
-- It returns the lease token only to the run it opened; the caller must COMMIT right after,
-- to publish the running row and release fleet.job_locks.
--
-- pg_stat_activity shows another role's backend state only to members of pg_read_all_stats;
-- where it cannot see it, a run counts as alive while its backend exists and its lease holds.
-- The same goes for a backend whose state is 'disabled': that means track_activities is off in
-- it, so nothing is known about its statement. (v2 took 'disabled' for ended, and could retire
-- a live run and start a second one beside it.)

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

  -- The registered tables are checked once, here; the run's steps trust this.
  perform fleet.resolve_registration();

  begin
    perform set_config('lock_timeout', '5s', true);
    perform
    from fleet.job_locks as l
    where l.job = 'cleanup-heartbeats'
    for update;
  exception
    when lock_not_available then
      insert into fleet.job_runs (job, triggered_by, outcome, finished_at, detail)
      values (
        'cleanup-heartbeats',
        source,
        'skipped',
        clock_timestamp(),
        jsonb_build_object('reason', 'another cleanup-heartbeats run was starting')
      )
      returning id into run_id;
      outcome := 'skipped';
      message := format('cleanup-heartbeats run %s skipped: another run was starting', run_id);
      return next;
      return;
  end;

  update fleet.job_runs as r
  set outcome = 'error',
      finished_at = greatest(clock_timestamp(), r.started_at),
      lease_token = null,
      deadline = null,
      backend_pid = null,
      statement_started = null,
      detail = r.detail || jsonb_build_object(
        'error',
        case
          when r.deadline < clock_timestamp()
            then 'abandoned: no progress before its lease ran out'
          when a.pid is null
            then 'abandoned: its session ended before it finished'
          else 'abandoned: its statement ended before it finished (cancelled)'
        end
      )
  from fleet.job_runs as j
  left join pg_stat_activity as a
    on a.pid = j.backend_pid
  where r.id = j.id
    and r.job = 'cleanup-heartbeats'
    and r.outcome = 'running'
    and (
      r.deadline < clock_timestamp()
      or a.pid is null
      or a.state in ('idle', 'idle in transaction', 'idle in transaction (aborted)')
      or a.query_start > r.statement_started
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
    (job, triggered_by, outcome, deadline, lease_token, backend_pid, statement_started, detail)
  values (
    'cleanup-heartbeats',
    source,
    'running',
    clock_timestamp() + fleet.purge_lease(),
    lease_token,
    pg_backend_pid(),
    statement_timestamp(),
    jsonb_build_object(
      'batch', run_batch,
      'time_budget', run_time_budget,
      'statement_timeout', nullif(session_timeout, interval '0'),
      'batches', 0,
      'deleted_rows', 0,
      'dropped_partitions', '[]'::jsonb,
      'dropped_rows', 0
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
