-- Trigger fleet.agents_record_transition v2: a status change made one row at a time becomes an
-- event and a NOTIFY.
--
-- Whoever changes an agent's status (a heartbeat bringing it online, a DBA's UPDATE) gets a
-- fleet.agent_events row written in the same transaction, so a rollback takes it back (the
-- outbox pattern). The check-stale job records its own transitions in bulk and marks its
-- statement with the transaction-local setting fleet.bulk_transition = 'on', which the WHEN
-- clause reads, so a mass outage costs one INSERT, not one trigger call per agent.
--
-- Why it changed comes from the transaction-local setting fleet.transition_reason ('heartbeat'
-- from the heartbeat trigger; 'manual' when unset), e.g. a DBA:
--   set local fleet.transition_reason = 'maintenance'; update fleet.agents ...
--
-- The NOTIFY is a wake-up, not evidence: LISTEN needs no privilege, so any login can read the
-- channel and send forged messages on it. It carries only ids ({"event_id", "agent_id"});
-- a listener with rights reads fleet.agent_events. It is skipped while the notification queue
-- is fuller than fleet.config.notification_queue_limit (half, by default): a listener idle in
-- a transaction pins the queue, and a full queue would fail the COMMIT of the heartbeat that
-- changed the status; the event row is the record.
--
-- SECURITY DEFINER because whoever may update an agent need not be allowed to write events.

create or replace function fleet.agents_record_transition()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  event_id bigint;
begin
  insert into fleet.agent_events (agent_id, agent_key, from_status, to_status, reason, detail)
  values (
    new.id,
    new.id::text,
    old.status,
    new.status,
    coalesce(nullif(current_setting('fleet.transition_reason', true), ''), 'manual'),
    jsonb_build_object('last_heartbeat', new.last_heartbeat)
  )
  returning id into event_id;

  if pg_notification_queue_usage() < (
    select c.notification_queue_limit
    from fleet.config as c
  ) then
    perform pg_notify(
      'fleet_agent_status',
      json_build_object('event_id', event_id, 'agent_id', new.id)::text
    );
  end if;
  return null;
end
$$;

comment on function fleet.agents_record_transition() is
  'Trigger: writes fleet.agent_events and NOTIFY fleet_agent_status (ids only) for each status '
  'change made row by row. Listen with: LISTEN fleet_agent_status;';

create or replace trigger agents_record_transition
  after update of status
  on fleet.agents
  for each row
  when (
    old.status is distinct from new.status
    and pg_catalog.current_setting('fleet.bulk_transition', true) is distinct from 'on'
  )
  execute function fleet.agents_record_transition();
