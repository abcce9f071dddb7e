-- fleet.agent_events v2: events for agents of any table, written in bulk.
--
-- agent_key is the agent's id as text, for fleet.agents and for an adopted agents table whose
-- ids may be bigint, text or anything else (fleet.registration); agent_id stays filled for
-- fleet.agents. The foreign key to fleet.agents goes: an adopted agent is not in fleet.agents,
-- and checking the key row by row made a mass outage's event insert twice as slow. Events of
-- an agent that is deleted now stay until fleet.config.event_retention prunes them.
-- Rows written by 0001 have no agent_key; readers use coalesce(agent_key, agent_id::text).

alter table fleet.agent_events
  add column agent_key text,
  -- squawk-ignore ban-drop-not-null
  alter column agent_id drop not null,
  -- squawk-ignore ban-drop-constraint
  drop constraint agent_events_agent_id_fkey;

comment on column fleet.agent_events.agent_key is
  'The agent''s id as text (any id type); NULL only on rows written before revision 0002.';
comment on column fleet.agent_events.agent_id is
  'The fleet.agents id, when the agent is one of fleetcron''s own.';
