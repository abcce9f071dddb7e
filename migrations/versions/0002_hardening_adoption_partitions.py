"""Hardening, bring-your-own-tables, partitioned heartbeats, a stale check that scales.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02

- Jobs hold rows of fleet.job_locks (only fleet routines can lock them) instead of advisory
  locks any login could take; every lock wait is bounded; failed runs are recorded.
- fleet.registration points the jobs at fleetcron's own tables or the application's
  (fleet.adopt); the jobs build their statements from catalog names only.
- fleet.heartbeats becomes range-partitioned by created_at: the old table is renamed to
  heartbeats_legacy and attached by 0003; partitions are dropped whole by the purge.
- check-stale marks at most fleet.config.stale_batch_size agents per run, skips locked rows,
  and records transitions in bulk.
"""

from deployer.sqlfiles import execute

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UPGRADE = (
    "locks/0002.sql",
    "tables/config.v2.sql",
    "tables/job_runs.v2.sql",
    "tables/agent_events.v2.sql",
    "tables/job_locks.v1.sql",
    "functions/ago.v2.sql",
    "functions/purge_lease.v2.sql",
    "functions/agent_cutoff_sql.v1.sql",
    "functions/partition_bound.v1.sql",
    "functions/heartbeat_partitions.v1.sql",
    "functions/heartbeat_partition_name.v1.sql",
    "functions/create_heartbeat_partition.v1.sql",
    "functions/maintain_heartbeat_partitions.v1.sql",
    "tables/heartbeats.v2.sql",
    # Created after the swap, so that its regclass names the new, partitioned fleet.heartbeats.
    "tables/registration.v1.sql",
    "functions/agents_stamp_status_change.v2.sql",
    "functions/agents_record_transition.v2.sql",
    "functions/heartbeats_touch_agents.v2.sql",
    "functions/registration_problems.v1.sql",
    "functions/resolve_registration.v1.sql",
    "functions/default_heartbeat_key.v1.sql",
    "functions/registration_fingerprint.v1.sql",
    "functions/status_label.v1.sql",
    "functions/adopted_agents_record_transition.v1.sql",
    "functions/adopted_heartbeats_touch_agents.v1.sql",
    "functions/remove_adopted_triggers.v1.sql",
    "functions/adopt.v1.sql",
    "functions/adopt_own_tables.v1.sql",
    "functions/record_heartbeat.v2.sql",
    "functions/run_check_stale.v2.sql",
    "functions/mark_stale_agents.v2.sql",
    "functions/purge_work.v1.sql",
    "functions/purge_step.v1.sql",
    "functions/purge_old_heartbeats.v2.sql",
    "retired/0002.sql",
    # Unchanged, created again so that its SQL-standard body binds under the pinned search_path.
    "functions/prune_run_log.v1.sql",
    "functions/claim_purge_run.v2.sql",
    "functions/purge_run_batch.v2.sql",
    "functions/finish_purge_run.v2.sql",
    "functions/record_failed_run.v1.sql",
    "procedures/purge_old_heartbeats_all.v2.sql",
    "functions/agent_counts.v1.sql",
    "functions/stale_agents_now.v1.sql",
    "functions/heartbeat_counts.v1.sql",
    "views/agent_summary.v2.sql",
    "views/stale_agents.v2.sql",
    "views/heartbeat_summary.v2.sql",
    "views/job_summary.v2.sql",
    "views/recent_job_runs.v2.sql",
    "functions/pg_cron_install.v2.sql",
    "privileges/revoke_from_supabase_api_roles.v2.sql",
)

DOWNGRADE = (
    "locks/0002.sql",
    "teardown/0002.sql",
    "tables/heartbeats.v2.undo.sql",
    "tables/heartbeats.v1.sql",
    "tables/heartbeats.v2.undo.restore.sql",
    "teardown/0002-partitions.sql",
    "tables/agent_events.v2.undo.sql",
    "tables/job_runs.v2.undo.sql",
    "tables/config.v2.undo.sql",
    "functions/ago.v1.sql",
    "functions/purge_lease.v1.sql",
    "functions/agents_stamp_status_change.v1.sql",
    "functions/agents_record_transition.v1.sql",
    "functions/heartbeats_use_database_clock.v1.sql",
    "functions/heartbeats_touch_agents.v1.sql",
    "functions/record_heartbeat.v1.sql",
    "functions/run_check_stale.v1.sql",
    "functions/mark_stale_agents.v1.sql",
    "functions/purge_heartbeat_batch.v1.sql",
    "functions/purge_old_heartbeats.v1.sql",
    "functions/prune_run_log.v1.sql",
    "functions/claim_purge_run.v1.sql",
    "functions/purge_run_batch.v1.sql",
    "functions/finish_purge_run.v1.sql",
    "procedures/purge_old_heartbeats_all.v1.sql",
    "views/agent_summary.v1.sql",
    "views/stale_agents.v1.sql",
    "views/heartbeat_summary.v1.sql",
    "views/job_summary.v1.sql",
    "functions/pg_cron_install.v1.sql",
    "privileges/revoke_from_supabase_api_roles.v1.sql",
)


def upgrade() -> None:
    execute(*UPGRADE)


def downgrade() -> None:
    execute(*DOWNGRADE)
