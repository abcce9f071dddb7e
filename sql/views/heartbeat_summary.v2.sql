-- fleet.heartbeat_summary v2: how big the heartbeat log is, how much of it has expired, and how
-- it is partitioned.
--
-- v2 reads the registered heartbeats table through fleet.heartbeat_counts() and adds
-- partitions and partitioned_until (where the last partition's time range ends). v1 named
-- pg_total_relation_size and an oid = regclass comparison with the migrator's search_path, so a
-- planted public.pg_total_relation_size(oid) or operator was bound into it; v2 is created under
-- the pinned search_path that every migration now runs with.

create or replace view fleet.heartbeat_summary as
select
  c.rows,
  c.rows_exact,
  c.expired,
  c.expired_exact,
  c.total_bytes,
  c.oldest,
  c.cutoff,
  c.partitions,
  c.partitioned_until
from fleet.heartbeat_counts() as c;

comment on view fleet.heartbeat_summary is
  'Heartbeat rows, bytes (every partition and index), oldest row, retention cutoff, the expired '
  'backlog the cleanup job will delete, and the partitions. select * from fleet.heartbeat_summary;';
