-- fleet.record_heartbeat(agent_id, payload) v2: an agent says it is alive.
--
-- Stamps the heartbeat with the database clock; the heartbeat trigger then moves the agent's
-- last_heartbeat forward and brings it online if it was offline. Refused, with a message that
-- says why and nothing written: an unknown agent, a payload over
-- fleet.config.heartbeat_payload_limit bytes, and any call while fleetcron works on adopted
-- tables (fleet.registration), where heartbeats are the application's to write.
--
-- The heartbeat holds its agent's row lock until its transaction ends. A client that leaves
-- that transaction open would hold it for good, so this call bounds the rest of the
-- transaction's idle time at one minute (idle_in_transaction_session_timeout, set for this
-- transaction only, unless the session already has a shorter one). The check-stale job skips a
-- locked agent rather than waiting; an agent whose heartbeat is in flight is not stale.
--
-- v2 is created anew (after DROP): it returns a row of the partitioned fleet.heartbeats, a
-- different type from v1's table, which became heartbeats_legacy.

-- squawk-ignore ban-drop-function
drop function if exists fleet.record_heartbeat(uuid, jsonb);

create function fleet.record_heartbeat(
  agent_id uuid,
  payload jsonb default null
)
returns fleet.heartbeats
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  recorded fleet.heartbeats;
  payload_limit integer;
begin
  if record_heartbeat.agent_id is null then
    raise exception 'fleet.record_heartbeat: agent_id must not be null'
      using errcode = 'null_value_not_allowed';
  end if;
  if (select r.agents <> 'fleet.agents'::regclass from fleet.registration as r) then
    raise exception 'fleet.record_heartbeat writes fleetcron''s own tables, but fleetcron works '
                    'on %', (select r.agents from fleet.registration as r)
      using errcode = 'object_not_in_prerequisite_state',
            hint = 'write heartbeats into the application''s own heartbeats table';
  end if;

  select c.heartbeat_payload_limit
  into payload_limit
  from fleet.config as c;
  if octet_length(record_heartbeat.payload::text) > payload_limit then
    raise exception 'fleet.record_heartbeat: a payload of % bytes is over the limit of % bytes',
      octet_length(record_heartbeat.payload::text), payload_limit
      using errcode = 'program_limit_exceeded',
            hint = 'send less, or raise fleet.config.heartbeat_payload_limit';
  end if;

  -- Checked up front for a message that names the agent; the foreign key still guards the race
  -- with a concurrent delete of the agent.
  if not exists (
    select
    from fleet.agents as a
    where a.id = record_heartbeat.agent_id
  ) then
    raise exception 'fleet.record_heartbeat: no agent has id %', record_heartbeat.agent_id
      using errcode = 'foreign_key_violation',
            hint = 'Register the agent first: select fleet.register_agent(''<name>'');';
  end if;

  if current_setting('idle_in_transaction_session_timeout')::interval
    not between interval '1 millisecond' and interval '1 minute'
  then
    perform set_config('idle_in_transaction_session_timeout', '1min', true);
  end if;

  insert into fleet.heartbeats (agent_id, payload)
  values (record_heartbeat.agent_id, record_heartbeat.payload)
  returning * into recorded;

  return recorded;
end
$$;

revoke all
  on function fleet.record_heartbeat(uuid, jsonb)
  from public;

grant execute
  on function fleet.record_heartbeat(uuid, jsonb)
  to fleet_agent;

comment on function fleet.record_heartbeat(uuid, jsonb) is
  'Records a heartbeat (database time) for a registered agent and returns the row; brings the '
  'agent online. Example: select fleet.record_heartbeat(''<agent uuid>'', ''{"load": 0.3}'');';
