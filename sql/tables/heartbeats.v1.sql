-- fleet.heartbeats: the raw heartbeat log, kept for fleet.config.heartbeat_retention.
--
-- created_at is the database's clock, never the agent's: it defaults to now(), and a value in
-- the future is pulled back to now() by a trigger, so a skewed agent clock can neither keep an
-- agent online forever nor hide its rows from the cleanup job. A past created_at is kept, so
-- history can be imported.
--
-- The (created_at, id) index is what the cleanup job walks: it deletes in keyset order, carrying
-- the last (created_at, id) it deleted from batch to batch, so no batch rescans what the one
-- before it left behind. id breaks ties between rows stamped in the same transaction.

create table fleet.heartbeats (
  id bigint generated always as identity primary key,
  agent_id uuid not null
    constraint heartbeats_agent_id_must_be_a_registered_agent references fleet.agents (id) on delete cascade,
  created_at timestamptz not null default now(),
  payload jsonb
);

create index heartbeats_created_at_id_idx
  on fleet.heartbeats (created_at, id);

create index heartbeats_agent_id_created_at_idx
  on fleet.heartbeats (agent_id, created_at desc);

comment on table fleet.heartbeats is
  'One row per heartbeat. Write with fleet.record_heartbeat(agent_id, payload) or a plain '
  'INSERT (agent_id, payload); either keeps fleet.agents current. Pruned by '
  'fleet.purge_old_heartbeats_all().';
comment on column fleet.heartbeats.created_at is
  'Database time the heartbeat arrived; future values are replaced by now().';
comment on column fleet.heartbeats.payload is
  'Whatever the agent chose to report (optional).';
