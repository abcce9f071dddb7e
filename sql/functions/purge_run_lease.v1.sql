-- fleet.purge_run_lease(run_id, lease_token): the running cleanup run's row, locked, or an error.
--
-- Every step of a cleanup run after its claim goes through here first, so that only the call
-- holding the run's lease token may advance or close it, and a run already declared dead
-- (fleet.claim_purge_run) learns so instead of carrying on.

create or replace function fleet.purge_run_lease(
  run_id bigint,
  lease_token uuid
)
returns fleet.job_runs
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  run fleet.job_runs;
begin
  select *
  into run
  from fleet.job_runs as r
  where r.id = purge_run_lease.run_id
    and r.outcome = 'running'
    and r.lease_token = purge_run_lease.lease_token
  for update;
  if not found then
    raise exception 'cleanup-heartbeats run % does not hold a lease (finished, or declared dead)',
      purge_run_lease.run_id
      using errcode = 'lock_not_available';
  end if;
  return run;
end
$$;

revoke all
  on function fleet.purge_run_lease(bigint, uuid)
  from public;

comment on function fleet.purge_run_lease(bigint, uuid) is
  'Internal: locks and returns a running cleanup run''s row if the lease token matches; '
  'raises otherwise.';
