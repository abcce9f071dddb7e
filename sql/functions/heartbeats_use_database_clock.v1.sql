-- Trigger fleet.heartbeats_use_database_clock: a heartbeat from the future arrives now.
--
-- An agent (or a client) that sends its own created_at with a fast clock would otherwise keep
-- its agent online after it went quiet and keep its rows past the retention. Past values are
-- kept, so history can be imported; only the future is refused, silently, by clamping.

create or replace function fleet.heartbeats_use_database_clock()
returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  new.created_at := now();
  return new;
end
$$;

revoke all
  on function fleet.heartbeats_use_database_clock()
  from public;

comment on function fleet.heartbeats_use_database_clock() is
  'Trigger: replaces a future fleet.heartbeats.created_at with now().';

create or replace trigger heartbeats_use_database_clock
  before insert
  on fleet.heartbeats
  for each row
  when (new.created_at > now())
  execute function fleet.heartbeats_use_database_clock();
