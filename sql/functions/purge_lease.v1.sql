-- fleet.purge_lease(): how long a cleanup run may go without progress before it counts as dead.
--
-- Each batch renews the lease, so this only has to outlast one batch: a batch deletes at most
-- fleet.config.purge_batch_size rows and waits at most a minute for a row lock
-- (fleet.purge_run_batch), so five minutes leaves room. A run that died blocks cleanup for at
-- most this long.

create or replace function fleet.purge_lease()
returns interval
language sql
immutable
parallel safe
return interval '5 minutes';

revoke all
  on function fleet.purge_lease()
  from public;

comment on function fleet.purge_lease() is
  'Internal: a cleanup run that makes no progress for this long is declared dead.';
