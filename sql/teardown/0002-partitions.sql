-- Undo migration 0002, last part: the partition functions, once fleet.heartbeats is an
-- ordinary table again (tables/heartbeats.v2.undo*.sql).

drop function fleet.maintain_heartbeat_partitions();

drop function fleet.create_heartbeat_partition(timestamptz);

drop function fleet.heartbeat_partition_name(timestamptz);

drop function fleet.heartbeat_partitions(regclass, text);

drop function fleet.partition_bound(text, text);
