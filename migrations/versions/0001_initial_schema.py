"""Initial schema: agents, heartbeats, settings, run log, events, and the job routines.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from deployer.sqlfiles import execute

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

UPGRADE = (
    "tables/config.v1.sql",
    "tables/agents.v1.sql",
    "tables/heartbeats.v1.sql",
    "tables/job_runs.v1.sql",
    "tables/agent_events.v1.sql",
    "functions/ago.v1.sql",
    "functions/config_guard.v1.sql",
    "functions/agents_stamp_status_change.v1.sql",
    "functions/agents_record_transition.v1.sql",
    "functions/heartbeats_use_database_clock.v1.sql",
    "functions/heartbeats_touch_agents.v1.sql",
    "functions/register_agent.v1.sql",
    "functions/record_heartbeat.v1.sql",
    "functions/job_trigger_source.v1.sql",
    "functions/require_read_committed.v1.sql",
    "functions/run_check_stale.v1.sql",
    "functions/mark_stale_agents.v1.sql",
    "functions/purge_heartbeat_batch.v1.sql",
    "functions/purge_old_heartbeats.v1.sql",
    "functions/prune_run_log.v1.sql",
    "functions/purge_lease.v1.sql",
    "functions/claim_purge_run.v1.sql",
    "functions/purge_run_lease.v1.sql",
    "functions/purge_run_batch.v1.sql",
    "functions/finish_purge_run.v1.sql",
    "functions/fail_purge_run.v1.sql",
    "procedures/purge_old_heartbeats_all.v1.sql",
    "views/agent_summary.v1.sql",
    "views/stale_agents.v1.sql",
    "views/heartbeat_summary.v1.sql",
    "views/job_summary.v1.sql",
    "views/recent_job_runs.v1.sql",
    "functions/require_pg_cron.v1.sql",
    "functions/pg_cron_install.v1.sql",
    "functions/pg_cron_remove.v1.sql",
    "functions/pg_cron_jobs.v1.sql",
    "privileges/revoke_from_supabase_api_roles.v1.sql",
    "privileges/alembic_version_readable.v1.sql",
)


def upgrade() -> None:
    execute(*UPGRADE)


def downgrade() -> None:
    execute("teardown/fleet.v1.sql")
