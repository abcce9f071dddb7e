-- fleet.purge_heartbeat_batch(batch, after_created_at, after_id): one keyset batch of the purge.
--
-- Deletes at most `batch` expired heartbeats (older than fleet.config.heartbeat_retention),
-- oldest first, starting after the cursor (after_created_at, after_id) and returns how many it
-- deleted, the cursor to pass next time, and whether expired rows remain after it.
--
-- Why a cursor: a deleted row's index entry stays until VACUUM, so a batch that looks for "the
-- oldest expired rows" from the start walks every entry earlier batches left behind and gets
-- slower as it goes (measured on 5 M expired of 10 M rows: 222-277 k rows/s that way, 790 k
-- rows/s carrying the cursor). With the cursor each batch starts where the last one ended.
-- Without one (a single hand call) it starts at the oldest row: slower, still correct.
--
-- How a batch is bounded: read the batch-th and (batch+1)-th expired rows after the cursor,
-- then delete the (created_at, id) range up to the first of them, all in one statement (one
-- snapshot, so never more than `batch` rows); id breaks ties between rows stamped in the same
-- transaction. The second row, if any, is the backlog: more is left for the next batch. Both
-- the look-ahead and the range delete are index range scans starting at the cursor.
-- "created_at < cutoff" is in the DELETE itself, so no row younger than the retention is ever
-- touched, whatever the cursor says.
--
-- JIT is off for it: a batch touches `batch` rows, but its estimated cost grows with the table,
-- and past jit_above_cost every batch compiled code it ran once (measured with
-- benchmarks/purge.py at 6 M rows: ~8 of ~15 ms per batch, the whole job 1.9x slower).

create or replace function fleet.purge_heartbeat_batch(
  batch integer,
  after_created_at timestamptz default null,
  after_id bigint default null
)
returns table (
  deleted integer,
  last_created_at timestamptz,
  last_id bigint,
  backlog boolean
)
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
set jit = off
as $$
declare
  cutoff timestamptz;
  from_created_at timestamptz := coalesce(after_created_at, '-infinity');
  -- identity ids start at 1, so 0 is before every row
  from_id bigint := coalesce(after_id, 0);
begin
  if batch is null or batch not between 1 and 1000000 then
    raise exception 'batch must be between 1 and 1000000 rows (got %)', coalesce(batch::text, 'null')
      using errcode = 'invalid_parameter_value';
  end if;
  if (after_created_at is null) <> (after_id is null) then
    raise exception 'give both after_created_at and after_id (a cursor), or neither'
      using errcode = 'invalid_parameter_value';
  end if;

  select fleet.ago(c.heartbeat_retention)
  into cutoff
  from fleet.config as c;

  with boundary as (
    select h.created_at, h.id
    from fleet.heartbeats as h
    where h.created_at < cutoff
      and (h.created_at, h.id) > (from_created_at, from_id)
    order by h.created_at, h.id
    offset batch - 1
    limit 2
  ),
  batch_end as (
    select b.created_at, b.id
    from boundary as b
    order by b.created_at, b.id
    limit 1
  ),
  gone as (
    delete from fleet.heartbeats as h
    where h.created_at < cutoff
      and (h.created_at, h.id) > (from_created_at, from_id)
      and (h.created_at, h.id) <= (
        coalesce((select e.created_at from batch_end as e), 'infinity'),
        coalesce((select e.id from batch_end as e), 9223372036854775807)
      )
    returning 1
  )
  select
    (select count(*) from gone),
    (select e.created_at from batch_end as e),
    (select e.id from batch_end as e),
    (select count(*) from boundary) = 2
  into deleted, last_created_at, last_id, backlog;

  return next;
end
$$;

revoke all
  on function fleet.purge_heartbeat_batch(integer, timestamptz, bigint)
  from public;

grant execute
  on function fleet.purge_heartbeat_batch(integer, timestamptz, bigint)
  to fleet_cron;

comment on function fleet.purge_heartbeat_batch(integer, timestamptz, bigint) is
  'One keyset batch of the heartbeat purge: deletes up to `batch` expired rows after the '
  'cursor (after_created_at, after_id), oldest first; returns deleted, the next cursor '
  '(last_created_at, last_id) and backlog. Example: '
  'select * from fleet.purge_heartbeat_batch(10000);';
