-- fleet.fail_purge_run(run_id, lease_token, sqlstate, message): record why a cleanup run failed.
--
-- Called by fleet.purge_old_heartbeats_all after a batch (or the final pruning) raised, in a
-- fresh transaction, so the failure is kept even though the procedure then raises the error
-- again. The batches committed before it stay deleted and counted. A run that no longer holds
-- its lease (already declared dead) is left as it is. Returns the hint for the re-raised error.

create or replace function fleet.fail_purge_run(
  run_id bigint,
  lease_token uuid,
  failed_sqlstate text,
  failed_message text
)
returns text
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  deleted bigint;
begin
  update fleet.job_runs as r
  set outcome = 'error',
      finished_at = greatest(clock_timestamp(), r.started_at),
      lease_token = null,
      deadline = null,
      backend_pid = null,
      detail = r.detail || jsonb_build_object(
        'sqlstate', fail_purge_run.failed_sqlstate,
        'error', fail_purge_run.failed_message
      )
  where r.id = fail_purge_run.run_id
    and r.outcome = 'running'
    and r.lease_token = fail_purge_run.lease_token
  returning r.rows_affected
  into deleted;

  return format(
    'cleanup-heartbeats run %s was recorded as error after deleting %s rows; '
    'the next run carries on',
    fail_purge_run.run_id, coalesce(deleted, 0)
  );
end
$$;

revoke all
  on function fleet.fail_purge_run(bigint, uuid, text, text)
  from public;

grant execute
  on function fleet.fail_purge_run(bigint, uuid, text, text)
  to fleet_cron;

comment on function fleet.fail_purge_run(bigint, uuid, text, text) is
  'Internal to fleet.purge_old_heartbeats_all: closes a failed run as error with the SQLSTATE '
  'and message.';
