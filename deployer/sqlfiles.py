"""Hands the reviewed SQL files in sql/ to Alembic exactly as they are written.

Migrations never hold SQL themselves; they name files. Online, a file goes to the driver as
one string with no parameter processing (plpgsql bodies are full of ``%`` and ``:``); offline
(``alembic upgrade head --sql``) it is copied into the generated script verbatim. Where sql/
is — the checkout's, or the copy inside an installed package — is deployer.paths' business.
"""

from alembic import context

from deployer.paths import SQL_DIR

# Run before every migration, in the same transaction: the search_path and the timeouts, then
# what Alembic's own version table needs to exist (it lives in the fleet schema).
BOOTSTRAP = (
    "session/pin_search_path.sql",
    "session/migration_timeouts.sql",
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
