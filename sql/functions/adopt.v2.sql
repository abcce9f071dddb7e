-- fleet.adopt(...) v2: run fleetcron on the application's own agents and heartbeats tables.
--
-- An app that already writes, say, public.agents (status 'active'/'inactive', last_seen) and
-- public.heartbeats registers them here, the way pg_partman is pointed at a parent table, and
-- from then on both jobs, the summaries and doctor work on them; fleetcron's own tables stay
-- as they are, unused. fleet.adopt_own_tables() switches back. Only the owner of fleetcron's
-- routines may call it (EXECUTE is granted to nobody).
--
-- Tables are given as regclass (so '"My Schema"."Agents"' and every other spelling resolve the
-- way PostgreSQL resolves them, once, here) and columns as names matched exactly against the
-- catalog. The status column may be text (any two values), an enum (two of its labels) or
-- boolean; times may be timestamptz, or timestamp without time zone when time_zone says which
-- zone they hold. heartbeat_key breaks ties in the purge's keyset walk; by default the
-- heartbeats table's primary key column (besides the time).
--
-- Nothing changes unless everything is right: the registration is validated first
-- (fleet.registration_problems) and refused with the first problem as the message and every
-- problem in the DETAIL. Then, in the same transaction, the triggers fleetcron put on the
-- previously adopted tables are removed, the optional ones chosen now are installed, and the
-- registration is written:
--   record_transitions  on the agents table: status changes made by the app itself (a login
--                       flipping an agent online) become fleet.agent_events rows and NOTIFYs,
--                       like the stale check's own;
--   touch_agents        on the heartbeats table: each insert moves the agent's last heartbeat
--                       forward and brings it online, for an app that does not do so itself.
--
-- Locks: CREATE TRIGGER takes SHARE ROW EXCLUSIVE on the table and DROP TRIGGER ACCESS
-- EXCLUSIVE; either waits for the application's transactions on the table, and the
-- application's next queries queue behind that wait. So every table this changes is locked
-- first, before anything is changed: each with the strongest lock it needs (never an upgrade
-- later), the heartbeats tables before the agents tables (the order in which the application's
-- heartbeat writers take them: the INSERT, then the UPDATE of its agent, whether the app's own
-- or the touch_agents trigger's), and each waiting at most 5 seconds (or the caller's
-- lock_timeout, when that is shorter). A lock that does not come in time stops the call with a
-- message naming the table, and nothing has changed. The caller's lock_timeout is as it was
-- afterwards. (v1 set no lock_timeout, so it could wait for ever, and created the agents
-- table's trigger before the heartbeats table's: a writer holding the heartbeats table and
-- going for its agent deadlocked with it.)

create or replace function fleet.adopt(
  agents regclass,
  agent_id name,
  status name,
  last_heartbeat name,
  heartbeats regclass,
  heartbeat_time name,
  heartbeat_agent name,
  online text default 'online',
  offline text default 'offline',
  stale_after name default null,
  agent_name name default null,
  heartbeat_key name default null,
  time_zone text default null,
  record_transitions boolean default false,
  touch_agents boolean default false
)
returns fleet.registration
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  candidate fleet.registration;
  problems text;
  first_problem record;
  target record;
  callers_lock_timeout text := current_setting('lock_timeout');
begin
  if agents = 'fleet.agents'::regclass or heartbeats = 'fleet.heartbeats'::regclass then
    raise exception 'fleetcron''s own tables are not adopted; they are the default'
      using errcode = 'invalid_parameter_value',
            hint = 'to switch back to them: select fleet.adopt_own_tables();';
  end if;

  candidate.singleton := true;
  candidate.agents := agents;
  candidate.agent_id := agent_id;
  candidate.agent_status := status;
  candidate.online_value := online;
  candidate.offline_value := offline;
  candidate.agent_last_heartbeat := last_heartbeat;
  candidate.agent_stale_after := stale_after;
  candidate.agent_name := agent_name;
  candidate.heartbeats := heartbeats;
  candidate.heartbeat_time := heartbeat_time;
  candidate.heartbeat_agent := heartbeat_agent;
  candidate.heartbeat_key := coalesce(heartbeat_key, fleet.default_heartbeat_key(heartbeats,
                                                                               heartbeat_time));
  candidate.time_zone := time_zone;
  candidate.records_transitions := false;
  candidate.touches_agents := false;
  candidate.registered_at := now();
  candidate.registered_by := session_user;

  if candidate.heartbeat_key is null then
    raise exception '% has no single-column key to break ties of %', heartbeats, heartbeat_time
      using errcode = 'invalid_parameter_value',
            hint = 'name one with heartbeat_key => ''<a unique, NOT NULL column>''';
  end if;
  if online is null or offline is null or online = offline then
    raise exception 'online and offline must be two different values'
      using errcode = 'invalid_parameter_value';
  end if;

  select string_agg(format('%s (%s)', p.problem, p.hint), E'\n')
  into problems
  from fleet.registration_problems(candidate) as p;
  if problems is not null then
    select *
    into first_problem
    from fleet.registration_problems(candidate)
    limit 1;
    raise exception 'cannot adopt these tables: %', first_problem.problem
      using errcode = first_problem.error_code,
            detail = problems,
            hint = first_problem.hint;
  end if;

  if current_setting('lock_timeout')::interval not between interval '1 millisecond'
    and interval '5 seconds'
  then
    perform set_config('lock_timeout', '5s', true);
  end if;
  -- The tables whose triggers come off (those adopted now) and those that get one, heartbeats
  -- tables first, each locked once in the mode its strongest change needs.
  for target in
    select w.relation::regclass as relation, bool_or(w.drops) as drops
    from (
      select t.tgrelid, true, t.tgrelid = r.agents
      from fleet.registration as r
      join pg_trigger as t
        on t.tgrelid in (r.agents, r.heartbeats)
      where r.agents <> 'fleet.agents'::regclass
        and t.tgname in ('fleetcron_record_transition', 'fleetcron_touch_agents')
        and t.tgfoid in (
          'fleet.adopted_agents_record_transition()'::regprocedure,
          'fleet.adopted_heartbeats_touch_agents()'::regprocedure
        )
      union all
      select adopt.heartbeats::oid, false, false
      where adopt.touch_agents
      union all
      select adopt.agents::oid, false, true
      where adopt.record_transitions
    ) as w (relation, drops, is_agents)
    group by w.relation
    order by bool_or(w.is_agents), w.relation
  loop
    begin
      execute format(
        'lock table %s in %s mode',
        target.relation,
        case when target.drops then 'access exclusive' else 'share row exclusive' end
      );
    exception
      when lock_not_available then
        raise exception 'cannot adopt these tables now: another transaction holds a lock on % '
                        '(waited %)', target.relation, current_setting('lock_timeout')
          using errcode = 'lock_not_available',
                hint = 'try again once that transaction has ended (pg_locks and '
                       'pg_stat_activity show which it is); nothing was changed';
    end;
  end loop;

  perform fleet.remove_adopted_triggers();
  if touch_agents then
    execute format(
      'create trigger fleetcron_touch_agents after insert on %s '
      'referencing new table as arrived for each statement '
      'execute function fleet.adopted_heartbeats_touch_agents()',
      heartbeats
    );
    candidate.touches_agents := true;
  end if;
  if record_transitions then
    execute format(
      'create trigger fleetcron_record_transition after update of %1$I on %2$s for each row '
      'when (old.%1$I is distinct from new.%1$I and pg_catalog.current_setting('
      '''fleet.bulk_transition'', true) is distinct from ''on'') '
      'execute function fleet.adopted_agents_record_transition()',
      status, agents
    );
    candidate.records_transitions := true;
  end if;
  candidate.fingerprint := fleet.registration_fingerprint(candidate);

  delete from fleet.registration;
  insert into fleet.registration
  select candidate.*;

  perform set_config('lock_timeout', callers_lock_timeout, true);
  return candidate;
end
$$;

revoke all
  on function fleet.adopt(regclass, name, name, name, regclass, name, name, text, text, name, name, name, text, boolean, boolean)
  from public;

comment on function fleet.adopt(regclass, name, name, name, regclass, name, name, text, text, name, name, name, text, boolean, boolean) is
  'Registers the application''s own agents and heartbeats tables for the jobs (validated first; '
  'nothing changes on a problem). Example: select fleet.adopt(''public.agents'', ''id'', '
  '''status'', ''last_seen'', ''public.heartbeats'', ''created_at'', ''agent_id'', '
  'online => ''active'', offline => ''inactive''); Back to fleetcron''s own tables: '
  'select fleet.adopt_own_tables();';
