-- fleet.heartbeats v2: range-partitioned on created_at, one partition per UTC day by default.
--
-- A fleet of 100,000 agents beating every 30 s writes 288 M rows a day. Deleting the expired
-- day row by row every night costs hundreds of millions of deletes, gigabytes of WAL and a
-- vacuum of the whole table; dropping the day's partition costs a catalog change. So the
-- table is partitioned by created_at (fleet.config.heartbeat_partition_interval), partitions
-- are created ahead of time by both jobs (fleet.maintain_heartbeat_partitions), and the purge
-- drops whole partitions and deletes row by row only in the one that straddles the cutoff
-- (fleet.purge_step). A default partition catches any row no partition covers, so an insert
-- never fails; maintenance moves such rows into real partitions.
--
-- Upgrading a large table without a long lock and without copying it: the table as it was is
-- renamed to heartbeats_legacy and becomes, in revision 0003, the partition of everything
-- before the first new partition (T0, the next UTC midnight). Attaching it needs proof that
-- all its rows are older than T0, or PostgreSQL scans it under an ACCESS EXCLUSIVE lock; so
-- here it gets that proof as a NOT VALID constraint (instant), and 0003 validates it and builds
-- the unique index the new primary key needs, both without blocking anyone, before attaching.
-- Until then new rows go to the new partitions, or to the default partition when they are
-- older than T0 (0003 moves those into heartbeats_legacy). heartbeats_legacy then ages out
-- through the normal purge, row by row, and is dropped whole once T0 is past the retention.
--
-- PostgreSQL 15: the primary key must include the partition key, so it is (created_at, id),
-- which is also the order the purge walks. id stays an identity column of the parent, going on
-- from the old table's last id; it is not inherited by partitions, so insert through
-- fleet.heartbeats, never into a partition directly. The future-timestamp clamp and the payload
-- size limit live in the heartbeat trigger (fleet.heartbeats_touch_agents v2).

-- The renames are the point: every client's fleet.heartbeats becomes the partitioned table.
alter table fleet.heartbeats
  -- squawk-ignore renaming-table
  rename to heartbeats_legacy;

alter index fleet.heartbeats_pkey
  -- squawk-ignore renaming-object
  rename to heartbeats_legacy_pkey;

alter index fleet.heartbeats_created_at_id_idx
  -- squawk-ignore renaming-object
  rename to heartbeats_legacy_created_at_id_idx;

alter index fleet.heartbeats_agent_id_created_at_idx
  -- squawk-ignore renaming-object
  rename to heartbeats_legacy_agent_id_created_at_idx;

alter sequence fleet.heartbeats_id_seq
  -- squawk-ignore renaming-object
  rename to heartbeats_legacy_id_seq;

drop trigger heartbeats_touch_agents
  on fleet.heartbeats_legacy;

drop trigger heartbeats_use_database_clock
  on fleet.heartbeats_legacy;

create table fleet.heartbeats (
  id bigint generated always as identity,
  agent_id uuid not null
    constraint heartbeats_agent_id_must_be_a_registered_agent references fleet.agents (id) on delete cascade,
  created_at timestamptz not null default now(),
  payload jsonb,
  constraint heartbeats_pkey primary key (created_at, id)
)
partition by range (created_at);

create index heartbeats_agent_id_created_at_idx
  on fleet.heartbeats (agent_id, created_at desc);

create table fleet.heartbeats_default
  partition of fleet.heartbeats default;

comment on table fleet.heartbeats is
  'One row per heartbeat, partitioned by created_at (UTC days by default). Write with '
  'fleet.record_heartbeat(agent_id, payload) or a plain INSERT (agent_id, payload) into this '
  'table (never into a partition); either keeps fleet.agents current. Pruned by '
  'fleet.purge_old_heartbeats_all(), which drops expired partitions whole.';
comment on column fleet.heartbeats.created_at is
  'Database time the heartbeat arrived; future values are replaced by now().';
comment on column fleet.heartbeats.payload is
  'Whatever the agent chose to report (optional, at most fleet.config.heartbeat_payload_limit bytes).';
comment on table fleet.heartbeats_default is
  'Rows no partition covers (history imports, or a partition missing); the jobs move them into '
  'real partitions, or purge them once expired. Normally empty.';
comment on table fleet.heartbeats_legacy is
  'fleet.heartbeats as it was before partitioning: the partition of every row older than the '
  'first daily partition. Ages out through the purge and is then dropped.';

do $$
declare
  first_partition timestamptz := date_bin(interval '1 day', now(), timestamptz 'epoch')
    + interval '1 day';
begin
  -- Ids go on from the old table's, so (created_at, id) stays unique across both.
  perform setval(pg_get_serial_sequence('fleet.heartbeats', 'id'), s.last_value, s.is_called)
  from fleet.heartbeats_legacy_id_seq as s;
  execute format(
    'alter table fleet.heartbeats_legacy add constraint heartbeats_legacy_before_partitions '
    'check (created_at < %L) not valid',
    first_partition
  );
  perform fleet.create_heartbeat_partition(first_partition);
  perform fleet.maintain_heartbeat_partitions();
end
$$;
