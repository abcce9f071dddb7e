-- fleet.config v2: the settings the hardening, scale and bring-your-own-tables work added.
--
--   heartbeat_payload_limit     a heartbeat payload larger than this many bytes is refused,
--                               so one client cannot fill the disk (0001 stored 100 MB ones)
--   stale_batch_size            at most this many agents go offline per check-stale run. A
--                               mass outage larger than that is marked over the next runs,
--                               each one committed, instead of one UPDATE so big that it hits
--                               the statement timeout, rolls back and never marks anyone
--   heartbeat_partition_interval
--   heartbeat_partitions_ahead  fleet.heartbeats is range-partitioned on created_at, one
--                               partition per interval (UTC-aligned), created this many
--                               intervals ahead by the jobs so an insert never lacks one
--   notification_queue_limit    transitions are NOTIFYed only while the server's notification
--                               queue is less full than this (pg_notification_queue_usage()):
--                               a listener idle in a transaction pins the queue, and a full
--                               queue fails the COMMIT of whatever sent a notification. The
--                               fleet.agent_events row is the record; the NOTIFY is a wake-up

alter table fleet.config
  -- Integers on purpose: each CHECK caps its column far below 2^31.
  -- squawk-ignore prefer-bigint-over-int
  add column heartbeat_payload_limit integer not null default 65536
    constraint config_heartbeat_payload_limit_between_1_and_104857600
    check (heartbeat_payload_limit between 1 and 104857600),
  -- squawk-ignore prefer-bigint-over-int
  add column stale_batch_size integer not null default 200000
    constraint config_stale_batch_size_between_1_and_10000000
    check (stale_batch_size between 1 and 10000000),
  add column heartbeat_partition_interval interval not null default interval '1 day'
    constraint config_heartbeat_partition_interval_is_1_hour_or_1_day
    check (heartbeat_partition_interval in (interval '1 hour', interval '1 day')),
  -- squawk-ignore prefer-bigint-over-int
  add column heartbeat_partitions_ahead integer not null default 7
    constraint config_heartbeat_partitions_ahead_between_2_and_400
    check (heartbeat_partitions_ahead between 2 and 400),
  add column notification_queue_limit double precision not null default 0.5
    constraint config_notification_queue_limit_between_0_and_0_9
    check (notification_queue_limit between 0 and 0.9);

comment on column fleet.config.heartbeat_payload_limit is
  'Largest heartbeat payload accepted, in bytes (default 64 KiB).';
comment on column fleet.config.stale_batch_size is
  'At most this many agents are marked offline per check-stale run; the rest in the next runs.';
comment on column fleet.config.heartbeat_partition_interval is
  'Span of one fleet.heartbeats partition: 1 day (default) or 1 hour, aligned to UTC.';
comment on column fleet.config.heartbeat_partitions_ahead is
  'How many partitions the jobs keep created ahead of now.';
comment on column fleet.config.notification_queue_limit is
  'Transitions are NOTIFYed only while pg_notification_queue_usage() is below this (0 disables).';
