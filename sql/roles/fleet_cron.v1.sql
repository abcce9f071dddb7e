-- Role fleet_cron: what running the jobs needs, and nothing else.
--
-- It holds EXECUTE on the job routines (check-stale, cleanup-heartbeats) and USAGE on the
-- schema fleet, and no table privilege at all: the routines act on the tables as their owner.
-- The credential Vercel holds (or pg_cron's job owner) can then be a login role whose only
-- privilege is membership:
--
--   create role fleet_vercel login password '...' in role fleet_cron;
--
-- Roles belong to the whole cluster, not to one database, so the role is created only when
-- missing and is never dropped by a downgrade (another database may still use it).

do $$
begin
  if not exists (
    select
    from pg_catalog.pg_roles
    where rolname = 'fleet_cron'
  ) then
    create role fleet_cron nologin;
    comment on role fleet_cron is
      'fleetcron: may run the jobs (fleet.run_check_stale, fleet.mark_stale_agents, '
      'fleet.purge_old_heartbeats_all); holds no table privilege.';
  end if;
exception
  when insufficient_privilege then
    raise exception 'fleetcron needs the role fleet_cron, and % may not create roles', current_user
      using errcode = 'insufficient_privilege',
            hint = 'Ask an administrator to run: create role fleet_cron nologin;';
end
$$;
