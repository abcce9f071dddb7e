"""The PgBouncer harness gives real transaction-mode pooling in front of a real server.

These tests keep their own server (no pg_cron, no migrations) so they prove the harness alone.
The pooling tests each use a database of their own: a pool is per database and role, so a
fresh one holds exactly one server connection and which backend a statement lands on is
deterministic.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from psycopg import errors, sql

from deployer.localpg import LocalPostgres
from tests.pgbouncer import ADMIN_DATABASE, PgBouncer

APP_ROLE = "harness_app"
APP_PASSWORD = "harness-app-password"
# A role the server knows and would let in, but that the pooler's auth file does not list.
OUTSIDER_ROLE = "harness_outsider"
OUTSIDER_PASSWORD = "harness-outsider-password"
POOL_DATABASES = ("probe_shared", "probe_held", "probe_leak", "probe_local")


@pytest.fixture(scope="module")
def server() -> Iterator[LocalPostgres]:
    server = LocalPostgres.create(pg_cron_database=None)
    try:
        server.start()
        with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
            for role, password in ((APP_ROLE, APP_PASSWORD), (OUTSIDER_ROLE, OUTSIDER_PASSWORD)):
                conn.execute(
                    sql.SQL("create role {} login password {}").format(
                        sql.Identifier(role), sql.Literal(password)
                    )
                )
            for dbname in POOL_DATABASES:
                conn.execute(sql.SQL("create database {}").format(sql.Identifier(dbname)))
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="module")
def bouncer(server: LocalPostgres) -> Iterator[PgBouncer]:
    with PgBouncer.start(server, {server.user: server.password, APP_ROLE: APP_PASSWORD}) as bouncer:
        yield bouncer


def connect(bouncer: PgBouncer, dbname: str = "fleetcron", **options: object) -> psycopg.Connection:
    """A client connection through the pooler, set up the way the endpoints connect."""
    return psycopg.connect(
        bouncer.url(dbname, user=APP_ROLE),
        autocommit=True,
        prepare_threshold=None,
        connect_timeout=5,
        **options,
    )


def backend_pid(conn: psycopg.Connection) -> int:
    row = conn.execute("select pg_backend_pid()").fetchone()
    assert row is not None
    return row[0]


def admin_show(bouncer: PgBouncer, what: str) -> list[dict[str, object]]:
    """Rows of a SHOW command on the admin console, which speaks only the simple protocol."""
    with psycopg.connect(
        bouncer.url(ADMIN_DATABASE), autocommit=True, cursor_factory=psycopg.ClientCursor
    ) as conn:
        cursor = conn.execute(f"SHOW {what}")
        names = [column.name for column in cursor.description or []]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def test_queries_go_through_pgbouncer_to_the_server(
    bouncer: PgBouncer, server: LocalPostgres
) -> None:
    with connect(bouncer) as conn:
        # More runs than psycopg's default prepare threshold (5): with prepare_threshold=None
        # nothing is ever prepared, which is what keeps this safe on a transaction pooler.
        for n in range(10):
            assert conn.execute("select %s::int + 1", (n,)).fetchone() == (n + 1,)
        row = conn.execute("select current_user, inet_server_port()").fetchone()
    assert bouncer.port != server.port
    assert row == (APP_ROLE, server.port)


def test_admin_console_reports_transaction_pool_mode(bouncer: PgBouncer) -> None:
    config = {row["key"]: row["value"] for row in admin_show(bouncer, "CONFIG")}
    assert config["pool_mode"] == "transaction"
    with connect(bouncer) as conn:
        conn.execute("select 1")
        pools = admin_show(bouncer, "POOLS")
    pool = next(p for p in pools if p["database"] == "fleetcron" and p["user"] == APP_ROLE)
    assert pool["pool_mode"] == "transaction"


def test_two_open_clients_share_one_backend_between_transactions(bouncer: PgBouncer) -> None:
    # In session mode the first client would keep its backend until it disconnected.
    with connect(bouncer, "probe_shared") as first, connect(bouncer, "probe_shared") as second:
        assert backend_pid(first) == backend_pid(second) == backend_pid(first)


def test_a_transaction_keeps_its_backend_while_others_get_another(bouncer: PgBouncer) -> None:
    with connect(bouncer, "probe_held") as holder, connect(bouncer, "probe_held") as other:
        with holder.transaction():
            held = backend_pid(holder)
            elsewhere = backend_pid(other)
            assert backend_pid(holder) == held
        assert elsewhere != held
        # Committed, the held backend is free again and the next statement may take it.
        assert backend_pid(other) in {held, elsewhere}


def test_set_local_statement_timeout_works_and_does_not_leak(bouncer: PgBouncer) -> None:
    with connect(bouncer, "probe_local") as conn, connect(bouncer, "probe_local") as neighbour:
        pid = backend_pid(conn)
        with pytest.raises(errors.QueryCanceled), conn.transaction():
            conn.execute("set local statement_timeout = '100ms'")
            conn.execute("select pg_sleep(1)")
        assert conn.execute("show statement_timeout").fetchone() == ("0",)
        # The neighbour runs on the very backend that had the timeout, and sees none of it.
        assert backend_pid(neighbour) == pid
        assert neighbour.execute("show statement_timeout").fetchone() == ("0",)


def test_session_settings_leak_to_other_clients(bouncer: PgBouncer) -> None:
    """Why the code must use SET LOCAL: a plain SET outlives the client's transaction."""
    with connect(bouncer, "probe_leak") as setter, connect(bouncer, "probe_leak") as victim:
        setter.execute("set statement_timeout = '4321ms'")
        try:
            assert victim.execute("show statement_timeout").fetchone() == ("4321ms",)
        finally:
            victim.execute("reset statement_timeout")


def test_options_startup_parameter_is_silently_dropped(bouncer: PgBouncer) -> None:
    with connect(bouncer, options="-c statement_timeout=100") as conn:
        assert conn.execute("show statement_timeout").fetchone() == ("0",)


def test_role_missing_from_auth_file_cannot_log_in(
    bouncer: PgBouncer, server: LocalPostgres
) -> None:
    direct = server.url("fleetcron", user=OUTSIDER_ROLE, password=OUTSIDER_PASSWORD)
    with psycopg.connect(direct) as conn:
        assert conn.execute("select current_user").fetchone() == (OUTSIDER_ROLE,)
    pooled = bouncer.url("fleetcron", user=OUTSIDER_ROLE, password=OUTSIDER_PASSWORD)
    with pytest.raises(psycopg.OperationalError, match="SASL authentication failed"):
        psycopg.connect(pooled, connect_timeout=5)
    # The client is told only that authentication failed; the log says why.
    assert f"no such user: {OUTSIDER_ROLE}" in bouncer.log_tail(50)


def test_wrong_password_for_a_listed_role_cannot_log_in(bouncer: PgBouncer) -> None:
    with pytest.raises(psycopg.OperationalError, match="SASL authentication failed"):
        psycopg.connect(bouncer.url("fleetcron", user=APP_ROLE, password="wrong"))


def test_start_fails_clearly_when_pgbouncer_cannot_log_in_to_the_server(
    server: LocalPostgres,
) -> None:
    with pytest.raises(RuntimeError, match="cannot reach the server") as failure:
        PgBouncer.start(server, {server.user: "not-the-password"})
    assert "pgbouncer log" in str(failure.value)
