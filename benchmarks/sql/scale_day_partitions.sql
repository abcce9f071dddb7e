-- Scale benchmark: give fleet.heartbeats the daily partitions a long-running install has.
--
-- What: a fresh install's fleet.heartbeats has heartbeats_legacy (empty here) covering
-- everything before tomorrow, and daily partitions from tomorrow on. A fleet that has run
-- for longer than the retention has neither: the purge dropped heartbeats_legacy once it aged
-- out, and every past day has its own partition, made ahead of time by the jobs. This drops
-- the empty heartbeats_legacy and makes the daily partitions from `first_day` up to the first
-- one the migration made, with fleetcron's own fleet.create_heartbeat_partition.
-- Pattern: benchmark plumbing; the state fleet.maintain_heartbeat_partitions keeps.
-- Parameters: first_day (timestamptz; the UTC day it falls in is the first partition).

drop table fleet.heartbeats_legacy;

select count(fleet.create_heartbeat_partition(day.starts))
from generate_series(
  date_bin(interval '1 day', %(first_day)s::timestamptz, timestamptz 'epoch'),
  (
    select min(p.lower_bound)
    from fleet.heartbeat_partitions('fleet.heartbeats') as p
    where not p.is_default
  ) - interval '1 day',
  interval '1 day'
) as day (starts);
