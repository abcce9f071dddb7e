"""check-stale under concurrency: overlapping runs, and heartbeats racing a run."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

QUIET = timedelta(minutes=6)


def wait_until_blocked(observer, pid, timeout=10.0):
    """Wait until backend ``pid`` is waiting for a lock held by another session."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        waiting = observer.execute(
            "select wait_event_type = 'Lock' from pg_stat_activity where pid = %s", (pid,)
        ).fetchone()
        if waiting and waiting[0]:
            return
        time.sleep(0.02)
    raise AssertionError(f"backend {pid} never blocked on a lock")


def in_background(function, *args):
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("value", function(*args)))
    thread.start()
    return thread, result


def test_two_sessions_running_at_once_mark_each_agent_offline_exactly_once(fleet, connect):
    agents = [fleet.online_agent(f"quiet-{n}", silent_for=QUIET) for n in range(20)]
    sessions = [connect() for _ in range(2)]
    barrier = threading.Barrier(2)

    def run(conn):
        barrier.wait()
        return conn.execute("select outcome, rows_affected from fleet.run_check_stale()").fetchone()

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(run, sessions))

    assert sum(marked for _, marked in results) == 20
    assert sorted(outcome for outcome, _ in results) in (["ok", "ok"], ["ok", "skipped"])
    stale_events = [e for e in fleet.events() if e["reason"] == "stale"]
    assert sorted(e["agent_id"] for e in stale_events) == sorted(agents)


def test_a_heartbeat_that_commits_first_keeps_its_agent_online(fleet, connect):
    agent_id = fleet.online_agent("racer", silent_for=QUIET)
    heartbeat = connect(autocommit=False)
    checker = connect()
    observer = connect()
    heartbeat.execute("select fleet.record_heartbeat(%s)", (agent_id,))  # row locked, uncommitted

    thread, result = in_background(
        lambda: checker.execute("select agent_name from fleet.mark_stale_agents()").fetchall()
    )
    wait_until_blocked(observer, checker.info.backend_pid)
    heartbeat.commit()
    thread.join(10)

    assert result["value"] == []
    assert fleet.status(agent_id) == "online"
    assert [e["reason"] for e in fleet.events(agent_id)] == ["heartbeat"]


def test_a_heartbeat_that_commits_after_the_check_brings_its_agent_back(fleet, connect):
    agent_id = fleet.online_agent("racer", silent_for=QUIET)
    checker = connect(autocommit=False)
    heartbeat = connect()
    observer = connect()
    checker.execute("select fleet.run_check_stale()")  # marked offline, uncommitted

    thread, _ = in_background(
        lambda: heartbeat.execute("select fleet.record_heartbeat(%s)", (agent_id,))
    )
    wait_until_blocked(observer, heartbeat.info.backend_pid)
    checker.commit()
    thread.join(10)

    assert fleet.status(agent_id) == "online"
    transitions = [(e["to_status"], e["reason"]) for e in fleet.events(agent_id)]
    assert transitions == [("online", "heartbeat"), ("offline", "stale"), ("online", "heartbeat")]
