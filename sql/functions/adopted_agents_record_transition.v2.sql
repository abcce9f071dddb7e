-- Trigger fleet.adopted_agents_record_transition v2: status changes the application makes on an
-- adopted agents table become fleet.agent_events rows and NOTIFYs.
--
-- v2 (revision 0004): an event's last_heartbeat from a timestamp without time zone column is
-- read in the registered zone, so it is the same instant the stale check's events record.
--
-- fleet.adopt installs it as fleetcron_record_transition (AFTER UPDATE OF the status column,
-- one row at a time, only when the status really changed and not inside the check-stale job's
-- own bulk statement, which records its transitions itself). The agent's id and status are read
-- from the row by the registered column names (to_jsonb(new) ->> name), so it works for any
-- id type; a registered online or offline value is recorded as 'online' or 'offline', any other
-- value as itself. The detail's last_heartbeat is an instant, like the stale check's events: a
-- timestamp without time zone column is read in the registered zone. Like
-- fleet.agents_record_transition, the NOTIFY carries only ids and is skipped while the
-- notification queue is fuller than fleet.config.notification_queue_limit.

create or replace function fleet.adopted_agents_record_transition()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  registered fleet.registration;
  is_boolean boolean;
  is_local boolean;
  last_heartbeat jsonb;
  before_value text;
  after_value text;
  event_id bigint;
begin
  select *
  into registered
  from fleet.registration;
  if registered.agents <> tg_relid then
    return null;
  end if;
  select a.atttypid = 'boolean'::regtype
  into is_boolean
  from pg_attribute as a
  where a.attrelid = tg_relid
    and a.attname = registered.agent_status;
  select a.atttypid = 'timestamp without time zone'::regtype
  into is_local
  from pg_attribute as a
  where a.attrelid = tg_relid
    and a.attname = registered.agent_last_heartbeat;

  last_heartbeat := to_jsonb(new) -> registered.agent_last_heartbeat;
  if is_local and jsonb_typeof(last_heartbeat) = 'string' then
    last_heartbeat := to_jsonb(
      (last_heartbeat #>> '{}')::timestamp at time zone registered.time_zone
    );
  end if;

  before_value := to_jsonb(old) ->> registered.agent_status;
  after_value := to_jsonb(new) ->> registered.agent_status;
  insert into fleet.agent_events (agent_key, from_status, to_status, reason, detail)
  values (
    to_jsonb(new) ->> registered.agent_id,
    fleet.status_label(before_value, registered.online_value, registered.offline_value,
                       is_boolean),
    fleet.status_label(after_value, registered.online_value, registered.offline_value,
                       is_boolean),
    coalesce(nullif(current_setting('fleet.transition_reason', true), ''), 'manual'),
    jsonb_build_object('last_heartbeat', last_heartbeat)
  )
  returning id into event_id;

  if pg_notification_queue_usage() < (
    select c.notification_queue_limit
    from fleet.config as c
  ) then
    perform pg_notify(
      'fleet_agent_status',
      json_build_object('event_id', event_id, 'agent_id', to_jsonb(new) ->> registered.agent_id)::text
    );
  end if;
  return null;
end
$$;

revoke all
  on function fleet.adopted_agents_record_transition()
  from public;

comment on function fleet.adopted_agents_record_transition() is
  'Trigger fleet.adopt installs on an adopted agents table: records status changes made by the '
  'application as fleet.agent_events and NOTIFY fleet_agent_status.';
