"""The endpoints when the path to the database breaks mid-job: a killed backend, a killed or a
frozen pooler. Each answers JSON within the job's deadline, says why, and leaves a trace.

A trigger that sleeps while check-stale updates an agent holds the job in the database long
enough to break something under it. Pooler tests use a PgBouncer of their own, so killing or
freezing it touches no other test.
"""

import os
import signal
import threading
import time
from datetime import timedelta

import pytest

from deployer.runtime import jobs
from tests.conftest import CRON_LOGIN, CRON_SECRET, ROLE_PASSWORD, TEST_DATABASE
from tests.pgbouncer import PgBouncer

CHECK_STALE = "/api/cron/check-stale"
QUIET = timedelta(minutes=6)
SLEEP_SECONDS = 3


@pytest.fixture
def slow_check(fleet, db):
    """check-stale will have one agent to mark, and spend SLEEP_SECONDS doing it."""
    fleet.online_agent("quiet", silent_for=QUIET)
    db.execute(
        "create function public.slow_down() returns trigger language plpgsql "
        f"as $$ begin perform pg_sleep({SLEEP_SECONDS}); return new; end $$"
    )
    db.execute(
        "create trigger slow_down before update on fleet.agents "
        "for each row execute function public.slow_down()"
    )
    return fleet


@pytest.fixture
def own_pgbouncer(pg_server, fleet_template):
    bouncer = PgBouncer.start(pg_server, {CRON_LOGIN: ROLE_PASSWORD})
    yield bouncer
    if bouncer.process.poll() is None:
        os.kill(bouncer.process.pid, signal.SIGCONT)
    bouncer.stop()


def call_in_background(api, path):
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("response", api.call(path)))
    thread.start()
    return thread, result


def wait_for_job_backend(db, timeout=10.0) -> int:
    """The backend running the job for the endpoint, once it is busy in the database."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = db.execute(
            "select pid from pg_stat_activity where application_name = 'fleetcron-vercel' "
            "and state = 'active' and query like '%run_check_stale%'"
        ).fetchone()
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError("the job never reached the database")


def test_a_blank_cron_secret_counts_as_not_configured(api, fleet, monkeypatch, capfd):
    monkeypatch.setenv("CRON_SECRET", "   ")

    response = api.call(CHECK_STALE, authorization="Bearer    ")

    assert response.status == 401
    assert "CRON_SECRET is not configured" in capfd.readouterr().out
    assert fleet.runs() == []


def test_a_backend_killed_mid_job_is_a_503_and_the_run_is_recorded(api, slow_check, db):
    thread, result = call_in_background(api, CHECK_STALE)
    pid = wait_for_job_backend(db)

    db.execute("select pg_terminate_backend(%s)", (pid,))
    thread.join(30)

    response = result["response"]
    assert response.status == 503
    assert response.body["reason"] == "connection lost"
    [run] = slow_check.runs()
    assert (run["outcome"], run["triggered_by"], run["detail"]["recorded_by"]) == (
        "error",
        "vercel",
        "client",
    )


def test_a_pooler_killed_mid_job_is_a_503_not_a_500(
    api, slow_check, db, own_pgbouncer, monkeypatch
):
    monkeypatch.setenv(
        "DATABASE_URL", own_pgbouncer.url(TEST_DATABASE, user=CRON_LOGIN, password=ROLE_PASSWORD)
    )
    thread, result = call_in_background(api, CHECK_STALE)
    wait_for_job_backend(db)

    own_pgbouncer.process.kill()
    thread.join(30)

    response = result["response"]
    assert (response.status, response.body["error"]) == (503, "database unavailable")
    assert response.body["reason"] == "connection lost"


def test_a_frozen_pooler_gets_an_answer_by_the_deadline_and_the_server_lets_go(
    api, slow_check, db, own_pgbouncer, monkeypatch
):
    monkeypatch.setenv(
        "DATABASE_URL", own_pgbouncer.url(TEST_DATABASE, user=CRON_LOGIN, password=ROLE_PASSWORD)
    )
    monkeypatch.setattr(jobs, "CHECK_STALE_DEADLINE_SECONDS", 2)
    thread, result = call_in_background(api, CHECK_STALE)
    pid = wait_for_job_backend(db)
    started = time.monotonic()

    os.kill(own_pgbouncer.process.pid, signal.SIGSTOP)
    thread.join(30)
    answered_after = time.monotonic() - started

    response = result["response"]
    assert response.status == 503
    assert response.body["reason"] == "no answer within 2 s"
    assert answered_after < 2 + 2 * jobs.CANCEL_GRACE_SECONDS + 3
    # The server's side of the frozen connection, idle in its transaction, is ended by the
    # job's idle_in_transaction_session_timeout: its row locks do not outlive it.
    deadline = time.monotonic() + jobs.CHECK_STALE_IDLE_TIMEOUT_SECONDS + SLEEP_SECONDS + 5
    while db.execute("select count(*) from pg_stat_activity where pid = %s", (pid,)).fetchone()[0]:
        assert time.monotonic() < deadline, "the job's backend outlived its timeouts"
        time.sleep(0.2)
    assert slow_check.status(slow_check.value("select id from fleet.agents")) == "online"


@pytest.mark.parametrize("budget_seconds", [60, 240, 600])
def test_the_cleanup_deadline_moves_with_the_purge_budget(budget_seconds):
    budget = timedelta(seconds=budget_seconds)

    deadline = jobs.deadline_for(jobs.CLEANUP_HEARTBEATS, budget)

    assert deadline == budget_seconds + jobs.CLEANUP_DEADLINE_MARGIN_SECONDS
    assert jobs.seconds_a_run_may_take(jobs.CLEANUP_HEARTBEATS, budget) > deadline


def test_the_default_budget_and_everything_after_its_deadline_fit_in_the_functions_300_s():
    assert jobs.seconds_a_run_may_take(jobs.CLEANUP_HEARTBEATS) <= 300
    assert jobs.seconds_a_run_may_take(jobs.CHECK_STALE) <= 60


def test_a_refused_setting_is_not_reported_as_a_timeout(api, cron_database_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"{cron_database_url}?options=-c%20statement_timeout%3Dsoon")

    response = api.call(CHECK_STALE)

    assert response.status == 503
    assert response.body["reason"] == "server refused the connection"


def test_a_wrong_password_is_reported_as_such(api, pg_server, monkeypatch, fleet_template):
    monkeypatch.setenv(
        "DATABASE_URL", pg_server.url(TEST_DATABASE, user=CRON_LOGIN, password="wrong-password")
    )

    response = api.call(CHECK_STALE)

    assert (response.status, response.body["reason"]) == (503, "authentication failed")


def test_the_cron_schedule_vercel_sends_is_logged(api, fleet, capfd):
    response = api.call_raw(
        b"GET /api/cron/check-stale HTTP/1.1\r\nHost: x\r\n"
        + f"Authorization: Bearer {CRON_SECRET}\r\n".encode()
        + b"x-vercel-cron-schedule: */5 * * * *\r\nConnection: close\r\n\r\n"
    )

    assert response.status == 200
    assert '"cron_schedule": "*/5 * * * *"' in capfd.readouterr().out


def test_without_psycopg_errors_leaking_the_connection_string(api, monkeypatch, capfd):
    monkeypatch.setenv("DATABASE_URL", "postgresql://fleet:s3cret-pass@127.0.0.1:1/fleet")

    response = api.call(CHECK_STALE)

    assert response.status == 503
    assert "s3cret-pass" not in repr(response.body) + capfd.readouterr().out


def test_check_stale_runs_under_its_statement_timeout(api, slow_check, monkeypatch):
    monkeypatch.setattr(jobs, "CHECK_STALE_STATEMENT_TIMEOUT_SECONDS", 1)

    response = api.call(CHECK_STALE)

    [run] = slow_check.runs()
    assert (response.status, response.body["sqlstate"]) == (500, "57014")
    assert (run["outcome"], run["rows_affected"]) == ("error", 0)


def test_check_stale_runs_with_a_45_second_statement_timeout_and_a_10_second_idle_timeout(
    api, fleet, db
):
    fleet.online_agent("quiet", silent_for=QUIET)
    db.execute("create table public.seen (statement_timeout text, idle_timeout text)")
    db.execute(
        "create function public.see_timeouts() returns trigger language plpgsql as $$ begin "
        "insert into public.seen values (current_setting('statement_timeout'), "
        "current_setting('idle_in_transaction_session_timeout')); return new; end $$"
    )
    db.execute(
        "create trigger see_timeouts before update on fleet.agents "
        "for each row execute function public.see_timeouts()"
    )

    response = api.call(CHECK_STALE)

    assert response.status == 200
    assert db.execute("select * from public.seen").fetchall() == [("45s", "10s")]
