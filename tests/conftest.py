"""Fixtures: one real PostgreSQL per test session, one migrated template, a fresh database per test.

The server comes from fleetcron's own helper (deployer.localpg), which is root-safe;
pytest-postgresql's janitor and client fixture build on it: the template database is migrated
with Alembic once, and every test gets ``fleet_test`` cloned from it and dropped afterwards.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from pytest_postgresql import factories
from pytest_postgresql.executors import NoopExecutor
from pytest_postgresql.janitor import DatabaseJanitor

from deployer import migrate
from deployer.localpg import LocalPostgres
from deployer.serve import make_server
from tests.api import Api
from tests.fleet import Fleet
from tests.pgbouncer import PgBouncer

TEST_DATABASE = "fleet_test"
# Login roles for the privilege tests; the password is only good for this throwaway server.
ROLE_PASSWORD = "fleet-test-password"
CRON_LOGIN = "fleet_test_cron_login"
AGENT_LOGIN = "fleet_test_agent_login"
NOBODY_LOGIN = "fleet_test_nobody"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[LocalPostgres]:
    server = LocalPostgres.create()
    server.start()
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="session")
def fleet_template(pg_server: LocalPostgres) -> Iterator[NoopExecutor]:
    """The process fixture for pytest-postgresql: our server, with a migrated template."""
    executor = NoopExecutor(
        host=pg_server.host,
        port=pg_server.port,
        user=pg_server.user,
        password=pg_server.password,
        dbname=TEST_DATABASE,
        options="",
    )
    janitor = DatabaseJanitor(
        user=executor.user,
        host=executor.host,
        port=executor.port,
        password=executor.password,
        dbname=executor.template_dbname,
        as_template=True,
    )
    with janitor:
        migrate.upgrade(pg_server.url(executor.template_dbname))
        _create_login_roles(pg_server)
        yield executor


def _create_login_roles(server: LocalPostgres) -> None:
    memberships = {CRON_LOGIN: "fleet_cron", AGENT_LOGIN: "fleet_agent", NOBODY_LOGIN: None}
    with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
        for role, member_of in memberships.items():
            conn.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(role)))
            conn.execute(
                sql.SQL("create role {} login password {}").format(
                    sql.Identifier(role), sql.Literal(ROLE_PASSWORD)
                )
            )
            if member_of:
                conn.execute(
                    sql.SQL("grant {} to {}").format(
                        sql.Identifier(member_of), sql.Identifier(role)
                    )
                )


fresh_database = factories.postgresql("fleet_template")


@pytest.fixture
def db(fresh_database: psycopg.Connection) -> psycopg.Connection:
    """A connection, as the database owner, to this test's own freshly migrated database."""
    fresh_database.autocommit = True
    return fresh_database


@pytest.fixture
def db_url(db: psycopg.Connection, pg_server: LocalPostgres) -> str:
    return pg_server.url(TEST_DATABASE)


@pytest.fixture
def fleet(db: psycopg.Connection) -> Fleet:
    return Fleet(db)


@pytest.fixture
def new_database(pg_server):
    """Make empty databases (nothing of fleetcron in them); returns their URLs."""
    made = []

    def make():
        name = f"fleet_empty_{len(made)}"
        with psycopg.connect(pg_server.url("postgres"), autocommit=True) as admin:
            admin.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )
            admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        made.append(name)
        return pg_server.url(name)

    yield make
    with psycopg.connect(pg_server.url("postgres"), autocommit=True) as admin:
        for name in made:
            admin.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )


@pytest.fixture
def empty_database(new_database):
    return new_database()


@pytest.fixture
def straight_upgrade(new_database):
    """A database migrated straight to head now, under the same cluster-wide roles as the test.

    (REVOKE on an object turns its default privileges into explicit ones, so whether Supabase's
    anon role existed at migration time shows in the catalog; compare like with like.)
    """
    url = new_database()
    migrate.upgrade(url)
    return url


@pytest.fixture
def connect(pg_server: LocalPostgres, db: psycopg.Connection) -> Iterator:
    """Open more connections to the test database, optionally as another role; all closed after."""
    opened: list[psycopg.Connection] = []

    def open_connection(
        user: str | None = None, *, autocommit: bool = True, **settings: str
    ) -> psycopg.Connection:
        url = pg_server.url(TEST_DATABASE, user=user, password=ROLE_PASSWORD if user else None)
        conn = psycopg.connect(url, autocommit=autocommit)
        for name, value in settings.items():
            conn.execute(
                sql.SQL("select set_config({}, {}, false)").format(
                    sql.Literal(name), sql.Literal(value)
                )
            )
        opened.append(conn)
        return conn

    yield open_connection
    for conn in opened:
        conn.close()


# -- the HTTP side ------------------------------------------------------------------------------

CRON_SECRET = "test-cron-secret-0123456789abcdef"


@pytest.fixture(scope="session")
def pgbouncer(pg_server: LocalPostgres, fleet_template: NoopExecutor) -> Iterator[PgBouncer]:
    """A real PgBouncer in transaction mode in front of the test server."""
    with PgBouncer.start(pg_server, {CRON_LOGIN: ROLE_PASSWORD}) as bouncer:
        yield bouncer


@pytest.fixture
def connection_path(request: pytest.FixtureRequest) -> str:
    """direct, or pgbouncer; tests choose with parametrize(..., indirect=True)."""
    return getattr(request, "param", "direct")


@pytest.fixture
def cron_database_url(connection_path: str, pg_server: LocalPostgres, db, request) -> str:
    """What Vercel holds: a login with nothing but fleet_cron, direct or through the pooler."""
    if connection_path == "direct":
        return pg_server.url(TEST_DATABASE, user=CRON_LOGIN, password=ROLE_PASSWORD)
    bouncer = request.getfixturevalue("pgbouncer")
    return bouncer.url(TEST_DATABASE, user=CRON_LOGIN, password=ROLE_PASSWORD)


@pytest.fixture
def cron_env(monkeypatch: pytest.MonkeyPatch, cron_database_url: str) -> dict[str, str]:
    """The environment Vercel gives the functions."""
    env = {"CRON_SECRET": CRON_SECRET, "DATABASE_URL": cron_database_url}
    monkeypatch.delenv("POSTGRES_URL", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def api(cron_env: dict[str, str]) -> Iterator[Api]:
    """The api/ functions served on a free local port, routed as Vercel routes them."""
    server = make_server(port=0)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield Api(f"http://127.0.0.1:{server.server_address[1]}", CRON_SECRET)
    server.shutdown()
    server.server_close()
