-- Undo migration 0004, first part: drop what 0004 added that the 0003 objects do not need.
--
-- The view fleet.registered_tables is dropped here and created again from its v1 file (which
-- creates it rather than replacing it) once fleet.registration_problems(candidate) is back at
-- v1 with its grant to fleet_cron; the no-argument form the view v2 reads goes first with it.
-- fleet.purge_step_unvalidated goes: the v2 and v1 files of fleet.purge_run_batch,
-- fleet.purge_old_heartbeats and fleet.purge_step restored next do not call it. Every other
-- routine 0004 replaced is restored from its previous version's file.

drop view fleet.registered_tables;

-- squawk-ignore ban-drop-function
drop function fleet.registration_problems();

-- squawk-ignore ban-drop-function
drop function fleet.purge_step_unvalidated(integer, regclass, text, text, regclass[]);
