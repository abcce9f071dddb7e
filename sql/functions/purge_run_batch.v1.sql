-- fleet.purge_run_batch(run_id, lease_token, after_created_at, after_id): one batch of a run.
--
-- Called by fleet.purge_old_heartbeats_all once per batch, each in its own transaction. Only
-- the run holding the lease may call it (the token). It deletes one keyset batch
-- (fleet.purge_heartbeat_batch, with the run's batch size, after the cursor), and in the same
-- transaction adds the count to the run's row and renews its lease, so the run log shows
-- progress while the run goes on and a COMMITted batch is always counted. It answers whether
-- the run should go on (more expired rows and time left in its budget) and a progress line.
--
-- A batch waits at most a minute for a row lock unless the caller set a lock_timeout, so one
-- stuck batch cannot outlive the lease.

create or replace function fleet.purge_run_batch(
  run_id bigint,
  lease_token uuid,
  after_created_at timestamptz default null,
  after_id bigint default null
)
returns table (
  deleted integer,
  last_created_at timestamptz,
  last_id bigint,
  backlog boolean,
  run_deleted bigint,
  run_batches integer,
  keep_going boolean,
  progress text,
  progress_detail text
)
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  run fleet.job_runs := fleet.purge_run_lease(
    purge_run_batch.run_id,
    purge_run_batch.lease_token
  );
begin

  if current_setting('lock_timeout') = '0' then
    perform set_config('lock_timeout', '1min', true);
  end if;

  select b.deleted, b.last_created_at, b.last_id, b.backlog
  into deleted, last_created_at, last_id, backlog
  from fleet.purge_heartbeat_batch(
    (run.detail ->> 'batch')::integer,
    purge_run_batch.after_created_at,
    purge_run_batch.after_id
  ) as b;

  update fleet.job_runs as r
  set rows_affected = r.rows_affected + purge_run_batch.deleted,
      deadline = clock_timestamp() + fleet.purge_lease(),
      detail = r.detail || jsonb_build_object(
        'batches', (r.detail ->> 'batches')::integer + 1,
        'backlog', purge_run_batch.backlog
      )
  where r.id = run.id
  returning r.rows_affected, (r.detail ->> 'batches')::integer
  into run_deleted, run_batches;

  keep_going := backlog
    and clock_timestamp() - run.started_at < (run.detail ->> 'time_budget')::interval;
  progress := format(
    'cleanup-heartbeats run %s: batch %s deleted %s rows, %s so far%s',
    run.id, run_batches, deleted, run_deleted,
    case when backlog and not keep_going then ' (time budget spent, backlog left)' else '' end
  );
  progress_detail := json_build_object(
    'run_id', run.id,
    'batches', run_batches,
    'deleted', run_deleted,
    'backlog', backlog
  )::text;
  return next;
end
$$;

revoke all
  on function fleet.purge_run_batch(bigint, uuid, timestamptz, bigint)
  from public;

grant execute
  on function fleet.purge_run_batch(bigint, uuid, timestamptz, bigint)
  to fleet_cron;

comment on function fleet.purge_run_batch(bigint, uuid, timestamptz, bigint) is
  'Internal to fleet.purge_old_heartbeats_all: deletes one batch for the run holding the '
  'lease, records its progress, renews the lease, and says whether to go on.';
