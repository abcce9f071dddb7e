"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""

from deployer.sqlfiles import execute

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}

# Name files under sql/; never write SQL here. A changed routine gets a new version file
# (name.v2.sql) applied by upgrade(); downgrade() applies the previous version file again.


def upgrade() -> None:
    execute()


def downgrade() -> None:
    execute()
