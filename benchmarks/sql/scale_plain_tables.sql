-- Scale benchmark: the unpartitioned layout, for comparing the partitioned fleet.heartbeats with.
--
-- What: plain copies of fleetcron's agents and heartbeats tables, shaped exactly like
-- fleet.agents and fleet.heartbeats of revision 0001 (an identity primary key, the
-- (created_at, id) index the purge walks, the (agent_id, created_at desc) index, the foreign
-- key), then registered with fleet.adopt (scale_adopt_plain.sql). Adopted, they are purged and
-- checked by the same routines, at the same revision, as the partitioned layout: the only
-- difference measured is the layout. (Revision 0001's own purge would also measure the code
-- that changed between revisions.)
-- Pattern: an application's own tables, as fleet.adopt expects them.

create schema bench;

create table bench.agents (
  id uuid primary key,
  name text not null unique,
  status text not null default 'offline'
    check (status in ('online', 'offline')),
  last_heartbeat timestamptz,
  stale_after interval
);

create table bench.heartbeats (
  id bigint generated always as identity primary key,
  agent_id uuid not null references bench.agents (id) on delete cascade,
  created_at timestamptz not null default now(),
  payload jsonb
);

create index heartbeats_created_at_id_idx
  on bench.heartbeats (created_at, id);

create index heartbeats_agent_id_created_at_idx
  on bench.heartbeats (agent_id, created_at desc);
