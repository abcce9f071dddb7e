"""The cron endpoints over real HTTP (docs/design.md, "The endpoints"), direct and pooled.

The endpoints log in as a role whose only privilege is fleet_cron. Every test that reaches the
database runs twice: straight to the server, and through a real PgBouncer in transaction mode.
"""

import ast
import inspect
import json
import re
import socket
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import psycopg
import pytest

from deployer.runtime import endpoint
from tests.conftest import CRON_LOGIN, CRON_SECRET, ROLE_PASSWORD, TEST_DATABASE
from tests.pgbouncer import PgBouncer

CHECK_STALE = "/api/cron/check-stale"
CLEANUP = "/api/cron/cleanup-heartbeats"
QUIET = timedelta(minutes=6)
direct_and_pooled = pytest.mark.parametrize(
    "connection_path", ["direct", "pgbouncer"], indirect=True
)


# -- authentication -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(None, id="missing header"),
        pytest.param("Bearer wrong-secret-0123456789abcdef", id="wrong secret"),
        pytest.param(f"Basic {CRON_SECRET}", id="wrong scheme"),
        pytest.param(f"bearer {CRON_SECRET}", id="scheme in lowercase"),
        pytest.param(CRON_SECRET, id="no scheme"),
        pytest.param(f"Bearer  {CRON_SECRET}", id="extra whitespace"),
        pytest.param(f"Bearer {CRON_SECRET[:-1]}", id="prefix of the secret"),
        pytest.param(f"Bearer {CRON_SECRET}x", id="secret plus a character"),
        pytest.param("Bearer ", id="empty secret"),
    ],
)
@pytest.mark.parametrize("path", [CHECK_STALE, CLEANUP])
def test_a_request_without_the_exact_bearer_secret_is_refused_and_runs_nothing(
    api, fleet, path, authorization
):
    response = api.call(path, authorization=authorization)

    assert response.status == 401
    assert response.body == {"error": "unauthorized"}
    assert response.header("WWW-Authenticate").startswith("Bearer")
    assert fleet.runs() == []


def test_non_ascii_bytes_in_the_header_are_refused(api, fleet):
    request = (
        b"GET /api/cron/check-stale HTTP/1.1\r\nHost: x\r\n"
        b"Authorization: Bearer \xff\xfe" + CRON_SECRET.encode() + b"\r\n"
        b"Connection: close\r\n\r\n"
    )

    response = api.call_raw(request)

    assert response.status == 401
    assert fleet.runs() == []


def test_two_authorization_headers_are_refused(api, fleet):
    header = f"Authorization: Bearer {CRON_SECRET}\r\n".encode()
    request = (
        b"GET /api/cron/check-stale HTTP/1.1\r\nHost: x\r\n"
        + header * 2
        + (b"Connection: close\r\n\r\n")
    )

    assert api.call_raw(request).status == 401
    assert fleet.runs() == []


@pytest.mark.parametrize("configured", [None, ""], ids=["unset", "empty"])
def test_without_a_configured_secret_everyone_is_refused_and_the_log_says_why(
    api, fleet, monkeypatch, capfd, configured
):
    if configured is None:
        monkeypatch.delenv("CRON_SECRET")
    else:
        monkeypatch.setenv("CRON_SECRET", configured)

    for authorization in ("valid", "Bearer ", None):
        assert api.call(CHECK_STALE, authorization=authorization).status == 401

    assert "CRON_SECRET is not configured" in capfd.readouterr().out
    assert fleet.runs() == []


@pytest.mark.parametrize(
    "method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "PROPFIND"]
)
def test_methods_other_than_get_and_head_get_405_with_allow(api, fleet, method):
    response = api.call(CHECK_STALE, method=method)

    assert response.status == 405
    assert response.header("Allow") == "GET, HEAD"
    assert response.body == {"error": "method not allowed"}
    assert fleet.runs() == []


def test_head_with_the_secret_answers_200_and_runs_nothing(api, fleet):
    response = api.call(CHECK_STALE, method="HEAD")

    assert response.status == 200
    assert response.body is None
    assert fleet.runs() == []


def test_head_without_the_secret_is_refused(api):
    assert api.call(CHECK_STALE, method="HEAD", authorization=None).status == 401


@pytest.mark.parametrize(
    ("method", "authorization"),
    [("GET", "valid"), ("GET", None), ("HEAD", "valid"), ("POST", "valid")],
)
def test_every_response_is_json_and_never_cached(api, method, authorization):
    response = api.call(CHECK_STALE, method=method, authorization=authorization)

    assert response.header("Cache-Control") == "no-store"
    assert response.header("Content-Type") == "application/json"


def test_a_malformed_request_gets_a_json_error(api, fleet):
    oversized_header = b"X-Padding: " + b"x" * 70_000 + b"\r\n"
    response = api.call_raw(
        b"GET /api/cron/check-stale HTTP/1.1\r\nHost: x\r\n" + oversized_header + b"\r\n"
    )

    assert response.status == 431
    assert response.header("Cache-Control") == "no-store"
    assert "error" in response.body
    assert fleet.runs() == []


# -- the jobs -----------------------------------------------------------------------------------


@direct_and_pooled
def test_check_stale_marks_a_quiet_agent_offline_and_reports_the_run(api, fleet):
    quiet = fleet.online_agent("quiet", silent_for=QUIET)
    chatty = fleet.online_agent("chatty", silent_for=timedelta(minutes=1))

    response = api.call(CHECK_STALE)

    assert response.status == 200
    [run] = fleet.runs()
    assert response.body["job"] == "check-stale"
    assert (response.body["outcome"], response.body["rows_affected"]) == ("ok", 1)
    assert response.body["run_id"] == run["id"]
    assert response.body["duration_ms"] >= 0
    assert run["triggered_by"] == "vercel"
    assert (fleet.status(quiet), fleet.status(chatty)) == ("offline", "online")


@direct_and_pooled
def test_cleanup_deletes_expired_heartbeats_and_reports_no_backlog(api, fleet):
    agent = fleet.register("edge-1")
    fleet.heartbeat_series(agent, 30, oldest=timedelta(days=40))
    fleet.heartbeat_series(agent, 5, oldest=timedelta(days=1))

    response = api.call(CLEANUP)

    assert response.status == 200
    assert response.body["outcome"] == "ok"
    assert (response.body["rows_affected"], response.body["backlog"]) == (30, False)
    assert fleet.heartbeat_count() == 5
    assert fleet.runs()[0]["triggered_by"] == "vercel"


@direct_and_pooled
def test_a_run_skipped_because_another_holds_the_lock_is_a_200(api, fleet, connect):
    fleet.online_agent("quiet", silent_for=QUIET)
    other = connect(autocommit=False)
    other.execute("select fleet.run_check_stale('psql')")  # holds the lock, uncommitted

    response = api.call(CHECK_STALE)
    other.rollback()

    assert response.status == 200
    assert (response.body["outcome"], response.body["rows_affected"]) == ("skipped", 0)


@direct_and_pooled
def test_a_backlog_beyond_one_runs_budget_is_reported_and_finished_next_time(
    api, fleet, monkeypatch
):
    agent = fleet.register("edge-1")
    fleet.heartbeat_series(agent, 50, oldest=timedelta(days=40))
    fleet.configure(purge_batch_size=10)
    monkeypatch.setenv("FLEETCRON_PURGE_TIME_BUDGET_SECONDS", "0.000001")

    first = api.call(CLEANUP)
    monkeypatch.delenv("FLEETCRON_PURGE_TIME_BUDGET_SECONDS")
    second = api.call(CLEANUP)

    assert (first.body["rows_affected"], first.body["backlog"]) == (10, True)
    assert (second.body["rows_affected"], second.body["backlog"]) == (40, False)
    assert fleet.heartbeat_count() == 0
    assert [run["rows_affected"] for run in fleet.runs()] == [10, 40]


@direct_and_pooled
@pytest.mark.parametrize("callers", [2, 20])
def test_concurrent_calls_mark_each_stale_agent_offline_exactly_once(api, fleet, callers):
    agents = [fleet.online_agent(f"quiet-{n}", silent_for=QUIET) for n in range(30)]
    start = threading.Barrier(callers)

    def call(_):
        start.wait()
        return api.call(CHECK_STALE)

    with ThreadPoolExecutor(callers) as pool:
        responses = list(pool.map(call, range(callers)))

    assert all(response.status == 200 for response in responses)
    assert sum(response.body["rows_affected"] for response in responses) == 30
    assert all(
        response.body["outcome"] == "skipped" or response.body["rows_affected"] in (0, 30)
        for response in responses
    )
    stale_events = [e["agent_id"] for e in fleet.events() if e["reason"] == "stale"]
    assert sorted(stale_events) == sorted(agents)


def test_the_jobs_leave_no_session_setting_behind_on_a_pooled_connection(
    api, fleet, pg_server, monkeypatch
):
    """Behind a transaction-mode pooler the next client gets the same server connection, so
    whatever a job sets must end with its transaction. A pooler of its own holds exactly the one
    server connection both jobs ran on, and the next client is handed that one."""
    fleet.online_agent("quiet", silent_for=QUIET)
    with PgBouncer.start(pg_server, {CRON_LOGIN: ROLE_PASSWORD}) as bouncer:
        url = bouncer.url(TEST_DATABASE, user=CRON_LOGIN)
        monkeypatch.setenv("DATABASE_URL", url)
        assert api.call(CHECK_STALE).status == 200
        assert api.call(CLEANUP).status == 200

        with psycopg.connect(url, autocommit=True, prepare_threshold=None) as next_client:
            settings = next_client.execute(
                "select (select count(*) from pg_stat_activity where usename = current_user "
                "and datname = current_database()), current_setting('search_path'), "
                "current_setting('statement_timeout'), current_setting('lock_timeout'), "
                "current_setting('idle_in_transaction_session_timeout')"
            ).fetchone()

    assert settings == (1, '"$user", public', "0", "0", "0")


# -- failures -----------------------------------------------------------------------------------


@pytest.fixture
def blackhole():
    """A TCP port that accepts connections and never answers, like a dropped network path."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


def test_an_unreachable_database_is_a_503_within_the_connect_timeout(api, monkeypatch, blackhole):
    monkeypatch.setenv("DATABASE_URL", f"postgresql://fleet:pw@127.0.0.1:{blackhole}/fleet")
    monkeypatch.setenv("FLEETCRON_CONNECT_TIMEOUT_SECONDS", "2")
    started = time.monotonic()

    response = api.call(CHECK_STALE, timeout=10)

    assert time.monotonic() - started < 4
    assert response.status == 503
    assert response.body == {
        "job": "check-stale",
        "error": "database unavailable",
        "reason": "timeout",
    }


def test_a_refused_connection_is_a_503(api, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://fleet:pw@127.0.0.1:1/fleet")

    response = api.call(CLEANUP)

    assert (response.status, response.body["reason"]) == (503, "connection refused")


@direct_and_pooled
def test_a_job_that_fails_in_sql_is_a_500_with_its_sqlstate_message_and_run(api, fleet, db):
    fleet.online_agent("quiet", silent_for=QUIET)
    db.execute(
        "alter table fleet.agents add constraint never_offline "
        "check (status = 'online' or name <> 'quiet') not valid"
    )

    response = api.call(CHECK_STALE)

    [run] = fleet.runs()
    assert response.status == 500
    assert response.body["sqlstate"] == "23514"
    assert "never_offline" in response.body["message"]
    assert (response.body["error"], response.body["run_id"]) == ("job failed", run["id"])
    assert run["outcome"] == "error"


@pytest.mark.parametrize("job", [CHECK_STALE, CLEANUP])
def test_a_database_without_the_schema_is_a_500_that_says_to_upgrade(
    api, monkeypatch, empty_database, capfd, job
):
    monkeypatch.setenv("DATABASE_URL", empty_database)

    response = api.call(job)

    assert response.status == 500
    assert response.body["error"] == "this database has no fleetcron schema"
    assert response.body["hint"].startswith("run: fleetcron db upgrade")
    assert "fleetcron db upgrade" in capfd.readouterr().out


def test_a_schema_older_than_the_code_is_a_500_that_says_to_upgrade(api, db):
    db.execute("drop function fleet.mark_stale_agents(text, integer)")
    db.execute("drop function fleet.run_check_stale(text, integer)")

    response = api.call(CHECK_STALE)

    assert response.status == 500
    assert response.body == {
        "job": "check-stale",
        "error": "this database's fleetcron schema is out of date",
        "hint": "run: fleetcron db upgrade (as the schema owner, on a direct connection)",
        "sqlstate": "42883",
    }


def test_an_unexpected_failure_is_a_json_500_without_a_traceback(api, monkeypatch, capfd):
    monkeypatch.setattr("deployer.runtime.jobs.run", lambda *args, **kwargs: 1 / 0)

    response = api.call(CHECK_STALE)

    assert response.status == 500
    assert response.body == {
        "job": "check-stale",
        "error": "internal error",
        "type": "ZeroDivisionError",
    }
    assert "Traceback" not in capfd.readouterr().err


def test_an_absurd_purge_budget_falls_back_to_the_default(api, fleet, monkeypatch):
    monkeypatch.setenv("FLEETCRON_PURGE_TIME_BUDGET_SECONDS", "1e20")

    response = api.call(CLEANUP)

    assert (response.status, response.body["outcome"]) == (200, "ok")
    assert fleet.runs()[0]["detail"]["time_budget"] == "00:04:00"


def test_without_a_database_url_the_endpoint_says_so(api, monkeypatch):
    monkeypatch.delenv("DATABASE_URL")

    response = api.call(CHECK_STALE)

    assert response.status == 500
    assert "set DATABASE_URL or POSTGRES_URL" in response.body["error"]


@direct_and_pooled
def test_postgres_url_from_the_supabase_integration_is_used_with_its_extra_parameters(
    api, fleet, monkeypatch, cron_database_url
):
    monkeypatch.delenv("DATABASE_URL")
    supabase_style = cron_database_url.replace("postgresql://", "postgres://", 1)
    monkeypatch.setenv("POSTGRES_URL", f"{supabase_style}?sslmode=disable&supa=base-pooler.x")
    quiet = fleet.online_agent("quiet", silent_for=QUIET)

    response = api.call(CHECK_STALE)

    assert response.status == 200
    assert fleet.status(quiet) == "offline"


@direct_and_pooled
def test_no_response_or_log_line_carries_the_secret_or_the_database_url(
    api, fleet, monkeypatch, capfd, cron_database_url
):
    password = "fleet-test-password"
    fleet.online_agent("quiet", silent_for=QUIET)
    bodies = [
        api.call(CHECK_STALE).body,
        api.call(CLEANUP).body,
        api.call(CHECK_STALE, authorization="Bearer nope").body,
    ]
    monkeypatch.setenv("DATABASE_URL", re.sub(r":\d+/", ":1/", cron_database_url))
    bodies.append(api.call(CHECK_STALE).body)
    monkeypatch.setenv("DATABASE_URL", "http://user:" + password + "@nowhere")
    bodies.append(api.call(CHECK_STALE).body)

    captured = capfd.readouterr()
    everything = repr(bodies) + captured.out + captured.err
    assert CRON_SECRET not in everything
    assert password not in everything
    assert cron_database_url not in everything
    assert "@nowhere" not in everything
    assert "Traceback" not in everything


@direct_and_pooled
def test_each_request_writes_one_json_log_line(api, fleet, capfd):
    api.call(CHECK_STALE)
    api.call(CHECK_STALE, authorization=None)

    lines = [json.loads(line) for line in capfd.readouterr().out.splitlines()]
    assert [(line["event"], line["status"]) for line in lines] == [
        ("cron.run", 200),
        ("cron.unauthorized", 401),
    ]
    assert lines[0]["run_id"] == fleet.runs()[0]["id"]


def test_the_secret_is_compared_in_constant_time():
    """A timing side channel cannot be observed reliably in a test, so this reads the code:
    the Authorization header reaches the secret only through hmac.compare_digest."""
    source = inspect.getsource(endpoint._bearer_matches)
    tree = ast.parse(textwrap.dedent(source))

    calls = {ast.unparse(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    comparisons = [node for node in ast.walk(tree) if isinstance(node, ast.Compare)]
    assert "hmac.compare_digest" in calls
    assert all(
        "secret" not in ast.unparse(node) and "given" not in ast.unparse(node)
        for node in comparisons
    )


def test_a_port_out_of_range_is_called_that_not_a_missing_number(api, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://fleet:pw@127.0.0.1:99999/fleet")

    response = api.call(CHECK_STALE)

    assert response.status == 500
    assert response.body["error"] == (
        "the database URL's port 99999 is out of range: ports go up to 65535"
    )
