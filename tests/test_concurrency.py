"""check-stale under concurrency: overlapping runs, and heartbeats racing a run."""

import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import psycopg
import pytest
from psycopg import errors

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


def test_a_heartbeat_in_flight_keeps_its_agent_online_without_making_the_check_wait(fleet, connect):
    agent_id = fleet.online_agent("racer", silent_for=QUIET)
    heartbeat = connect(autocommit=False)
    checker = connect(lock_timeout="1s")
    heartbeat.execute("select fleet.record_heartbeat(%s)", (agent_id,))  # row locked, uncommitted

    marked = checker.execute("select agent_name from fleet.mark_stale_agents()").fetchall()
    heartbeat.commit()

    assert marked == []
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


def test_bulk_heartbeats_and_the_stale_check_never_deadlock(fleet, connect):
    agents = [fleet.online_agent(f"agent-{n:03}", silent_for=QUIET) for n in range(60)]
    stop = time.monotonic() + 3
    failures = []

    def heartbeats(seed):
        conn, rng = connect(), random.Random(seed)
        while time.monotonic() < stop:
            chosen = rng.sample(agents, 20)  # a different order every statement
            try:
                conn.execute(
                    "insert into fleet.heartbeats (agent_id) select unnest(%s::uuid[])", (chosen,)
                )
                # Let one agent go quiet again, so every stale check has work to do.
                conn.execute(
                    "update fleet.agents set last_heartbeat = now() - interval '6 minutes' "
                    "where id = %s",
                    (rng.choice(agents),),
                )
            except psycopg.Error as error:
                failures.append(error)

    def stale_checks():
        conn = connect()
        while time.monotonic() < stop:
            try:
                conn.execute("select fleet.run_check_stale()")
            except psycopg.Error as error:
                failures.append(error)

    workers = [threading.Thread(target=heartbeats, args=(n,)) for n in range(4)]
    workers += [threading.Thread(target=stale_checks) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)

    assert failures == []
    assert len([run for run in fleet.runs() if run["outcome"] == "ok"]) > 1


def test_check_stale_refuses_to_run_under_repeatable_read(fleet, connect):
    agent_id = fleet.online_agent("quiet", silent_for=QUIET)
    strict = connect(default_transaction_isolation="repeatable read")

    with pytest.raises(errors.InvalidTransactionState, match="READ COMMITTED, not REPEATABLE"):
        strict.execute("select fleet.run_check_stale()")

    assert fleet.status(agent_id) == "online"
    assert fleet.runs() == []


def test_check_stale_takes_its_agents_in_id_order_the_order_heartbeats_lock_them_in(fleet, db):
    """SKIP LOCKED still waits when it follows a row's update chain to a heartbeat in flight,
    so check-stale must lock in the heartbeat trigger's order or the two can deadlock. With a
    batch of one, the agent it takes shows the order: the lowest id, though stored last."""
    ids = sorted(uuid.uuid4() for _ in range(3))
    for agent_id in reversed(ids):  # stored highest id first
        db.execute(
            "insert into fleet.agents (id, name, status, last_heartbeat) "
            "values (%s, %s, 'online', now() - interval '6 minutes')",
            (agent_id, f"agent-{agent_id}"),
        )

    db.execute("select fleet.run_check_stale(batch => 1)")

    assert [fleet.status(agent_id) for agent_id in ids] == ["offline", "online", "online"]


def test_a_heartbeat_for_an_agent_being_marked_never_deadlocks_when_a_partition_is_due(
    fleet, db, connect
):
    """Heartbeat writers lock fleet.heartbeats (the INSERT), then their agent (the trigger's
    UPDATE). A check-stale run that makes a due partition (a lock on fleet.heartbeats) must take
    it before it locks any agent, or the two wait for each other. The writer's deadlock check
    fires first here, so a deadlock would kill the heartbeat, not the run's partition upkeep."""
    quiet = fleet.online_agent("quiet", silent_for=QUIET)
    other = fleet.register("other")
    last = db.execute(
        "select partition::text from fleet.heartbeat_partitions('fleet.heartbeats') "
        "order by upper_bound desc nulls last limit 1"
    ).fetchone()[0]
    db.execute(f"drop table {last}")  # a partition is due
    writer = connect(autocommit=False, deadlock_timeout="100ms")
    checker = connect(deadlock_timeout="10s")
    observer = connect()
    writer.execute("insert into fleet.heartbeats (agent_id) values (%s)", (other,))

    thread, result = in_background(
        lambda: checker.execute("select outcome, detail from fleet.run_check_stale()").fetchone()
    )
    wait_until_blocked(observer, checker.info.backend_pid)
    writer.execute("insert into fleet.heartbeats (agent_id) values (%s)", (quiet,))
    writer.commit()
    thread.join(10)

    outcome, detail = result["value"]
    assert outcome == "ok"
    assert detail["partitions"]["created"] == [last.removeprefix("fleet.")]
    assert fleet.status(quiet) == "online"
