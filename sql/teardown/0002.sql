-- Undo migration 0002, first part: drop what 0002 added that the 0001 objects do not need.
--
-- Adopted tables are released first (fleetcron's triggers come off the application's tables).
-- The views 0002 replaced are dropped here and created again from their v1 files afterwards
-- (a view cannot lose columns in place). The tables' own changes are undone by the
-- tables/*.v2.undo*.sql files, and the v1 routines are restored from their v1 files.

select fleet.adopt_own_tables();

drop view fleet.agent_summary;

drop view fleet.stale_agents;

drop view fleet.heartbeat_summary;

drop view fleet.job_summary;

drop function fleet.agent_counts();

drop function fleet.stale_agents_now();

drop function fleet.heartbeat_counts();

drop function fleet.adopt(regclass, name, name, name, regclass, name, name, text, text, name, name, name, text, boolean, boolean);

drop function fleet.adopt_own_tables();

drop function fleet.remove_adopted_triggers();

drop function fleet.adopted_agents_record_transition();

drop function fleet.adopted_heartbeats_touch_agents();

drop function fleet.status_label(text, text, text, boolean);

drop function fleet.registration_fingerprint(fleet.registration);

drop function fleet.default_heartbeat_key(regclass, name);

drop function fleet.resolve_registration(boolean);

drop function fleet.registration_problems(fleet.registration);

drop function fleet.mark_stale_agents(text, integer);

drop function fleet.run_check_stale(text, integer);

drop function fleet.purge_old_heartbeats(integer);

drop function fleet.purge_run_batch(bigint, uuid);

drop function fleet.purge_step(integer, regclass, text, text, regclass[], boolean);

drop function fleet.purge_work(regclass[], boolean);

drop function fleet.record_failed_run(text, text, text, text);

drop function fleet.record_heartbeat(uuid, jsonb);

drop function fleet.agent_cutoff_sql(name, name, boolean);

drop table fleet.registration;

drop table fleet.job_locks;
