-- Schema fleet: the one home of every fleetcron object, Alembic's version table included.
--
-- Not "public": on Supabase, "public" is exposed through the REST API and every function there
-- is callable by the anon role unless revoked. fleet is not exposed, and only the two fleetcron
-- roles may use it.
--
-- Alembic keeps its version table here too, so this file runs before any migration (from
-- migrations/env.py) and must stay safe to run again: it only creates what is missing.

create schema if not exists fleet;

comment on schema fleet is
  'fleetcron: fleet health (agents, heartbeats) and the jobs that keep it true. '
  'Start with: select * from fleet.mark_stale_agents(); call fleet.purge_old_heartbeats_all();';

revoke all
  on schema fleet
  from public;

grant usage
  on schema fleet
  to fleet_cron, fleet_agent;
