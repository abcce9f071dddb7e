-- fleet.require_read_committed(): refuse to run a job under a stricter isolation level.
--
-- The jobs are written for READ COMMITTED: check-stale relies on a blocked UPDATE re-reading
-- the row a heartbeat just changed, and the cleanup claim relies on seeing the run another
-- session committed while it waited for the claim lock. Under REPEATABLE READ or SERIALIZABLE
-- (say, a role's default_transaction_isolation) they would fail with serialization errors or
-- let two cleanup runs through, so they stop up front with a message that says how to fix it.

create or replace function fleet.require_read_committed()
returns void
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
begin
  if current_setting('transaction_isolation') <> 'read committed' then
    raise exception 'fleetcron jobs run under READ COMMITTED, not %',
      upper(current_setting('transaction_isolation'))
      using errcode = 'invalid_transaction_state',
            hint = 'Run the job outside an explicit REPEATABLE READ/SERIALIZABLE transaction, '
                   'or set default_transaction_isolation = ''read committed'' for its role.';
  end if;
end
$$;

revoke all
  on function fleet.require_read_committed()
  from public;

comment on function fleet.require_read_committed() is
  'Internal: raises unless the current transaction is READ COMMITTED, which the jobs need.';
