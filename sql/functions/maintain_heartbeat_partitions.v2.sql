-- fleet.maintain_heartbeat_partitions() v2: keep fleet.heartbeats' partitions ahead of time.
--
-- fleet.heartbeats is range-partitioned on created_at, one partition per
-- fleet.config.heartbeat_partition_interval (a day by default), aligned to UTC. Both jobs call
-- this (check-stale every five minutes, so a missing partition is made long before it
-- matters; creating partitions is never left to the purge alone), and so may a DBA. It:
--   1. moves rows that landed in the default partition into real partitions, creating them:
--      a history import (backdated rows from a plain INSERT ... SELECT) or rows that arrived
--      while a partition was missing. Rows of slots already past the retention stay for the
--      purge, and rows older than the first partition belong to heartbeats_legacy (the table as
--      it was before partitioning) as long as it exists;
--   2. creates partitions until heartbeat_partitions_ahead intervals past now exist.
-- The default partition catches any row no partition covers, so an insert never fails.
--
-- Locks: a new partition is built as a table of its own, filled, and then ATTACHed
-- (fleet.create_heartbeat_partition): readers go on, writers pause for milliseconds. Every lock
-- wait is capped at one second; a partition that cannot be made now is made by the next run,
-- which with a week made ahead is long before it matters. Partition bounds are spliced
-- into the DDL as literals (DDL takes no parameters), printed under the pinned UTC and ISO
-- settings of this function. Returns what it did, for the run log.
--
-- The one-second cap is the function's own: the caller's lock_timeout is put back before it
-- returns. v1 left its 1 s in force for the rest of the caller's transaction (a transaction-
-- local setting outlives the function that made it), so a DBA's or a job's later statements
-- gave up on locks they were meant to wait for. (On an error the caller's subtransaction or
-- transaction rolls the setting back anyway.)
--
-- Lock order: making a partition locks fleet.heartbeats (SHARE ROW EXCLUSIVE) until the
-- caller's transaction ends. Heartbeat writers lock fleet.heartbeats and then their agent, so a
-- caller must run this before it locks any agent row (fleet.run_check_stale does), or the two
-- can deadlock.

create or replace function fleet.maintain_heartbeat_partitions()
returns jsonb
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
set timezone = 'UTC'
set datestyle = 'ISO, YMD'
as $$
declare
  settings fleet.config;
  cutoff timestamptz;
  floor timestamptz;
  horizon timestamptz;
  slot record;
  next_lower timestamptz;
  made record;
  created text[] := '{}';
  moved bigint := 0;
  callers_lock_timeout text := current_setting('lock_timeout');
begin
  if not exists (
    select
    from pg_partitioned_table as p
    where p.partrelid = 'fleet.heartbeats'::regclass
  ) then
    return null;
  end if;
  if current_setting('lock_timeout')::interval not between interval '1 millisecond'
    and interval '1 second'
  then
    perform set_config('lock_timeout', '1s', true);
  end if;

  select *
  into settings
  from fleet.config;
  cutoff := fleet.ago(settings.heartbeat_retention);
  horizon := now() + settings.heartbeat_partition_interval * settings.heartbeat_partitions_ahead;
  -- Rows older than the first partition belong to heartbeats_legacy: where it is attached it
  -- holds them; while it waits to be attached (revision 0002 without 0003) they wait in the
  -- default partition for it. Once it has aged out and been dropped, any slot may be made.
  select case
    when to_regclass('fleet.heartbeats_legacy') is not null then coalesce(
      max(p.upper_bound) filter (where p.lower_bound = '-infinity'),
      min(p.lower_bound)
    )
    else '-infinity'
  end
  into floor
  from fleet.heartbeat_partitions('fleet.heartbeats') as p
  where not p.is_default;

  -- 1. Rows in the default partition that a real partition should hold.
  for slot in
    select distinct
      date_bin(settings.heartbeat_partition_interval, h.created_at, 'epoch') as aligned
    from fleet.heartbeats_default as h
    where h.created_at >= floor
      and h.created_at >= date_bin(settings.heartbeat_partition_interval, cutoff, 'epoch')
    order by 1
  loop
    made := fleet.create_heartbeat_partition(slot.aligned);
    created := created || made.partition_name;
    moved := moved + made.rows_moved;
  end loop;

  -- 2. Partitions ahead of now.
  loop
    select max(p.upper_bound)
    into next_lower
    from fleet.heartbeat_partitions('fleet.heartbeats') as p
    where not p.is_default
      and p.upper_bound < 'infinity';
    next_lower := coalesce(
      next_lower,
      date_bin(settings.heartbeat_partition_interval, now(), 'epoch')
    );
    exit when next_lower >= horizon;
    made := fleet.create_heartbeat_partition(next_lower);
    created := created || made.partition_name;
  end loop;

  perform set_config('lock_timeout', callers_lock_timeout, true);
  if cardinality(created) = 0 then
    return null;
  end if;
  return jsonb_build_object('created', to_jsonb(created), 'moved_from_default', moved);
end
$$;

revoke all
  on function fleet.maintain_heartbeat_partitions()
  from public;

comment on function fleet.maintain_heartbeat_partitions() is
  'Creates fleet.heartbeats partitions ahead of now and moves rows out of the default '
  'partition into real ones; returns what it did (NULL: nothing to do). Both jobs run it. '
  'Example: select fleet.maintain_heartbeat_partitions();';
