"""Connections made the way every fleetcron door needs them, pooler or not.

prepare_threshold=None because Supavisor and PgBouncer in transaction mode cannot keep a
prepared statement between transactions; a connect timeout so an unreachable database fails
fast instead of eating the function's whole duration; and the provider's URL cleaned first.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from deployer.runtime import dburl

CONNECT_TIMEOUT_VARIABLE = "FLEETCRON_CONNECT_TIMEOUT_SECONDS"
DEFAULT_CONNECT_TIMEOUT_SECONDS = 5
# libpq treats anything below 2 seconds as 2.
MINIMUM_CONNECT_TIMEOUT_SECONDS = 2


def connect_timeout_from_environment() -> int:
    """FLEETCRON_CONNECT_TIMEOUT_SECONDS, else 5 (libpq itself waits at least 2 s)."""
    seconds = parse_connect_timeout(os.environ.get(CONNECT_TIMEOUT_VARIABLE))
    return max(seconds or DEFAULT_CONNECT_TIMEOUT_SECONDS, MINIMUM_CONNECT_TIMEOUT_SECONDS)


def parse_connect_timeout(raw: str | None) -> int | None:
    """Whole seconds above 0, or None for anything else (doctor reports that as a problem)."""
    try:
        seconds = int(raw or "")
    except ValueError:
        return None
    return seconds if seconds > 0 else None


def connect(
    url: str,
    *,
    application_name: str = "fleetcron",
    autocommit: bool = False,
    connect_timeout: int | None = None,
) -> psycopg.Connection:
    clean, _dropped = dburl.normalize(url)
    return psycopg.connect(
        clean,
        autocommit=autocommit,
        prepare_threshold=None,
        connect_timeout=connect_timeout or connect_timeout_from_environment(),
        application_name=application_name,
    )


# Every query fleetcron sends runs under this search_path, set per transaction: a session-level
# SET would outlive us on a pooled server connection and break the next client's queries.
PIN_SEARCH_PATH = "select pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true)"


# A command someone sits waiting for (status, doctor, adopt, ...) stops after this long behind
# another session's lock, or this long in all, and says so instead of hanging.
COMMAND_LOCK_TIMEOUT = "5s"
COMMAND_STATEMENT_TIMEOUT = "60s"
BOUND_COMMAND = (
    "select pg_catalog.set_config('lock_timeout', %s, true), "
    "pg_catalog.set_config('statement_timeout', %s, true)"
)


@contextmanager
def pinned(conn: psycopg.Connection, *, command: bool = False) -> Iterator[psycopg.Connection]:
    """A transaction in which no function, operator or type resolves through a schema that
    someone else may write to (``public`` above all): only pg_catalog and our own temp schema.

    ``command``: the transaction of a CLI command, bounded by the timeouts above (the jobs set
    their own).
    """
    with conn.transaction():
        conn.execute(PIN_SEARCH_PATH)
        if command:
            conn.execute(BOUND_COMMAND, (COMMAND_LOCK_TIMEOUT, COMMAND_STATEMENT_TIMEOUT))
        yield conn
