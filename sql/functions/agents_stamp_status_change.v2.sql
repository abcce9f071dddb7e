-- Trigger fleet.agents_stamp_status_change v2: status_changed_at follows every status change.
--
-- The WHEN clause keeps it off the hot path: a heartbeat that only moves last_heartbeat never
-- calls the function, and neither does an UPDATE that sets status_changed_at itself along with
-- the status (the check-stale job does, so a mass outage does not call it once per agent).

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

create or replace trigger agents_stamp_status_change
  before update of status
  on fleet.agents
  for each row
  when (
    old.status is distinct from new.status
    and old.status_changed_at is not distinct from new.status_changed_at
  )
  execute function fleet.agents_stamp_status_change();
