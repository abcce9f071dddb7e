-- Undo migration 0001: drop every object it created, newest dependents first.
--
-- This deletes all fleet data. It leaves the schema fleet (Alembic's version table lives
-- there) and the cluster-wide roles fleet_cron and fleet_agent; remove those by hand if
-- fleetcron is leaving the cluster:  drop schema fleet cascade; drop role fleet_cron;
-- drop role fleet_agent;

revoke select
  on fleet.alembic_version
  from fleet_cron;

drop function fleet.pg_cron_jobs();

drop function fleet.pg_cron_remove();

drop function fleet.pg_cron_install(text, text, interval);

drop function fleet.require_pg_cron();

drop view fleet.recent_job_runs;

drop view fleet.job_summary;

drop view fleet.heartbeat_summary;

drop view fleet.stale_agents;

drop view fleet.agent_summary;

drop procedure fleet.purge_old_heartbeats_all(integer, interval, text, bigint, text, bigint, integer, boolean);

drop function fleet.mark_stale_agents(text);

drop function fleet.run_check_stale(text);

drop function fleet.purge_old_heartbeats(integer);

drop function fleet.purge_heartbeat_batch(integer, timestamptz, bigint);

drop function fleet.fail_purge_run(bigint, uuid, text, text);

drop function fleet.finish_purge_run(bigint, uuid);

drop function fleet.purge_run_batch(bigint, uuid, timestamptz, bigint);

drop function fleet.purge_run_lease(bigint, uuid);

drop function fleet.claim_purge_run(integer, interval, text);

drop function fleet.purge_lease();

drop function fleet.prune_run_log();

drop function fleet.require_read_committed();

drop function fleet.job_trigger_source(text);

drop function fleet.record_heartbeat(uuid, jsonb);

drop function fleet.register_agent(text, interval);

drop table fleet.agent_events;

drop table fleet.heartbeats;

drop table fleet.job_runs;

drop table fleet.agents;

drop table fleet.config;

drop function fleet.heartbeats_touch_agents();

drop function fleet.heartbeats_use_database_clock();

drop function fleet.agents_record_transition();

drop function fleet.agents_stamp_status_change();

drop function fleet.config_guard();

drop function fleet.ago(interval);
