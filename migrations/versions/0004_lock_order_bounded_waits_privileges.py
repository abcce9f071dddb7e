"""Lock order, bounded lock waits and narrower grants: fixes from a review of 0002's SQL.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

- check-stale makes due partitions before it locks any agent, and the cleanup job prunes its
  logs before it makes them: heartbeat writers lock fleet.heartbeats, then their agent, so the
  old order could deadlock a heartbeat (40P01) once a day, and pruning held up every writer.
- fleet.adopt, fleet.adopt_own_tables and fleet.remove_adopted_triggers wait at most 5 s for the
  application's tables, locking heartbeats before agents; the partition and purge routines put
  the caller's lock_timeout back.
- pg_cron's check-stale job runs under the 45 s statement_timeout the endpoints use.
- fleet.purge_old_heartbeats returns 0 only when nothing expired is left.
- fleet_cron can no longer skip the registration check of fleet.purge_step, nor have a
  registration of its own making checked with the owner's rights (fleet.registration_problems()
  checks the stored one).
- claim_purge_run no longer takes a backend with track_activities off for a finished run.
- A heartbeats table range-partitioned on anything but its time column is refused, and
  fleet.heartbeat_partitions reads time bounds only from a range on one time column.
- Comments for the status stamp trigger and heartbeats_legacy's range proof.
- What changed after 0002 and 0003 were released, as new versions: the heartbeat triggers (a
  fast path for one online agent; an adopted agent of a status of the application's own is left
  alone; local last_heartbeat read as an instant in events), heartbeat_counts and
  heartbeat_summary (partition_span), job_summary (last_error), and the view
  fleet.registered_tables for status and doctor in place of fleet_cron's SELECT on
  fleet.registration.
"""

from deployer.sqlfiles import execute

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

UPGRADE = (
    "tables/registration.v2.sql",
    "functions/registration_fingerprint.v2.sql",
    "functions/heartbeats_touch_agents.v3.sql",
    "functions/adopted_agents_record_transition.v2.sql",
    "functions/adopted_heartbeats_touch_agents.v2.sql",
    "functions/heartbeat_partitions.v2.sql",
    "functions/heartbeat_counts.v2.sql",
    "views/heartbeat_summary.v3.sql",
    "views/job_summary.v3.sql",
    "functions/maintain_heartbeat_partitions.v2.sql",
    "functions/registration_problems.v2.sql",
    "functions/registration_problems.stored.v1.sql",
    "views/registered_tables.v1.sql",
    "functions/purge_step_unvalidated.v1.sql",
    "functions/purge_step.v2.sql",
    "functions/purge_run_batch.v3.sql",
    "functions/purge_old_heartbeats.v3.sql",
    "functions/claim_purge_run.v3.sql",
    "functions/finish_purge_run.v3.sql",
    "functions/run_check_stale.v3.sql",
    "functions/remove_adopted_triggers.v2.sql",
    "functions/adopt.v2.sql",
    "functions/adopt_own_tables.v2.sql",
    "functions/pg_cron_install.v3.sql",
    "comments/0004.sql",
    "privileges/revoke_from_supabase_api_roles.v2.sql",
)

DOWNGRADE = (
    "teardown/0004.sql",
    "tables/registration.v2.undo.sql",
    "functions/registration_fingerprint.v2.undo.sql",
    "functions/registration_fingerprint.v1.sql",
    "functions/heartbeats_touch_agents.v2.sql",
    "functions/adopted_agents_record_transition.v1.sql",
    "functions/adopted_heartbeats_touch_agents.v1.sql",
    "functions/heartbeat_counts.v1.sql",
    "views/heartbeat_summary.v2.sql",
    "views/heartbeat_summary.v3.undo.sql",
    "views/job_summary.v2.sql",
    "views/job_summary.v3.undo.sql",
    "functions/registration_problems.v1.sql",
    "functions/purge_step.v1.sql",
    "functions/purge_run_batch.v2.sql",
    "functions/purge_old_heartbeats.v2.sql",
    "functions/claim_purge_run.v2.sql",
    "functions/finish_purge_run.v2.sql",
    "functions/run_check_stale.v2.sql",
    "functions/maintain_heartbeat_partitions.v1.sql",
    "functions/heartbeat_partitions.v1.sql",
    "functions/remove_adopted_triggers.v1.sql",
    "functions/adopt.v1.sql",
    "functions/adopt_own_tables.v1.sql",
    "functions/pg_cron_install.v2.sql",
    "comments/0004.undo.sql",
    "privileges/revoke_from_supabase_api_roles.v2.sql",
)


def upgrade() -> None:
    execute(*UPGRADE)


def downgrade() -> None:
    execute(*DOWNGRADE)
