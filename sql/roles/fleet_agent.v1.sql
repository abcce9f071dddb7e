-- Role fleet_agent: what an agent (or the service that speaks for the agents) needs.
--
-- It holds EXECUTE on fleet.register_agent and fleet.record_heartbeat and USAGE on the
-- schema fleet, and no table privilege. Give it to the login role your ingest path uses:
--
--   grant fleet_agent to my_ingest_service;
--
-- Like fleet_cron it is cluster-wide: created only when missing, never dropped.

do $$
begin
  if not exists (
    select
    from pg_catalog.pg_roles
    where rolname = 'fleet_agent'
  ) then
    create role fleet_agent nologin;
    comment on role fleet_agent is
      'fleetcron: may register agents and record heartbeats (fleet.register_agent, '
      'fleet.record_heartbeat); holds no table privilege.';
  end if;
exception
  when insufficient_privilege then
    raise exception 'fleetcron needs the role fleet_agent, and % may not create roles', current_user
      using errcode = 'insufficient_privilege',
            hint = 'Ask an administrator to run: create role fleet_agent nologin;';
end
$$;
