-- Trigger fleet.agents_stamp_status_change: status_changed_at follows every status change.
--
-- The WHEN clause keeps it off the hot path: a heartbeat that only moves last_heartbeat never
-- calls the function.

create or replace function fleet.agents_stamp_status_change()
returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  new.status_changed_at := now();
  return new;
end
$$;

revoke all
  on function fleet.agents_stamp_status_change()
  from public;

comment on function fleet.agents_stamp_status_change() is
  'Trigger: sets fleet.agents.status_changed_at when status changes.';

create or replace trigger agents_stamp_status_change
  before update of status
  on fleet.agents
  for each row
  when (old.status is distinct from new.status)
  execute function fleet.agents_stamp_status_change();
