-- Undo fleet.agent_events v2. Events that 0001 could not hold (of agents outside fleet.agents,
-- or of agents deleted since) are deleted first, so the foreign key can come back.

delete from fleet.agent_events as e
where e.agent_id is null
  or not exists (
    select
    from fleet.agents as a
    where a.id = e.agent_id
  );

alter table fleet.agent_events
  drop column agent_key,
  alter column agent_id set not null,
  add constraint agent_events_agent_id_fkey foreign key (agent_id)
    references fleet.agents (id) on delete cascade;

comment on column fleet.agent_events.agent_id is null;
