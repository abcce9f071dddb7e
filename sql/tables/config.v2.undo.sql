-- Undo fleet.config v2: drop the settings 0002 added.

alter table fleet.config
  drop column heartbeat_payload_limit,
  drop column stale_batch_size,
  drop column heartbeat_partition_interval,
  drop column heartbeat_partitions_ahead,
  drop column notification_queue_limit;
