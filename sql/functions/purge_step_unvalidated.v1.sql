-- fleet.purge_step_unvalidated(batch, relation, after_time, after_key, skip): one bounded step
-- of the purge, on a registration its caller has validated.
--
-- Internal: EXECUTE is granted to nobody. fleet.purge_run_batch calls it for each step of a
-- cleanup run (fleet.claim_purge_run validated the registration once, when the run started,
-- rather than on every step), and fleet.purge_step and fleet.purge_old_heartbeats call it after
-- validating. This is fleet.purge_step v1 with its
-- `validate` argument taken out, so that no caller outside fleet can skip the check: v1 was
-- granted to fleet_cron with validate => false available to it.
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
-- rows/s without a cursor against 0.8 M/s with one). The step first finds its edge, the
-- batch-th expired row after the cursor, with an index-only scan of (time, key), then deletes
-- the range (cursor, edge] with one range scan of the same index, in one statement under one
-- snapshot, so a step never deletes more than `batch` rows and visits each heap page once.
-- (Reading the candidates' ctids and then deleting by ctid visited every row twice and sorted
-- the ctids: 22 ms per 10,000 rows against 11.5 ms, pg_stat_statements over a whole
-- unpartitioned purge of benchmarks.scale.) "time < cutoff" is part of the DELETE itself, so
-- no row younger than the retention is ever touched, whatever cursor a caller passes.
-- more_here says whether expired rows remain after the cursor in that relation, backlog
-- whether any remain at all (outside `skip`). Without a relation (a single hand call) the step
-- starts at the oldest rows of the first relation fleet.purge_work names: slower, still
-- correct.
--
-- The cutoff is fleet.config.heartbeat_retention before now, in UTC; for a timestamp without
-- time zone column it is converted to the registered zone. Cursor values travel as text,
-- printed and read under this function's pinned TimeZone and DateStyle. Rows dropped with a
-- partition are counted from pg_class.reltuples when the table has been analyzed (counting a
-- day of a big fleet would cost more than the drop), else exactly. The drop's one-second
-- lock_timeout is its own: the caller's is put back once the drop is done (v1 left the 1 s in
-- force for the rest of the caller's transaction).

create or replace function fleet.purge_step_unvalidated(
  batch integer,
  relation regclass default null,
  after_time text default null,
  after_key text default null,
  skip regclass[] default '{}'
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
  callers_lock_timeout text := current_setting('lock_timeout');
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
  from fleet.resolve_registration(validate => false);
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
        perform set_config('lock_timeout', callers_lock_timeout, true);
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
    where leaf.relid = purge_step_unvalidated.relation
      and leaf.isleaf
  ) or exists (
    select
    from pg_partitioned_table as pt
    where pt.partrelid = purge_step_unvalidated.relation
  ) then
    raise exception '% is not the heartbeats table or one of its partitions', relation
      using errcode = 'invalid_parameter_value';
  end if;

  worked_on := relation;
  worked_on_name := relation::text;
  action := 'deleted';
  execute format(
    $sql$
    with edge as (
      -- The batch-th expired row after the cursor and, when there is one, the next.
      select h.%1$I as t, h.%2$I as k
      from %3$s as h
      where h.%1$I < $1::%4$s
        %5$s
      order by h.%1$I, h.%2$I
      offset $4 - 1
      limit 2
    ),
    gone as (
      -- Up to the edge; with no edge (fewer than batch rows left), up to the cutoff: a row
      -- comparison stops at its first unequal column, so (t, k) <= (cutoff, null) holds for
      -- every t < cutoff.
      delete from %3$s as h
      where h.%1$I < $1::%4$s
        %5$s
        and (h.%1$I, h.%2$I) <= (
          coalesce((select e.t from edge as e order by e.t, e.k limit 1), $1::%4$s),
          (select e.k from edge as e order by e.t, e.k limit 1)
        )
      returning h.%1$I as t, h.%2$I as k
    )
    select
      (select count(*) from gone),
      coalesce(
        (select e.t from edge as e order by e.t, e.k limit 1),
        (select g.t from gone as g order by g.t desc, g.k desc limit 1)
      )::text,
      coalesce(
        (select e.k from edge as e order by e.t, e.k limit 1),
        (select g.k from gone as g order by g.t desc, g.k desc limit 1)
      )::text,
      (select count(*) from edge) > 1
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
  on function fleet.purge_step_unvalidated(integer, regclass, text, text, regclass[])
  from public;

comment on function fleet.purge_step_unvalidated(integer, regclass, text, text, regclass[]) is
  'Internal: one bounded step of the heartbeat purge on the registered table, trusting that the '
  'caller validated the registration: drops one wholly expired partition, or deletes at most '
  'batch expired rows from one table after the cursor. Callers outside fleet use '
  'fleet.purge_step, which validates first.';
