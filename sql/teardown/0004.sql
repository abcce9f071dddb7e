-- Undo migration 0004, first part: drop what 0004 added that the 0003 objects do not need, and
-- what the previous versions' files cannot replace in place.
--
-- The view fleet.registered_tables is new in 0004, and goes with the no-argument
-- fleet.registration_problems() it reads. fleet.job_summary v3 has a column v2 lacks, and
-- fleet.heartbeat_counts v2 a result column v1 lacks: a view cannot lose a column nor a function
-- change its result in place, so they (and fleet.heartbeat_summary, built on heartbeat_counts)
-- are dropped here and created again from their previous versions' files.
-- fleet.purge_step_unvalidated goes: the v2 and v1 files of fleet.purge_run_batch,
-- fleet.purge_old_heartbeats and fleet.purge_step restored next do not call it. Every other
-- routine 0004 replaced is restored from its previous version's file.

drop view fleet.registered_tables;

-- squawk-ignore ban-drop-function
drop function fleet.registration_problems();

-- squawk-ignore ban-drop-function
drop function fleet.purge_step_unvalidated(integer, regclass, text, text, regclass[]);

drop view fleet.job_summary;

drop view fleet.heartbeat_summary;

-- squawk-ignore ban-drop-function
drop function fleet.heartbeat_counts();
