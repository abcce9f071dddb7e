-- Let fleet_cron read which migration the schema is at.
--
-- `fleetcron doctor`, run with the credential Vercel holds, checks that the deployment is at
-- head; the version number is all that table holds.

grant select
  on fleet.alembic_version
  to fleet_cron;
