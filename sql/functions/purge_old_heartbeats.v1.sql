-- fleet.purge_old_heartbeats(batch): delete one bounded batch of expired heartbeats by hand.
--
-- For a DBA who wants to nibble at a backlog: at most `batch` rows (default
-- fleet.config.purge_batch_size), oldest first, only rows older than the retention. Returns
-- the number deleted; 0 means nothing is left. The scheduled job uses
-- fleet.purge_old_heartbeats_all(), which loops batches with COMMITs and a time budget.

create or replace function fleet.purge_old_heartbeats(batch integer default null)
returns integer
language sql
security definer
set search_path = pg_catalog, pg_temp
begin atomic
  select b.deleted
  from fleet.config as c
  cross join lateral fleet.purge_heartbeat_batch(
    coalesce(purge_old_heartbeats.batch, c.purge_batch_size)
  ) as b;
end;

revoke all
  on function fleet.purge_old_heartbeats(integer)
  from public;

grant execute
  on function fleet.purge_old_heartbeats(integer)
  to fleet_cron;

comment on function fleet.purge_old_heartbeats(integer) is
  'Deletes one batch (at most `batch` rows, default fleet.config.purge_batch_size) of '
  'heartbeats older than fleet.config.heartbeat_retention, oldest first; returns the count. '
  'Example: select fleet.purge_old_heartbeats(5000);';
