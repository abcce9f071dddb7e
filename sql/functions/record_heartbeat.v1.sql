-- fleet.record_heartbeat(agent_id, payload): an agent says it is alive.
--
-- Stamps the heartbeat with the database clock; the heartbeat triggers then move the agent's
-- last_heartbeat forward and bring it online if it was offline. An unknown agent is refused
-- with a message that names it, and nothing is written.

create or replace function fleet.record_heartbeat(
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
begin
  if record_heartbeat.agent_id is null then
    raise exception 'fleet.record_heartbeat: agent_id must not be null'
      using errcode = 'null_value_not_allowed';
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
