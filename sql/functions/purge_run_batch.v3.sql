-- fleet.purge_run_batch(run_id, lease_token) v3: one step of a cleanup run.
--
-- Called by fleet.purge_old_heartbeats_all once per step, each in its own transaction. Only the
-- call holding the run's lease token may make it. It does one step of the purge (drop an
-- expired partition, or delete one batch) and in the same transaction records it on the run's
-- row, so the run log shows progress while the run goes on and a committed step is always
-- counted. The step is fleet.purge_step_unvalidated: fleet.claim_purge_run validated the
-- registered tables when the run started. (v3 calls it by that name; v2 called fleet.purge_step
-- with validate => false, a door that v2 of fleet.purge_step closes to fleet_cron.)
--
-- The run's state lives in its row, not with the caller: the relation being walked and the
-- keyset cursor in it, and the relations already finished (or whose drop had to wait) in this
-- run, which are not revisited. So no caller can make a run skip, repeat or stall its work by
-- passing a cursor. The lease is renewed only by progress (rows deleted or a partition
-- dropped) and never past the run's time budget plus one lease; once the budget is spent the
-- run may not take another step (its first step always runs, so every run does some work).
-- 0001 let a caller renew a lease forever with zero-row batches.
--
-- A step waits at most a minute for a row lock unless the caller set a shorter lock_timeout,
-- so one stuck step cannot outlive the lease.

create or replace function fleet.purge_run_batch(
  run_id bigint,
  lease_token uuid
)
returns table (
  action text,
  deleted bigint,
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
  budget interval := (run.detail ->> 'time_budget')::interval;
  walking regclass;
  finished regclass[];
  step record;
  made_progress boolean;
begin
  if (run.detail ->> 'batches')::integer > 0 and clock_timestamp() - run.started_at >= budget then
    raise exception 'cleanup-heartbeats run % has spent its time budget (%)', run.id, budget
      using errcode = 'object_not_in_prerequisite_state',
            hint = 'finish the run (fleet.finish_purge_run); the next run carries on';
  end if;
  if current_setting('lock_timeout')::interval not between interval '1 millisecond'
    and interval '1 minute'
  then
    perform set_config('lock_timeout', '1min', true);
  end if;

  select array_agg(r.oid::regclass)
  into finished
  from jsonb_array_elements_text(coalesce(run.detail -> 'finished', '[]')) as f (oid)
  join pg_class as r
    on r.oid = f.oid::oid;
  walking := (
    select c.oid::regclass
    from pg_class as c
    where c.oid = (run.detail #>> '{cursor,relation}')::oid
  );

  select *
  into step
  from fleet.purge_step_unvalidated(
    (run.detail ->> 'batch')::integer,
    walking,
    case when walking is not null then run.detail #>> '{cursor,time}' end,
    case when walking is not null then run.detail #>> '{cursor,key}' end,
    coalesce(finished, '{}')
  );

  action := step.action;
  deleted := step.deleted;
  made_progress := step.deleted > 0 or step.action = 'dropped';
  if step.action in ('deferred', 'deleted') and not step.more_here then
    finished := coalesce(finished, '{}') || step.worked_on;
  end if;
  backlog := step.backlog
    or jsonb_array_length(coalesce(run.detail -> 'deferred', '[]')) > 0;

  update fleet.job_runs as r
  set rows_affected = r.rows_affected + step.deleted,
      deadline = case
        when made_progress then least(
          clock_timestamp() + fleet.purge_lease(),
          r.started_at + budget + fleet.purge_lease()
        )
        else r.deadline
      end,
      detail = r.detail || jsonb_build_object(
        'batches', (r.detail ->> 'batches')::integer + 1,
        'backlog', backlog,
        'deleted_rows', (r.detail ->> 'deleted_rows')::bigint
          + case when step.action = 'deleted' then step.deleted else 0 end,
        'dropped_rows', (r.detail ->> 'dropped_rows')::bigint
          + case when step.action = 'dropped' then step.deleted else 0 end,
        'dropped_partitions', (r.detail -> 'dropped_partitions')
          || case when step.action = 'dropped' then to_jsonb(array[step.worked_on_name])
                  else '[]'::jsonb end,
        'deferred', coalesce(r.detail -> 'deferred', '[]')
          || case when step.action = 'deferred' then to_jsonb(array[step.worked_on_name])
                  else '[]'::jsonb end,
        'finished', to_jsonb(coalesce(finished, '{}')::oid[]),
        'cursor', case
          when step.action = 'deleted' and step.more_here then jsonb_build_object(
            'relation', step.worked_on::oid,
            'time', step.last_time,
            'key', step.last_key
          )
        end
      )
  where r.id = run.id
  returning r.rows_affected, (r.detail ->> 'batches')::integer
  into run_deleted, run_batches;

  keep_going := step.backlog
    and clock_timestamp() - run.started_at < budget;
  progress := format(
    'cleanup-heartbeats run %s: step %s %s %s rows%s, %s so far%s',
    run.id, run_batches, step.action, step.deleted,
    case when step.worked_on_name is not null then format(' (%s)', step.worked_on_name) else '' end,
    run_deleted,
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
  on function fleet.purge_run_batch(bigint, uuid)
  from public;

grant execute
  on function fleet.purge_run_batch(bigint, uuid)
  to fleet_cron;

comment on function fleet.purge_run_batch(bigint, uuid) is
  'Internal to fleet.purge_old_heartbeats_all: one step of the run holding the lease (drop an '
  'expired partition or delete one batch), recorded on the run; says whether to go on.';
