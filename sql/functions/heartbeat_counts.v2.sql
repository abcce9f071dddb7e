-- fleet.heartbeat_counts() v2: how big the registered heartbeats table is, how much of it has
-- expired, and how it is partitioned, for the view fleet.heartbeat_summary.
--
-- v2 (revision 0004) also returns partition_span, the length of the last partition's range, and
-- reads partitioned_until from the last bounded range only (not MAXVALUE or MINVALUE). A
-- function's result columns cannot change in place: v1 and the view built on it are dropped
-- first, and views/heartbeat_summary.v3.sql, applied next, creates the view again.
--
-- Counting a big table is itself a scan, so both counts stop at a million rows: past that,
-- rows is the planner's estimate (rows_exact false) and expired says "at least a million"
-- (expired_exact false). total_bytes covers every partition and index. partitions counts the
-- leaf partitions (0: not partitioned); partitioned_until is where the last time range ends and
-- partition_span how long that last range is, which doctor compares with now: an insert past
-- partitioned_until lands in the default partition (or fails, where there is none).

-- Recreated with the same columns and one more by views/heartbeat_summary.v3.sql, in the same
-- transaction: no client sees it missing.
-- squawk-ignore ban-drop-view
drop view fleet.heartbeat_summary;

-- squawk-ignore ban-drop-function
drop function fleet.heartbeat_counts();

create function fleet.heartbeat_counts()
returns table (
  rows bigint,
  rows_exact boolean,
  expired bigint,
  expired_exact boolean,
  total_bytes bigint,
  oldest timestamptz,
  cutoff timestamptz,
  partitions integer,
  partitioned_until timestamptz,
  partition_span interval
)
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
set timezone = 'UTC'
set datestyle = 'ISO, YMD'
set jit = off
as $$
declare
  tables record;
  time_type regtype;
  local_zone text;
  rows_up_to bigint;
  expired_up_to bigint;
  oldest_value text;
begin
  select *
  into tables
  from fleet.resolve_registration();
  local_zone := case when tables.heartbeat_time_is_local then tables.time_zone end;
  time_type := case
    when tables.heartbeat_time_is_local then 'timestamp without time zone'::regtype
    else 'timestamp with time zone'::regtype
  end;
  cutoff := fleet.ago((select c.heartbeat_retention from fleet.config as c));

  execute format(
    $sql$
    select
      (select count(*) from (select from %1$s as h limit 1000001) as n),
      (select count(*) from (select from %1$s as h where h.%2$I < $1::%3$s limit 1000001) as e),
      (select min(h.%2$I)::text from %1$s as h)
    $sql$,
    tables.heartbeats, tables.heartbeat_time, time_type
  )
  into rows_up_to, expired_up_to, oldest_value
  using case when local_zone is null then cutoff::text
             else (cutoff at time zone local_zone)::text end;
  oldest := case
    when local_zone is null then oldest_value::timestamptz
    else oldest_value::timestamp at time zone local_zone
  end;

  -- pg_partition_tree lists nothing for a table that is not partitioned: count it alone.
  select
    coalesce(sum(pg_total_relation_size(c.oid)), 0),
    greatest(coalesce(sum(c.reltuples) filter (where c.reltuples > 0), 0), 0)::bigint,
    count(*) filter (where t.isleaf and c.oid <> tables.heartbeats)
  into total_bytes, rows, partitions
  from pg_class as c
  left join pg_partition_tree(tables.heartbeats) as t
    on t.relid = c.oid
  where c.oid = tables.heartbeats
    or t.relid is not null;

  rows_exact := rows_up_to <= 1000000;
  if rows_exact then
    rows := rows_up_to;
  end if;
  expired := least(expired_up_to, 1000000);
  expired_exact := expired_up_to <= 1000000;
  select p.upper_bound, p.upper_bound - p.lower_bound
  into partitioned_until, partition_span
  from fleet.heartbeat_partitions(tables.heartbeats, local_zone) as p
  where p.upper_bound < 'infinity'
    and p.lower_bound > '-infinity'
  order by p.upper_bound desc
  limit 1;
  return next;
end
$$;

revoke all
  on function fleet.heartbeat_counts()
  from public;

grant execute
  on function fleet.heartbeat_counts()
  to fleet_cron;

comment on function fleet.heartbeat_counts() is
  'Rows, bytes, oldest row, retention cutoff, expired backlog and partitions of the registered '
  'heartbeats table. Read it through the view: select * from fleet.heartbeat_summary;';
