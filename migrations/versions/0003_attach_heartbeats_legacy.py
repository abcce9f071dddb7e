"""Attach heartbeats_legacy (fleet.heartbeats before 0002) as the partition of the past.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

The proof ATTACH needs (a validated CHECK constraint) and the index the primary key needs are
built outside a transaction, so a large table is scanned without blocking anyone; the attach
itself is instant. Kept apart from 0002 so that 0002 commits first, and a run interrupted here
resumes from here.
"""

from deployer.sqlfiles import execute, execute_outside_transaction

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_outside_transaction(
        "tables/heartbeats.v3.index.sql",
        "tables/heartbeats.v3.validate.sql",
    )
    execute("tables/heartbeats.v3.sql")


def downgrade() -> None:
    execute("tables/heartbeats.v3.undo.sql")
