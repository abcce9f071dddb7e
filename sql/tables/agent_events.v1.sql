-- fleet.agent_events: one row per status transition, the outbox for alerts.
--
-- A trigger on fleet.agents writes the row and sends pg_notify('fleet_agent_status', <json>) in
-- the same transaction, whoever changed the status (heartbeat, stale check, a DBA's UPDATE), so
-- a listener or a poller of this table misses nothing and sees nothing that was rolled back.
-- run_id points at the fleet.job_runs row of the stale check that caused it; it is not a foreign
-- key because the two tables are pruned on their own schedules.

create table fleet.agent_events (
  id bigint generated always as identity primary key,
  agent_id uuid not null
    references fleet.agents (id) on delete cascade,
  from_status text not null,
  to_status text not null,
  reason text not null,
  run_id bigint,
  occurred_at timestamptz not null default now(),
  detail jsonb not null default '{}'
);

create index agent_events_agent_id_occurred_at_idx
  on fleet.agent_events (agent_id, occurred_at desc);

create index agent_events_occurred_at_idx
  on fleet.agent_events (occurred_at);

create index agent_events_run_id_idx
  on fleet.agent_events (run_id)
  where run_id is not null;

comment on table fleet.agent_events is
  'Status transitions (also sent as NOTIFY fleet_agent_status). Recent ones: '
  'select * from fleet.agent_events order by occurred_at desc limit 20;';
comment on column fleet.agent_events.reason is
  'heartbeat, stale, manual, or the value of the setting fleet.transition_reason.';
comment on column fleet.agent_events.run_id is
  'The fleet.job_runs row of the stale check that made the change, if one did.';
