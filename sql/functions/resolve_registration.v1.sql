-- fleet.resolve_registration(): the registered tables, checked against the catalog, or an error.
--
-- Every job starts here. The stored registration is validated again (a column may have been
-- dropped or retyped, an owner changed, a trigger removed since fleet.adopt accepted it) and the
-- first problem stops the job with its own message, hint and SQLSTATE, before anything is
-- changed. (A heartbeat trigger, on the application's insert path, skips the validation:
-- validate => false.) What comes back is what the jobs build their statements from: the tables as
-- regclass and the columns as catalog names (both spliced only through regclass output and
-- format('%I')), the types to cast parameters to, and how the heartbeats table is laid out.

create or replace function fleet.resolve_registration(validate boolean default true)
returns table (
  agents regclass,
  agent_id name,
  agent_id_type regtype,
  agent_status name,
  status_type regtype,
  online_value text,
  offline_value text,
  agent_last_heartbeat name,
  last_heartbeat_is_local boolean,
  agent_stale_after name,
  agent_name name,
  heartbeats regclass,
  heartbeat_time name,
  heartbeat_time_is_local boolean,
  heartbeat_agent name,
  heartbeat_key name,
  key_type regtype,
  time_zone text,
  partitioned_by_time boolean,
  own_tables boolean,
  records_transitions boolean,
  touches_agents boolean
)
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  registered fleet.registration;
  first_problem record;
begin
  select *
  into registered
  from fleet.registration;

  if validate then
    select *
    into first_problem
    from fleet.registration_problems(registered)
    limit 1;
    if found then
      raise exception 'fleetcron''s registered tables are not usable: %', first_problem.problem
        using errcode = first_problem.error_code,
              hint = first_problem.hint;
    end if;
  end if;

  agents := registered.agents;
  agent_id := registered.agent_id;
  agent_status := registered.agent_status;
  online_value := registered.online_value;
  offline_value := registered.offline_value;
  agent_last_heartbeat := registered.agent_last_heartbeat;
  agent_stale_after := registered.agent_stale_after;
  agent_name := registered.agent_name;
  heartbeats := registered.heartbeats;
  heartbeat_time := registered.heartbeat_time;
  heartbeat_agent := registered.heartbeat_agent;
  heartbeat_key := registered.heartbeat_key;
  time_zone := registered.time_zone;
  records_transitions := registered.records_transitions;
  touches_agents := registered.touches_agents;
  own_tables := registered.agents = 'fleet.agents'::regclass;

  select a.atttypid::regtype
  into agent_id_type
  from pg_attribute as a
  where a.attrelid = registered.agents
    and a.attname = registered.agent_id;
  select a.atttypid::regtype
  into status_type
  from pg_attribute as a
  where a.attrelid = registered.agents
    and a.attname = registered.agent_status;
  select a.atttypid = 'timestamp without time zone'::regtype
  into last_heartbeat_is_local
  from pg_attribute as a
  where a.attrelid = registered.agents
    and a.attname = registered.agent_last_heartbeat;
  select a.atttypid = 'timestamp without time zone'::regtype
  into heartbeat_time_is_local
  from pg_attribute as a
  where a.attrelid = registered.heartbeats
    and a.attname = registered.heartbeat_time;
  select a.atttypid::regtype
  into key_type
  from pg_attribute as a
  where a.attrelid = registered.heartbeats
    and a.attname = registered.heartbeat_key;
  partitioned_by_time := exists (
    select
    from pg_partitioned_table as p
    join pg_attribute as a
      on a.attrelid = p.partrelid
      and a.attnum = p.partattrs[0]
    where p.partrelid = registered.heartbeats
      and p.partstrat = 'r'
      and p.partnatts = 1
      and a.attname = registered.heartbeat_time
  );
  return next;
end
$$;

revoke all
  on function fleet.resolve_registration(boolean)
  from public;

comment on function fleet.resolve_registration(boolean) is
  'Internal: the registered agents and heartbeats tables, validated against the catalog, or an '
  'error naming the first problem. Example: select * from fleet.resolve_registration();';
