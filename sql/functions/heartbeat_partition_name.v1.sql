-- fleet.heartbeat_partition_name(starting_at): the name of the fleet.heartbeats partition whose
-- range starts at starting_at: heartbeats_p20261202 for a slot that starts at midnight UTC,
-- heartbeats_p20261202_1300 for one that starts within the day (hourly partitions, or a short
-- slot after the interval was changed). The name is the start in UTC, so it sorts by time.

create or replace function fleet.heartbeat_partition_name(starting_at timestamptz)
returns text
language sql
immutable
set search_path = pg_catalog, pg_temp
return 'heartbeats_p' || to_char(
  starting_at at time zone 'UTC',
  case
    when (starting_at at time zone 'UTC')::time = '00:00' then 'YYYYMMDD'
    else 'YYYYMMDD"_"HH24MI'
  end
);

revoke all
  on function fleet.heartbeat_partition_name(timestamptz)
  from public;

comment on function fleet.heartbeat_partition_name(timestamptz) is
  'Internal: the name of the fleet.heartbeats partition starting at starting_at, from its UTC '
  'start. Example: select fleet.heartbeat_partition_name(''2026-12-02 00:00+00'');';
