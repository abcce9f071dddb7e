-- fleet.purge_work(skip): where the purge's next step is, or NULL when nothing expired is left.
--
-- In the order fleet.purge_step works: first a partition of the registered heartbeats table
-- that lies wholly before the retention cutoff (to drop, droppable true), else the first
-- table that still holds expired rows (to delete from): the table itself when it is not
-- partitioned, else, oldest range first, a partition the cutoff cuts through, the default
-- partition, or a partition whose bounds are not a time range. Relations in `skip` (finished
-- or deferred in this run) are passed over. Each "holds expired rows" test is one index probe.

create or replace function fleet.purge_work(
  skip regclass[] default '{}',
  validate boolean default true
)
returns table (
  relation regclass,
  droppable boolean
)
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
set timezone = 'UTC'
set datestyle = 'ISO, YMD'
as $$
declare
  tables record;
  cutoff timestamptz := fleet.ago((select c.heartbeat_retention from fleet.config as c));
  local_zone text;
  candidate record;
  has_expired boolean;
begin
  select *
  into tables
  from fleet.resolve_registration(validate);
  local_zone := case when tables.heartbeat_time_is_local then tables.time_zone end;

  if tables.partitioned_by_time then
    select p.partition
    into relation
    from fleet.heartbeat_partitions(tables.heartbeats, local_zone) as p
    where not p.is_default
      and p.upper_bound <= cutoff
      and p.partition <> all (skip)
    order by p.upper_bound
    limit 1;
    if relation is not null then
      droppable := true;
      return next;
      return;
    end if;
  end if;

  droppable := false;
  for candidate in
    select t.relid
    from (
      select tables.heartbeats as relid, null::timestamptz as lower_bound
      where not exists (
        select
        from pg_partitioned_table as pt
        where pt.partrelid = tables.heartbeats
      )
      union all
      select leaf.relid, p.lower_bound
      from fleet.heartbeat_partitions(tables.heartbeats, local_zone) as p
      cross join lateral pg_partition_tree(p.partition) as leaf
      where leaf.isleaf
        and (p.lower_bound is null or p.lower_bound < cutoff)
    ) as t
    where t.relid <> all (skip)
    order by t.lower_bound nulls first
  loop
    execute format(
      'select exists (select from %s as h where h.%I < $1::%s)',
      candidate.relid,
      tables.heartbeat_time,
      case when local_zone is null then 'timestamp with time zone'
           else 'timestamp without time zone' end
    )
    into has_expired
    using case when local_zone is null then cutoff::text
               else (cutoff at time zone local_zone)::text end;
    if has_expired then
      relation := candidate.relid;
      return next;
      return;
    end if;
  end loop;
end
$$;

revoke all
  on function fleet.purge_work(regclass[], boolean)
  from public;

comment on function fleet.purge_work(regclass[], boolean) is
  'Internal: the next relation the purge works on (droppable: a wholly expired partition), or '
  'no row when nothing expired is left outside skip. Example: select * from fleet.purge_work();';
