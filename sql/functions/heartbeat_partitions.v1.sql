-- fleet.heartbeat_partitions(parent, time_zone): the partitions of a heartbeats table and their
-- time ranges.
--
-- PostgreSQL keeps a partition's bounds only as an expression, which pg_get_expr prints in the
-- session's TimeZone and DateStyle. This function pins both (UTC, ISO) for itself, so the text
-- it reads back is the same in every session, and turns it into timestamptz: MINVALUE becomes
-- -infinity and MAXVALUE infinity; the bounds of a timestamp without time zone column are read
-- in the zone the registration says it holds. The default partition has no bounds, and so does
-- a partition of a table not range-partitioned on one column (list or hash): the purge deletes
-- such partitions' rows in batches and never drops them.

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
begin
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
    bounds := regexp_match(child.bound, '^FOR VALUES FROM \((.+)\) TO \((.+)\)$');
    if bounds is not null then
      lower_bound := fleet.partition_bound(bounds[1], heartbeat_partitions.time_zone);
      upper_bound := fleet.partition_bound(bounds[2], heartbeat_partitions.time_zone);
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
  'and for list or hash partitions). Example: '
  'select * from fleet.heartbeat_partitions(''fleet.heartbeats'') order by lower_bound;';
