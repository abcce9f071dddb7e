-- fleet.purge_lease() v2: how long a cleanup run may go without progress before it counts as
-- dead. Five minutes, as in v1; v2 only pins search_path, so that Supabase's Security Advisor
-- (lint 0011, function_search_path_mutable) has nothing to say about it.
--
-- Each batch that makes progress renews the lease, so this only has to outlast one batch: a
-- batch deletes at most fleet.config.purge_batch_size rows and waits at most a minute for a row
-- lock (fleet.purge_run_batch).

create or replace function fleet.purge_lease()
returns interval
language sql
immutable
parallel safe
set search_path = pg_catalog, pg_temp
return interval '5 minutes';

comment on function fleet.purge_lease() is
  'Internal: a cleanup run that makes no progress for this long is declared dead.';
