"""Alembic environment: every migration runs the SQL files it names from sql/.

All migrations of one run share a single transaction, so a deploy applies completely or not
at all. Alembic's version table lives in the fleet schema (not public, which Supabase exposes
through its REST API); the bootstrap files create that schema first.

The alembic command runs this file from a checkout; fleetcron (deployer.migrate) runs it from
wherever deployer.paths finds migrations/: the checkout's, or the installed package's copy.
"""

import shlex
import sys
from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool

from deployer import sqlfiles
from deployer.runtime import db, dburl

VERSION_TABLE = {"version_table": "alembic_version", "version_table_schema": "fleet"}
CONNECT_TIMEOUT_SECONDS = 10


if context.config.config_file_name and context.config.attributes.get("configure_logger", True):
    fileConfig(context.config.config_file_name)


def database_url() -> str:
    url = (
        context.config.attributes.get("database_url")
        or context.get_x_argument(as_dictionary=True).get("url")
        or context.config.get_main_option("sqlalchemy.url")
        or dburl.from_environment()
    )
    if not url:
        raise SystemExit(no_database_message())
    return url


def no_database_message() -> str:
    """Why alembic stops where `fleetcron db` would carry on, and the command that does the same.

    `fleetcron db` falls back to its local throwaway PostgreSQL; alembic, what deploy pipelines
    run, does not: a pipeline that lost its URL must fail, not migrate a server nobody uses.
    """
    # cmd_opts is set when the alembic command runs this file: repeat the user's own arguments.
    arguments = shlex.join(sys.argv[1:] if context.config.cmd_opts else ["upgrade", "head"])
    return (
        "no database: set DATABASE_URL (or POSTGRES_URL), or pass -x url=postgresql://...\n"
        "fleetcron db would use its local throwaway PostgreSQL instead; alembic never falls back"
        " to it. To run this against that server:\n"
        f'  fleetcron local start && alembic -x url="$(fleetcron local url)" {arguments}'
    )


def run_migrations_offline() -> None:
    context.configure(dialect_name="postgresql", literal_binds=True, **VERSION_TABLE)
    with context.begin_transaction():
        sqlfiles.execute(*sqlfiles.BOOTSTRAP)
        context.run_migrations()


def run_migrations_online() -> None:
    # SQLAlchemy's first connect looks for hstore with `t.oid = to_regtype('hstore')` before the
    # bootstrap can pin search_path: an operator =(oid, regtype) planted in public is an exact
    # match there and would run as the migrating role. fleetcron has no hstore to look for.
    # The connection is made by fleetcron's runtime from the URL as libpq reads it (several
    # hosts, provider parameters dropped), not from SQLAlchemy's parse of it.
    url = database_url()
    engine = create_engine(
        "postgresql+psycopg://",
        creator=lambda: db.connect(
            url, application_name="fleetcron-migrate", connect_timeout=CONNECT_TIMEOUT_SECONDS
        ),
        use_native_hstore=False,
        poolclass=pool.NullPool,
    )
    with engine.connect() as connection:
        context.configure(connection=connection, **VERSION_TABLE)
        with context.begin_transaction():
            sqlfiles.execute(*sqlfiles.BOOTSTRAP)
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
