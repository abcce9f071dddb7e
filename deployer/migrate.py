"""Alembic, driven from Python: the CLI's db commands and the tests use these."""

from __future__ import annotations

import io

import psycopg
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from deployer.paths import ALEMBIC_INI, MIGRATIONS_DIR


def alembic_config(url: str | None = None, *, output: io.StringIO | None = None) -> Config:
    """alembic.ini and migrations/ from deployer.paths: the checkout's, or the installed copy."""
    config = Config(str(ALEMBIC_INI), output_buffer=output)
    # ConfigParser reads % as interpolation; a path may hold one (a home folder, a pipx venv).
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    # alembic.ini's prepend_sys_path (.) serves the alembic command in a checkout. fleetcron
    # runs from any folder and is already imported; putting that folder first on sys.path (again
    # on every call) would let whatever lies there shadow a module imported later.
    config.set_main_option("prepend_sys_path", "")
    # The URL goes in attributes, not the ini: ConfigParser would choke on a % in a password.
    config.attributes["database_url"] = url
    config.attributes["configure_logger"] = False
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def offline_sql(revisions: str = "head", *, downgrade: bool = False) -> str:
    """The SQL Alembic would run, as text (``alembic upgrade head --sql``)."""
    output = io.StringIO()
    config = alembic_config(None, output=output)
    if downgrade:
        command.downgrade(config, revisions, sql=True)
    else:
        command.upgrade(config, revisions, sql=True)
    return output.getvalue()


def head() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current(conn: psycopg.Connection) -> str | None:
    """The revision the database is at, or None when fleetcron was never migrated there."""
    exists = conn.execute("select to_regclass('fleet.alembic_version') is not null").fetchone()
    if not exists[0]:
        return None
    row = conn.execute("select version_num from fleet.alembic_version").fetchone()
    return row[0] if row else None
