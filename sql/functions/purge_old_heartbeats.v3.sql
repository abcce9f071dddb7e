-- fleet.purge_old_heartbeats(batch) v3: one step of the purge, by hand.
--
-- The DBA's single call: it drops one partition of the registered heartbeats table that lies
-- wholly before the retention cutoff, or else deletes at most `batch` expired rows (default
-- fleet.config.purge_batch_size), oldest first, and returns how many rows went (a dropped
-- partition's rows counted as fleet.purge_step counts them). Call it again until it returns 0;
-- the cleanup job, fleet.purge_old_heartbeats_all(), does that with COMMITs and a time budget.
--
-- 0 means done: nothing expired is left. v2 made exactly one fleet.purge_step and returned its
-- count, which was 0 also when the step dropped an empty expired partition, or when the drop
-- had to be left for later because its lock did not come within a second, so a DBA's "until it
-- returns 0" loop stopped with expired rows left. v3 goes on within the same call while a step
-- removed no rows and expired rows remain: an empty partition dropped is passed over, and a
-- partition whose drop has to wait is skipped for the rest of the call (at most two such waits
-- of a second each, then the call stops trying). When all that is left is a partition it could
-- not drop, the call raises lock_not_available naming it, instead of answering 0. The
-- registration is validated once, first.

create or replace function fleet.purge_old_heartbeats(batch integer default null)
returns integer
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  step_batch integer := coalesce(
    purge_old_heartbeats.batch,
    (select c.purge_batch_size from fleet.config as c)
  );
  heartbeats regclass;
  step record;
  gone bigint := 0;
  skip regclass[] := '{}'::regclass[];
  deferred text[] := '{}'::text[];
  steps integer := 0;
begin
  select r.heartbeats
  into heartbeats
  from fleet.resolve_registration() as r;

  loop
    select *
    into step
    from fleet.purge_step_unvalidated(step_batch, skip => skip);
    steps := steps + 1;
    gone := gone + step.deleted;
    if step.action = 'deferred' then
      skip := skip || step.worked_on;
      deferred := deferred || step.worked_on_name;
    end if;
    exit when gone > 0 or not step.backlog or cardinality(deferred) >= 2;
    -- A guard only: each pass without rows gone drops an empty partition or skips one, and
    -- the partitions run out long before this.
    if steps >= 10000 then
      raise exception 'the purge removed no rows in % steps; expired rows are left', steps
        using errcode = 'program_limit_exceeded';
    end if;
  end loop;

  if gone = 0 and cardinality(deferred) > 0 then
    raise exception 'the expired partition % cannot be dropped now: another transaction holds a '
                    'lock on it or on % (waited 1s)', deferred[1], heartbeats
      using errcode = 'lock_not_available',
            hint = 'call it again when that transaction has ended (pg_locks shows which it is); '
                   'the cleanup job leaves it for its next run the same way';
  end if;
  return least(gone, 2147483647)::integer;
end
$$;

comment on function fleet.purge_old_heartbeats(integer) is
  'Drops one wholly expired partition of the heartbeats table, or deletes one batch (at most '
  '`batch` rows, default fleet.config.purge_batch_size) of heartbeats older than '
  'fleet.config.heartbeat_retention, oldest first; returns the rows gone, 0 only when nothing '
  'expired is left (lock_not_available when what is left cannot be dropped now). '
  'Example: select fleet.purge_old_heartbeats(5000);';
