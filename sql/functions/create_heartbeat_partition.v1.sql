-- fleet.create_heartbeat_partition(starting_at): make the fleet.heartbeats partition that
-- covers the slot starting at starting_at, moving its rows out of the default partition.
--
-- The slot runs from starting_at to the next UTC-aligned boundary of
-- fleet.config.heartbeat_partition_interval, clipped to the partitions already there (a slot
-- may be short after the interval was changed, or next to heartbeats_legacy). The partition is
-- built as a table of its own, with a CHECK constraint that proves its range, filled with the
-- default partition's rows of that range, and then ATTACHed: no scan of the new table, a scan
-- of the default partition only (which is meant to be empty or small). CREATE TABLE ...
-- PARTITION OF would hold ACCESS EXCLUSIVE on fleet.heartbeats, blocking readers too; this
-- holds SHARE ROW EXCLUSIVE for a few milliseconds, so readers go on and writers pause (an
-- insert routed to the default partition while its range shrinks would fail). Returns the
-- partition's name and the rows moved.
-- Internal: fleet.maintain_heartbeat_partitions calls it with lock_timeout capped.

create or replace function fleet.create_heartbeat_partition(
  starting_at timestamptz,
  out partition_name text,
  out rows_moved bigint
)
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
set timezone = 'UTC'
set datestyle = 'ISO, YMD'
as $$
declare
  step interval := (
    select c.heartbeat_partition_interval
    from fleet.config as c
  );
  slot_start timestamptz := starting_at;
  slot_end timestamptz;
  table_name text;
begin
  -- A slot that starts inside an existing partition starts where that one ends.
  select greatest(slot_start, max(p.upper_bound))
  into slot_start
  from fleet.heartbeat_partitions('fleet.heartbeats') as p
  where not p.is_default
    and p.lower_bound <= slot_start
    and p.upper_bound > slot_start;
  slot_end := date_bin(step, slot_start, 'epoch') + step;
  select least(slot_end, min(p.lower_bound))
  into slot_end
  from fleet.heartbeat_partitions('fleet.heartbeats') as p
  where not p.is_default
    and p.lower_bound > slot_start;
  table_name := fleet.heartbeat_partition_name(slot_start);

  -- An INSERT routed to the default partition just before the ATTACH would fail its check
  -- once the default's range shrinks; so writers pause for the few milliseconds this takes
  -- (readers do not), and route afresh to the new partition afterwards.
  lock table fleet.heartbeats in share row exclusive mode;
  execute format('create table fleet.%I (like fleet.heartbeats)', table_name);
  execute format(
    'alter table fleet.%I add constraint %I check (created_at >= %L and created_at < %L)',
    table_name, table_name || '_range', slot_start, slot_end
  );
  execute format(
    $sql$
    with moved as (
      delete from fleet.heartbeats_default as h
      where h.created_at >= $1
        and h.created_at < $2
      returning h.id, h.agent_id, h.created_at, h.payload
    )
    insert into fleet.%I (id, agent_id, created_at, payload)
    select m.id, m.agent_id, m.created_at, m.payload
    from moved as m
    $sql$,
    table_name
  )
  using slot_start, slot_end;
  get diagnostics rows_moved = row_count;
  execute format(
    'alter table fleet.heartbeats attach partition fleet.%I for values from (%L) to (%L)',
    table_name, slot_start, slot_end
  );
  execute format('alter table fleet.%I drop constraint %I', table_name, table_name || '_range');
  execute format(
    'comment on table fleet.%I is %L',
    table_name,
    format('fleet.heartbeats from %s to %s (UTC); dropped whole once past the retention.',
           slot_start, slot_end)
  );
  partition_name := table_name;
end
$$;

revoke all
  on function fleet.create_heartbeat_partition(timestamptz)
  from public;

comment on function fleet.create_heartbeat_partition(timestamptz) is
  'Internal: creates the fleet.heartbeats partition for the slot starting at starting_at and '
  'moves its rows out of the default partition; returns its name and the rows moved.';
