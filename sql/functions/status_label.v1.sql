-- fleet.status_label(value, online_value, offline_value, is_boolean): a status as fleetcron
-- records it in fleet.agent_events: 'online' or 'offline' for the registered values (for a
-- boolean column, any spelling of true or false), anything else as itself.

create or replace function fleet.status_label(
  value text,
  online_value text,
  offline_value text,
  is_boolean boolean
)
returns text
language sql
immutable
set search_path = pg_catalog, pg_temp
return case
  when value is null then null
  when is_boolean then
    case value::boolean
      when online_value::boolean then 'online'
      when offline_value::boolean then 'offline'
      else value
    end
  else
    case value
      when online_value then 'online'
      when offline_value then 'offline'
      else value
    end
end;

revoke all
  on function fleet.status_label(text, text, text, boolean)
  from public;

comment on function fleet.status_label(text, text, text, boolean) is
  'Internal: a registered status value as ''online'' or ''offline'' for fleet.agent_events. '
  'Example: select fleet.status_label(''active'', ''active'', ''inactive'', false);';
