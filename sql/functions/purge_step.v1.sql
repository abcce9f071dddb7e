-- fleet.purge_step(batch, relation, after_time, after_key, skip): one bounded step of the purge.
--
-- Works on the registered heartbeats table (fleet.registration), whatever its layout, and does
-- exactly one of these, in this order:
--   'dropped'   a partition that lies wholly before the retention cutoff is dropped whole: no
--               row-by-row DELETE, no dead tuples, next to no WAL. The drop takes ACCESS
--               EXCLUSIVE on the parent table, so it waits at most one second for it;
--   'deferred'  ... and when that second runs out, the partition is left for the next step or
--               run (the caller puts it in `skip`), and inserts never queue behind the purge;
--   'deleted'   at most `batch` expired rows are deleted from one table: the table itself when
--               it is not partitioned, else a partition that straddles the cutoff, the default
--               partition, or a partition whose bounds are not a time range;
--   'done'      nothing expired is left outside `skip`.
--
-- A 'deleted' step walks the (time, key) order of that table from the cursor (after_time,
-- after_key) that the previous step returned for the same relation, so no step rescans the
-- index entries earlier steps left behind (measured in fleetcron's own benchmark: 0.2-0.3 M
-- rows/s without a cursor against 0.8 M/s with one). The candidate rows are read in that order
-- and deleted by ctid, in one statement under one snapshot, so a step never deletes more than
-- `batch` rows; "time < cutoff" is part of the DELETE itself, so no row younger than the
-- retention is ever touched, whatever cursor a caller passes. more_here says whether expired
-- rows remain after the cursor in that relation, backlog whether any remain at all (outside
-- `skip`). Without a relation (a single hand call) the step starts at the oldest rows of the
-- first relation fleet.purge_work names: slower, still correct.
--
-- The cutoff is fleet.config.heartbeat_retention before now, in UTC; for a timestamp without
-- time zone column it is converted to the registered zone. Cursor values travel as text,
-- printed and read under this function's pinned TimeZone and DateStyle. Rows dropped with a
-- partition are counted from pg_class.reltuples when the table has been analyzed (counting a
-- day of a big fleet would cost more than the drop), else exactly. The registration is
-- validated first unless validate is false: the cleanup job validates it once, when it
-- starts, not on every step.

create or replace function fleet.purge_step(
  batch integer,
  relation regclass default null,
  after_time text default null,
  after_key text default null,
  skip regclass[] default '{}',
  validate boolean default true
)
returns table (
  action text,
  worked_on regclass,
  worked_on_name text,
  deleted bigint,
  last_time text,
  last_key text,
  more_here boolean,
  backlog boolean
)
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
set timezone = 'UTC'
set datestyle = 'ISO, YMD'
set jit = off
as $$
declare
  tables record;
  retention interval;
  cutoff timestamptz;
  local_zone text;
  time_type regtype;
  next_work record;
  estimate real;
begin
  if batch is null or batch not between 1 and 1000000 then
    raise exception 'batch must be between 1 and 1000000 rows (got %)',
      coalesce(batch::text, 'null')
      using errcode = 'invalid_parameter_value';
  end if;
  if (after_time is null) <> (after_key is null)
    or (after_time is not null and relation is null)
  then
    raise exception 'give a cursor (after_time and after_key) only with its relation, and both'
      using errcode = 'invalid_parameter_value';
  end if;

  select *
  into tables
  from fleet.resolve_registration(validate);
  select c.heartbeat_retention
  into retention
  from fleet.config as c;
  cutoff := fleet.ago(retention);
  local_zone := case when tables.heartbeat_time_is_local then tables.time_zone end;
  time_type := case
    when tables.heartbeat_time_is_local then 'timestamp without time zone'::regtype
    else 'timestamp with time zone'::regtype
  end;

  if relation is null then
    select *
    into next_work
    from fleet.purge_work(skip, validate => false);
    if next_work.relation is null then
      action := 'done';
      deleted := 0;
      more_here := false;
      backlog := false;
      return next;
      return;
    end if;
    relation := next_work.relation;

    if next_work.droppable then
      -- A whole partition: the cheapest rows to get rid of.
      select c.reltuples
      into estimate
      from pg_class as c
      where c.oid = relation;
      if estimate >= 0 then
        deleted := estimate::bigint;
      else
        execute format('select count(*) from %s', relation)
        into deleted;
      end if;
      worked_on := relation;
      worked_on_name := relation::text;
      more_here := false;
      begin
        perform set_config('lock_timeout', '1s', true);
        execute format('drop table %s', relation);
        action := 'dropped';
        backlog := exists (
          select
          from fleet.purge_work(skip, validate => false)
        );
      exception
        when lock_not_available then
          action := 'deferred';
          deleted := 0;
          backlog := true;
      end;
      return next;
      return;
    end if;
  end if;

  if relation is distinct from tables.heartbeats and not exists (
    select
    from pg_partition_tree(tables.heartbeats) as leaf
    where leaf.relid = purge_step.relation
      and leaf.isleaf
  ) or exists (
    select
    from pg_partitioned_table as pt
    where pt.partrelid = purge_step.relation
  ) then
    raise exception '% is not the heartbeats table or one of its partitions', relation
      using errcode = 'invalid_parameter_value';
  end if;

  worked_on := relation;
  worked_on_name := relation::text;
  action := 'deleted';
  execute format(
    $sql$
    with candidates as (
      select h.ctid as row_id, h.%1$I as t, h.%2$I as k
      from %3$s as h
      where h.%1$I < $1::%4$s
        %5$s
      order by h.%1$I, h.%2$I
      limit $4 + 1
    ),
    doomed as (
      select c.row_id, c.t, c.k
      from candidates as c
      order by c.t, c.k
      limit $4
    ),
    gone as (
      delete from %3$s as h
      where h.ctid = any (array(
          select d.row_id
          from doomed as d
        ))
        and h.%1$I < $1::%4$s
      returning 1
    ),
    last_doomed as (
      select d.t, d.k
      from doomed as d
      order by d.t desc, d.k desc
      limit 1
    )
    select
      (select count(*) from gone),
      (select l.t::text from last_doomed as l),
      (select l.k::text from last_doomed as l),
      (select count(*) from candidates) > $4
    $sql$,
    tables.heartbeat_time,
    tables.heartbeat_key,
    relation,
    time_type,
    case when after_time is null then ''
         else format('and (h.%I, h.%I) > ($2::%s, $3::%s)', tables.heartbeat_time,
                     tables.heartbeat_key, time_type, tables.key_type) end
  )
  into deleted, last_time, last_key, more_here
  using case when local_zone is null then cutoff::text
             else (cutoff at time zone local_zone)::text end,
        after_time, after_key, batch;
  backlog := more_here or exists (
    select
    from fleet.purge_work(skip || relation, validate => false)
  );
  return next;
end
$$;

revoke all
  on function fleet.purge_step(integer, regclass, text, text, regclass[], boolean)
  from public;

grant execute
  on function fleet.purge_step(integer, regclass, text, text, regclass[], boolean)
  to fleet_cron;

comment on function fleet.purge_step(integer, regclass, text, text, regclass[], boolean) is
  'One bounded step of the heartbeat purge on the registered table: drops one wholly expired '
  'partition, or deletes at most batch expired rows from one table after the cursor. Returns '
  'the action (dropped, deferred, deleted, done), the table worked on (and its name, which a '
  'dropped table no longer has), rows deleted, the next '
  'cursor, whether more remain there and anywhere. Example: '
  'select * from fleet.purge_step(10000);';
