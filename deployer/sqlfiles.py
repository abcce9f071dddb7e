"""Hands the reviewed SQL files in sql/ to Alembic exactly as they are written.

Migrations never hold SQL themselves; they name files. Online, a file goes to the driver as
one string with no parameter processing (plpgsql bodies are full of ``%`` and ``:``); offline
(``alembic upgrade head --sql``) it is copied into the generated script verbatim. Where sql/
is — the checkout's, or the copy inside an installed package — is deployer.paths' business.
"""

from alembic import context

from deployer.paths import SQL_DIR

# How every migration transaction starts: the search_path, then the timeouts.
SESSION = (
    "session/pin_search_path.sql",
    "session/migration_timeouts.sql",
)
# Around the statements a migration runs outside any transaction: session-level settings.
OUTSIDE_TRANSACTION = ("session/outside_transaction.sql",)
OUTSIDE_TRANSACTION_END = ("session/outside_transaction_end.sql",)
# Run before every migration, in the same transaction: the session settings, then what
# Alembic's own version table needs to exist (it lives in the fleet schema).
BOOTSTRAP = (
    *SESSION,
    "roles/fleet_cron.v1.sql",
    "roles/fleet_agent.v1.sql",
    "schema/fleet.v1.sql",
)


def read(name: str) -> str:
    # Read when used, so in a checkout an edit under sql/ counts without reinstalling.
    return (SQL_DIR / name).read_text(encoding="utf-8")


def execute(*names: str) -> None:
    """Run sql/<name> for each name, in order, in the current migration transaction."""
    migration = context.get_context()
    for name in names:
        sql = read(name).strip()
        if migration.as_sql:
            migration.impl.static_output(f"-- sql/{name}\n{sql}\n")
        else:
            migration.connection.exec_driver_sql(sql, execution_options={"no_parameters": True})


def execute_outside_transaction(*names: str) -> None:
    """Run sql/<name> for each name as a statement of its own, outside any transaction.

    For what must not hold the migration's locks or cannot run in a transaction block (CREATE
    INDEX CONCURRENTLY, a VALIDATE CONSTRAINT that scans a big table): Alembic commits the
    migration transaction so far, runs each file in autocommit (so each file holds exactly one
    statement) under session-level settings (search_path, lock_timeout) it resets afterwards,
    and opens a new transaction, which starts like every migration transaction.
    """
    migration = context.get_context()
    with migration.autocommit_block():
        # On a failure the connection is discarded (no pool), and its settings with it.
        execute(*OUTSIDE_TRANSACTION, *names, *OUTSIDE_TRANSACTION_END)
    execute(*SESSION)
