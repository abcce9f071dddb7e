-- fleet.registration v2: fleet_cron no longer reads the registration row itself.
--
-- v1 granted SELECT on it to fleet_cron for status and doctor. Revision 0004 gives them the view
-- fleet.registered_tables instead, which shows what they need (tables, values, problems, changes
-- since registration) and runs with its owner's rights, so the row is the routines' alone.
-- tables/registration.v2.undo.sql puts the grant back.

revoke select
  on fleet.registration
  from fleet_cron;
