-- fleet.claim_purge_run(batch, time_budget, triggered_by): start a cleanup run, or skip it.
--
-- The cleanup job runs for minutes across many transactions, so a transaction-level advisory
-- lock cannot cover it and a session-level one is unsafe behind a transaction-mode pooler.
-- Instead the running run is a row: fleet.job_runs with outcome 'running' and a deadline
-- (start + time budget + 5 minutes of grace for the last batch). This function, under a
-- short advisory lock (1718379877, 2) so two claims cannot interleave:
--   1. resolves the defaults from fleet.config and refuses bad arguments (nothing written);
--   2. marks running rows past their deadline as error: their run died (a killed client,
--      a lost connection), and must not block cleanup forever;
--   3. if a run is still going, records a 'skipped' run; otherwise opens a 'running' one.
-- The caller must COMMIT right after, to publish the running row and release the lock.

create or replace function fleet.claim_purge_run(
  batch integer default null,
  time_budget interval default null,
  triggered_by text default null
)
returns table (
  run_id bigint,
  outcome text,
  run_batch integer,
  run_time_budget interval
)
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  source text := fleet.job_trigger_source(claim_purge_run.triggered_by);
  still_running bigint;
begin
  select
    coalesce(claim_purge_run.batch, c.purge_batch_size),
    coalesce(claim_purge_run.time_budget, c.purge_time_budget)
  into run_batch, run_time_budget
  from fleet.config as c;

  if run_batch < 1 then
    raise exception 'batch must be at least 1 row (got %)', run_batch
      using errcode = 'invalid_parameter_value';
  end if;
  if run_time_budget <= interval '0' then
    raise exception 'time_budget must be positive (got %)', run_time_budget
      using errcode = 'invalid_parameter_value';
  end if;

  perform pg_advisory_xact_lock(1718379877, 2);

  update fleet.job_runs as r
  set outcome = 'error',
      finished_at = greatest(clock_timestamp(), r.started_at),
      detail = r.detail || jsonb_build_object(
        'error', 'abandoned: the run did not finish by its deadline'
      )
  where r.job = 'cleanup-heartbeats'
    and r.outcome = 'running'
    and r.deadline < clock_timestamp();

  select r.id
  into still_running
  from fleet.job_runs as r
  where r.job = 'cleanup-heartbeats'
    and r.outcome = 'running'
  order by r.started_at
  limit 1;

  if still_running is not null then
    run_id := fleet.job_run_open('cleanup-heartbeats', source);
    outcome := (fleet.job_run_close(
      run_id,
      'skipped',
      0,
      jsonb_build_object(
        'reason', format('run %s is still going', still_running),
        'running_run_id', still_running
      )
    )).outcome;
  else
    run_id := fleet.job_run_open(
      'cleanup-heartbeats',
      source,
      clock_timestamp() + run_time_budget + interval '5 minutes'
    );
    outcome := 'running';
  end if;
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
  'cleanup-heartbeats run, or records a skipped one while another is still going.';
