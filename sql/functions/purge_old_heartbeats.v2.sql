-- fleet.purge_old_heartbeats(batch) v2: one step of the purge, by hand.
--
-- The DBA's single call: it drops one partition of the registered heartbeats table that lies
-- wholly before the retention cutoff, or else deletes at most `batch` expired rows (default
-- fleet.config.purge_batch_size), oldest first, and returns how many rows went (a dropped
-- partition's rows counted as fleet.purge_step counts them). Call it again until it returns 0;
-- the cleanup job, fleet.purge_old_heartbeats_all(), does that with COMMITs and a time budget.
-- v2 works on the registered tables, partitioned or not; v1 deleted from fleet.heartbeats only.

create or replace function fleet.purge_old_heartbeats(batch integer default null)
returns integer
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  step record;
begin
  select *
  into step
  from fleet.purge_step(
    coalesce(
      purge_old_heartbeats.batch,
      (select c.purge_batch_size from fleet.config as c)
    )
  );
  return least(step.deleted, 2147483647)::integer;
end
$$;

comment on function fleet.purge_old_heartbeats(integer) is
  'Drops one wholly expired partition of the heartbeats table, or deletes one batch (at most '
  '`batch` rows, default fleet.config.purge_batch_size) of heartbeats older than '
  'fleet.config.heartbeat_retention, oldest first; returns the rows gone. '
  'Example: select fleet.purge_old_heartbeats(5000);';
