-- Undo fleet.registration v2: fleet_cron reads the registration row again, as revision 0003 had it.

grant select
  on fleet.registration
  to fleet_cron;
