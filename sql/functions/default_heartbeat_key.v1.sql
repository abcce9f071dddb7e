-- fleet.default_heartbeat_key(heartbeats, heartbeat_time): the column that breaks ties of the
-- time in the purge's keyset walk, when fleet.adopt is not told one.
--
-- The heartbeats table's primary key if it is one column other than the time, or the other
-- column of a two-column primary key that includes the time (a partitioned table's primary
-- key must). NULL when there is no such key; fleet.adopt then asks for heartbeat_key.

create or replace function fleet.default_heartbeat_key(
  heartbeats regclass,
  heartbeat_time name
)
returns name
language sql
stable
set search_path = pg_catalog, pg_temp
begin atomic
  select a.attname
  from pg_index as i
  cross join lateral unnest(i.indkey::int2[]) as k (attnum)
  join pg_attribute as a
    on a.attrelid = i.indrelid
    and a.attnum = k.attnum
  where i.indrelid = default_heartbeat_key.heartbeats
    and i.indisprimary
    and i.indnkeyatts <= 2
    and a.attname <> default_heartbeat_key.heartbeat_time
    and (
      i.indnkeyatts = 1
      or exists (
        select
        from unnest(i.indkey::int2[]) as other (attnum)
        join pg_attribute as t
          on t.attrelid = i.indrelid
          and t.attnum = other.attnum
        where t.attname = default_heartbeat_key.heartbeat_time
      )
    );
end;

revoke all
  on function fleet.default_heartbeat_key(regclass, name)
  from public;

comment on function fleet.default_heartbeat_key(regclass, name) is
  'Internal: the key column fleet.adopt uses to break ties of the heartbeat time, by default.';
