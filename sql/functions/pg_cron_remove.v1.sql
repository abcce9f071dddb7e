-- fleet.pg_cron_remove(): unschedule fleetcron's pg_cron jobs, if there are any.
--
-- Idempotent: pg_cron raises for a job name it does not know, so only the fleetcron jobs that
-- exist (and belong to the caller) are removed. Returns their names.

create or replace function fleet.pg_cron_remove()
returns table (jobname text)
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  name text;
begin
  perform fleet.require_pg_cron();
  for name in
    select j.jobname
    from cron.job as j
    where j.jobname in (
        'fleetcron-check-stale',
        'fleetcron-cleanup-heartbeats',
        'fleetcron-prune-cron-history'
      )
      and j.username = current_user
    order by j.jobname
  loop
    perform cron.unschedule(name);
    jobname := name;
    return next;
  end loop;
end
$$;

revoke all
  on function fleet.pg_cron_remove()
  from public;

comment on function fleet.pg_cron_remove() is
  'Unschedules fleetcron''s pg_cron jobs that exist; returns their names. '
  'Example: select * from fleet.pg_cron_remove();';
