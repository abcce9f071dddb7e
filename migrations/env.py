"""Alembic environment: every migration runs the SQL files it names from sql/.

All migrations of one run share a single transaction, so a deploy applies completely or not
at all. Alembic's version table lives in the fleet schema (not public, which Supabase exposes
through its REST API); the bootstrap files create that schema first.
"""

from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool

from deployer import sqlfiles
from deployer.runtime import dburl

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
        raise SystemExit(
            "no database: set DATABASE_URL (or POSTGRES_URL), or pass -x url=postgresql://..."
        )
    clean, _dropped = dburl.normalize(url)
    return clean.replace("postgresql://", "postgresql+psycopg://", 1)


def run_migrations_offline() -> None:
    context.configure(dialect_name="postgresql", literal_binds=True, **VERSION_TABLE)
    with context.begin_transaction():
        sqlfiles.execute(*sqlfiles.BOOTSTRAP)
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(
        database_url(),
        poolclass=pool.NullPool,
        connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS, "prepare_threshold": None},
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
