-- fleet.heartbeat_partitions(parent, time_zone) v2: the partitions of a heartbeats table and
-- their time ranges.
--
-- PostgreSQL keeps a partition's bounds only as an expression, which pg_get_expr prints in the
-- session's TimeZone and DateStyle. This function pins both (UTC, ISO) for itself, so the text
-- it reads back is the same in every session, and turns it into timestamptz: MINVALUE becomes
-- -infinity and MAXVALUE infinity; the bounds of a timestamp without time zone column are read
-- in the zone the registration says it holds. The default partition has no bounds, and neither
-- does a partition of a table that is not range-partitioned on one time column (list or hash,
-- or a range on anything else): the purge deletes such partitions' rows in batches and never
-- drops them.
--
-- v2 reads bounds only when the parent's partition key is a single plain column of type
-- timestamptz or timestamp with the range strategy. v1 read every range bound as a time, so a
-- table partitioned by range (id) failed here ('cannot read the partition bound') and a
-- range on text or uuid failed the timestamptz cast, and with them the purge and
-- fleet.heartbeat_summary. (fleet.registration_problems refuses such a registered heartbeats
-- table, and a range key other than its time column, with a message of its own.)

create or replace function fleet.heartbeat_partitions(
  parent regclass,
  time_zone text default null
)
returns table (
  partition regclass,
  is_default boolean,
  lower_bound timestamptz,
  upper_bound timestamptz,
  is_leaf boolean
)
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
set timezone = 'UTC'
set datestyle = 'ISO, YMD'
as $$
declare
  child record;
  bounds text[];
  time_ranges boolean;
begin
  time_ranges := exists (
    select
    from pg_partitioned_table as p
    join pg_attribute as a
      on a.attrelid = p.partrelid
      and a.attnum = p.partattrs[0]
    where p.partrelid = heartbeat_partitions.parent
      and p.partstrat = 'r'
      and p.partnatts = 1
      and a.atttypid in (
        'timestamp with time zone'::regtype,
        'timestamp without time zone'::regtype
      )
  );
  for child in
    select c.oid, c.relkind, pg_get_expr(c.relpartbound, c.oid) as bound
    from pg_inherits as i
    join pg_class as c
      on c.oid = i.inhrelid
    where i.inhparent = heartbeat_partitions.parent
  loop
    partition := child.oid;
    is_leaf := child.relkind = 'r';
    is_default := child.bound = 'DEFAULT';
    lower_bound := null;
    upper_bound := null;
    if time_ranges then
      bounds := regexp_match(child.bound, '^FOR VALUES FROM \((.+)\) TO \((.+)\)$');
      if bounds is not null then
        lower_bound := fleet.partition_bound(bounds[1], heartbeat_partitions.time_zone);
        upper_bound := fleet.partition_bound(bounds[2], heartbeat_partitions.time_zone);
      end if;
    end if;
    return next;
  end loop;
end
$$;

revoke all
  on function fleet.heartbeat_partitions(regclass, text)
  from public;

comment on function fleet.heartbeat_partitions(regclass, text) is
  'The partitions of a heartbeats table with their time ranges (NULL for the default partition '
  'and for the partitions of a table not range-partitioned on one time column). Example: '
  'select * from fleet.heartbeat_partitions(''fleet.heartbeats'') order by lower_bound;';
