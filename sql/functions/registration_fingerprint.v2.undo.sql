-- Undo fleet.registration_fingerprint v2: EXECUTE goes back to the owner alone, as v1 had it
-- (v1's file replaces the function, but a CREATE OR REPLACE keeps the grants it finds).

revoke execute
  on function fleet.registration_fingerprint(fleet.registration)
  from fleet_cron;
