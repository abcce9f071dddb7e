"""Nobody outside fleetcron can stop a job, and no job waits for anything without bound.

0001 serialized runs with advisory locks whose keys any login could take: check-stale then
answered "skipped" forever and cleanup waited without a timeout. The jobs now hold rows of
fleet.job_locks, which only the SECURITY DEFINER routines can lock.
"""

import threading
import time
from datetime import timedelta

import pytest

from tests.conftest import NOBODY_LOGIN

EXPIRED = timedelta(days=40)
QUIET = timedelta(minutes=6)
# 0001's keys: 1718379877 is 'flee' in ASCII; 1 was check-stale, 2 cleanup-heartbeats.
OLD_LOCK_KEYS = [(1718379877, 1), (1718379877, 2)]


@pytest.fixture
def squatter(connect):
    """A login with CONNECT and no grant at all, holding every lock it can think of."""
    nobody = connect(NOBODY_LOGIN, autocommit=False)
    for key in OLD_LOCK_KEYS:
        nobody.execute("select pg_advisory_lock(%s, %s)", key)
        nobody.execute("select pg_advisory_xact_lock(%s, %s)", key)
    yield nobody
    nobody.rollback()


def test_a_login_without_grants_cannot_stop_check_stale(fleet, db, squatter):
    agent = fleet.online_agent("quiet", silent_for=QUIET)

    outcome = db.execute("select outcome from fleet.run_check_stale()").fetchone()[0]

    assert outcome == "ok"
    assert fleet.status(agent) == "offline"


def test_a_login_without_grants_cannot_stop_or_stall_the_cleanup(fleet, connect, squatter):
    fleet.heartbeat_series(fleet.register("edge-1"), 30, oldest=EXPIRED)
    purger = connect(statement_timeout="20s")
    started = time.monotonic()

    report = purger.execute("call fleet.purge_old_heartbeats_all(batch => 10)").fetchone()

    assert time.monotonic() - started < 10
    assert report[1:3] == ("ok", 30)


def test_a_login_without_grants_cannot_lock_the_job_rows(connect):
    nobody = connect(NOBODY_LOGIN)

    with pytest.raises(Exception, match="permission denied"):
        nobody.execute("select from fleet.job_locks for update")


def test_check_stale_does_not_wait_for_a_run_holding_the_job(fleet, connect):
    fleet.online_agent("quiet", silent_for=QUIET)
    holder = connect(autocommit=False)
    holder.execute("select from fleet.job_locks where job = 'check-stale' for update")
    checker = connect(lock_timeout="0", statement_timeout="0")
    started = time.monotonic()

    run = checker.execute("select outcome, detail from fleet.run_check_stale()").fetchone()

    holder.rollback()
    assert time.monotonic() - started < 2
    assert run == ("skipped", {"reason": "another check-stale run is in progress"})


def test_a_cleanup_claim_waits_a_few_seconds_at_most_and_says_why_it_did_not_start(fleet, connect):
    fleet.heartbeat_series(fleet.register("edge-1"), 3, oldest=EXPIRED)
    holder = connect(autocommit=False)
    holder.execute("select from fleet.job_locks where job = 'cleanup-heartbeats' for update")
    purger = connect(lock_timeout="0", statement_timeout="0")
    started = time.monotonic()

    report = purger.execute("call fleet.purge_old_heartbeats_all()").fetchone()

    holder.rollback()
    assert time.monotonic() - started < 8
    assert report[1:3] == ("skipped", 0)
    assert fleet.runs()[0]["detail"]["reason"] == "another cleanup-heartbeats run was starting"
    assert fleet.heartbeat_count() == 3


def test_a_held_heartbeat_row_lock_cannot_stall_the_purge_past_its_lock_timeout(fleet, connect):
    fleet.heartbeat_series(fleet.register("edge-1"), 30, oldest=EXPIRED)
    blocker = connect(autocommit=False)
    blocker.execute(
        "select 1 from fleet.heartbeats where id = "
        "(select id from fleet.heartbeats order by created_at, id offset 14 limit 1) for update"
    )
    purger = connect(lock_timeout="300ms")
    failure = {}

    def purge():
        try:
            purger.execute("call fleet.purge_old_heartbeats_all(batch => 10)")
        except Exception as error:
            failure["sqlstate"] = getattr(error, "sqlstate", None)

    thread = threading.Thread(target=purge)
    thread.start()
    thread.join(15)
    blocker.rollback()

    assert not thread.is_alive()
    assert failure == {"sqlstate": "55P03"}
    assert fleet.runs()[0]["outcome"] == "error"
