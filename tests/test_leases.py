"""A cleanup run's lease ends with the statement that holds it, and only progress renews it.

The run's row in fleet.job_runs is its lease. 0001 kept a lease alive while the backend
existed, so a cancel that landed where the procedure could not record it left the run
'running' and every run for the next five minutes 'skipped'; and any fleet_cron member could
renew a lease forever with zero-row batches.
"""

import contextlib
import random
import threading
import time
from datetime import timedelta

import pytest
from psycopg import errors

from tests.conftest import CRON_LOGIN

EXPIRED = timedelta(days=40)


@pytest.fixture
def agent(fleet):
    return fleet.register("edge-1")


def claim(conn, **arguments):
    """Open a run the way the procedure does, and publish it."""
    names = ", ".join(f"{name} => %({name})s" for name in arguments)
    run_id, outcome, token, _ = conn.execute(
        f"select * from fleet.claim_purge_run({names})",  # noqa: S608 - names are ours
        arguments,
    ).fetchone()
    if not conn.autocommit:
        conn.commit()
    return run_id, outcome, token


def step(conn, run_id, token):
    return conn.execute(
        "select action, deleted, backlog from fleet.purge_run_batch(%s, %s)", (run_id, token)
    ).fetchone()


def test_a_run_whose_statement_ended_is_retired_at_once_by_the_next(fleet, connect, agent):
    fleet.heartbeat_series(agent, 3, oldest=EXPIRED)
    caller = connect(autocommit=False)
    run_id, outcome, _ = claim(caller)  # the claiming statement is over; the session lives on

    report = connect().execute("call fleet.purge_old_heartbeats_all()").fetchone()

    dead = fleet.runs()[0]
    assert (outcome, dead["id"]) == ("running", run_id)
    assert (dead["outcome"], dead["detail"]["error"]) == (
        "error",
        "abandoned: its statement ended before it finished (cancelled)",
    )
    assert report[1:3] == ("ok", 3)


def test_a_run_whose_call_ended_while_its_session_sits_idle_is_retired_by_the_next(
    fleet, connect, agent
):
    fleet.heartbeat_series(agent, 3, oldest=EXPIRED)
    caller = connect()
    run_id, outcome, _ = claim(caller)  # its last statement; the session sits idle after it

    report = connect().execute("call fleet.purge_old_heartbeats_all()").fetchone()

    dead = fleet.runs()[0]
    assert (outcome, dead["id"]) == ("running", run_id)
    assert (dead["outcome"], dead["detail"]["error"]) == (
        "error",
        "abandoned: its statement ended before it finished (cancelled)",
    )
    assert report[1:3] == ("ok", 3)


def test_a_session_whose_run_was_cancelled_can_run_again_at_once(fleet, connect, agent):
    fleet.heartbeat_series(agent, 3, oldest=EXPIRED)
    session = connect()
    claim(session)

    report = session.execute("call fleet.purge_old_heartbeats_all()").fetchone()

    assert report[1:3] == ("ok", 3)


def test_no_random_cancel_leaves_a_live_lease_behind(fleet, connect, agent):
    fleet.heartbeat_series(agent, 20_000, oldest=EXPIRED, spacing=timedelta(milliseconds=1))
    purger, checker = connect(), connect()
    rng = random.Random(7)

    for _ in range(15):
        thread = threading.Thread(
            target=lambda: _swallow(
                lambda: purger.execute("call fleet.purge_old_heartbeats_all(batch => 200)")
            )
        )
        thread.start()
        time.sleep(rng.uniform(0, 0.06))
        purger.cancel_safe()
        thread.join(10)

        report = checker.execute(
            "call fleet.purge_old_heartbeats_all(batch => 200, time_budget => '1 microsecond')"
        ).fetchone()
        assert report[2] != "skipped", fleet.runs()[-2:]
    assert not [run for run in fleet.runs() if run["outcome"] == "running"]


def _swallow(call):
    with contextlib.suppress(errors.QueryCanceled):
        call()


def test_a_step_without_progress_does_not_renew_the_lease(fleet, connect):
    cron = connect(CRON_LOGIN, autocommit=False)
    run_id, _, token = claim(cron, time_budget=timedelta(days=1))
    first_deadline = fleet.runs()[0]["deadline"]

    for _ in range(3):
        assert step(cron, run_id, token) == ("done", 0, False)
        cron.commit()

    assert fleet.runs()[0]["deadline"] == first_deadline


def test_a_step_with_progress_renews_the_lease_but_never_past_the_budget(fleet, connect, agent):
    fleet.heartbeat_series(agent, 30, oldest=EXPIRED)
    cron = connect(CRON_LOGIN, autocommit=False)
    run_id, _, token = claim(cron, batch=10, time_budget=timedelta(seconds=30))
    first_deadline = fleet.runs()[0]["deadline"]

    step(cron, run_id, token)
    cron.commit()

    [run] = fleet.runs()
    assert run["deadline"] > first_deadline
    assert run["deadline"] <= run["started_at"] + timedelta(seconds=30) + timedelta(minutes=5)


def test_progress_never_renews_the_lease_past_the_budget_and_one_lease(fleet, connect, agent):
    fleet.heartbeat_series(agent, 30, oldest=EXPIRED)
    cron = connect(CRON_LOGIN, autocommit=False)
    run_id, _, token = claim(cron, batch=10, time_budget=timedelta(microseconds=1))

    assert step(cron, run_id, token) == ("deleted", 10, True)
    cron.commit()

    [run] = fleet.runs()
    assert run["deadline"] == run["started_at"] + timedelta(microseconds=1) + timedelta(minutes=5)


def test_a_run_whose_budget_is_spent_may_not_take_another_step(fleet, connect, agent):
    fleet.heartbeat_series(agent, 30, oldest=EXPIRED)
    cron = connect(CRON_LOGIN, autocommit=False)
    run_id, _, token = claim(cron, batch=10, time_budget=timedelta(microseconds=1))
    assert step(cron, run_id, token) == ("deleted", 10, True)
    cron.commit()

    with pytest.raises(errors.ObjectNotInPrerequisiteState, match="spent its time budget"):
        step(cron, run_id, token)

    cron.rollback()
    assert fleet.heartbeat_count() == 20


def test_the_run_carries_its_cursor_and_leaves_rows_arriving_behind_it(fleet, db, agent):
    fleet.heartbeat_series(agent, 30, oldest=EXPIRED)
    run_id, _, token = claim(db, batch=10)
    step(db, run_id, token)
    fleet.old_heartbeats(agent, EXPIRED + timedelta(days=1))  # behind the cursor

    step(db, run_id, token)
    step(db, run_id, token)

    [run] = fleet.runs()
    assert run["rows_affected"] == 30
    [left] = fleet.heartbeat_ages()
    assert left > EXPIRED + timedelta(hours=23)  # the row behind the cursor, not the youngest
