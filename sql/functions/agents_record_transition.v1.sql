-- Trigger fleet.agents_record_transition: every status change becomes an event and a NOTIFY.
--
-- One home for the alert hook, whoever changes the status: the heartbeat trigger, the stale
-- check, or a DBA's UPDATE. The event row and the notification are part of the changing
-- transaction, so a rollback takes both back (the outbox pattern).
--
-- Why it changed comes from two transaction-local settings the changer may set:
--   fleet.transition_reason  ('heartbeat', 'stale', ...; 'manual' when unset)
--   fleet.transition_run_id  (the fleet.job_runs id of the stale check)
-- e.g. a DBA: set local fleet.transition_reason = 'maintenance'; update fleet.agents ...
--
-- SECURITY DEFINER because whoever may update an agent need not be allowed to write events.

create or replace function fleet.agents_record_transition()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  event fleet.agent_events;
begin
  insert into fleet.agent_events (agent_id, from_status, to_status, reason, run_id, detail)
  values (
    new.id,
    old.status,
    new.status,
    coalesce(nullif(current_setting('fleet.transition_reason', true), ''), 'manual'),
    nullif(current_setting('fleet.transition_run_id', true), '')::bigint,
    jsonb_build_object('last_heartbeat', new.last_heartbeat)
  )
  returning * into event;

  perform pg_notify(
    'fleet_agent_status',
    json_build_object(
      'event_id', event.id,
      'agent_id', new.id,
      'name', new.name,
      'from', old.status,
      'to', new.status,
      'reason', event.reason,
      'run_id', event.run_id,
      'occurred_at', event.occurred_at
    )::text
  );
  return null;
end
$$;

revoke all
  on function fleet.agents_record_transition()
  from public;

comment on function fleet.agents_record_transition() is
  'Trigger: writes fleet.agent_events and NOTIFY fleet_agent_status for each status change. '
  'Listen with: LISTEN fleet_agent_status;';

create or replace trigger agents_record_transition
  after update of status
  on fleet.agents
  for each row
  when (old.status is distinct from new.status)
  execute function fleet.agents_record_transition();
