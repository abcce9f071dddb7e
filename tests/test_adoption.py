"""Bring your own tables (issue 8): fleetcron's jobs on the application's agents and heartbeats.

Every test builds the app's own tables (tests/app_tables.py) and registers them with one
fleet.adopt call. The three shapes of the issue run through the same tests: uuid ids with a text
status and last_seen; bigint ids with an enum status active/inactive and a per-agent threshold;
a boolean is_online with timestamp without time zone columns declared UTC (and, where zones
matter, the same columns holding Asia/Kathmandu wall-clock time).

The tests of this module share one migrated database, put back to its migrated state before
each test and checked to be so (app_tables.reset): cloning a database per test, as conftest's
``db`` does, costs about a second, and this module has well over a hundred tests. Its ``db``,
``db_url``, ``connect`` and ``cron_database_url`` fixtures therefore replace conftest's, with the
same meaning; ``fleet`` and ``api`` build on them unchanged.
"""

from __future__ import annotations

import json
import math
import random
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import errors, sql
from psycopg.rows import dict_row

from deployer import migrate
from deployer.localpg import DEFAULT_DATABASE
from tests.app_tables import (
    BIGINT_ENUM,
    BOOLEAN_LOCAL_TIME,
    HOSTILE,
    PARTITIONED_SHAPES,
    SHAPES,
    TOUCHED_SHAPES,
    UUID_TEXT,
    ZONED_SHAPES,
    App,
    Shape,
    baseline,
    reset,
)
from tests.conftest import CRON_LOGIN, ROLE_PASSWORD
from tests.fleet import Fleet
from tests.test_concurrency import in_background, wait_until_blocked
from tests.test_search_path import HOSTILE_PATH, PLANTED

QUIET = timedelta(minutes=6)  # past the default threshold of 5 minutes
FRESH = timedelta(minutes=4)
RETENTION = timedelta(days=30)
# A role that owns none of fleetcron, for tables given to someone else.
APP_OWNER = "fleet_test_app_owner"


def days(n: float) -> timedelta:
    return timedelta(days=n)


ADOPTION_DATABASE = "fleet_adoption"


@pytest.fixture(scope="module")
def adoption_database(pg_server, fleet_template):
    """One migrated database for the module (a copy of conftest's migrated template)."""
    with psycopg.connect(pg_server.url("postgres"), autocommit=True) as admin:
        admin.execute(
            sql.SQL("drop database if exists {} with (force)").format(
                sql.Identifier(ADOPTION_DATABASE)
            )
        )
        admin.execute(
            sql.SQL("create database {} template {}").format(
                sql.Identifier(ADOPTION_DATABASE),
                sql.Identifier(fleet_template.template_dbname),
            )
        )
    with psycopg.connect(pg_server.url(ADOPTION_DATABASE), autocommit=True) as conn:
        pristine = baseline(conn)
    yield pristine
    with psycopg.connect(pg_server.url("postgres"), autocommit=True) as admin:
        admin.execute(
            sql.SQL("drop database {} with (force)").format(sql.Identifier(ADOPTION_DATABASE))
        )


@pytest.fixture
def db_url(pg_server, adoption_database) -> str:
    return pg_server.url(ADOPTION_DATABASE)


@pytest.fixture
def db(db_url, adoption_database) -> Iterator[psycopg.Connection]:
    """A connection, as the database owner (a superuser), to the module's database as migrated."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        reset(conn, adoption_database)
        yield conn


@pytest.fixture
def connect(pg_server, db) -> Iterator:
    """More connections to the module's database, optionally as another role; closed after."""
    opened: list[psycopg.Connection] = []

    def open_connection(
        user: str | None = None, *, autocommit: bool = True, **settings: str
    ) -> psycopg.Connection:
        url = pg_server.url(ADOPTION_DATABASE, user=user, password=ROLE_PASSWORD if user else None)
        conn = psycopg.connect(url, autocommit=autocommit)
        for name, value in settings.items():
            conn.execute("select set_config(%s, %s, false)", (name, value))
        opened.append(conn)
        return conn

    yield open_connection
    for conn in opened:
        conn.close()


@pytest.fixture
def cron_database_url(connection_path, pg_server, db, request) -> str:
    """What Vercel holds: a login with nothing but fleet_cron, direct or through the pooler."""
    if connection_path == "direct":
        return pg_server.url(ADOPTION_DATABASE, user=CRON_LOGIN, password=ROLE_PASSWORD)
    bouncer = request.getfixturevalue("pgbouncer")
    return bouncer.url(ADOPTION_DATABASE, user=CRON_LOGIN, password=ROLE_PASSWORD)


@pytest.fixture(params=SHAPES, ids=lambda shape: shape.key)
def shape(request) -> Shape:
    return request.param


@pytest.fixture(params=ZONED_SHAPES, ids=lambda shape: shape.key)
def zoned_shape(request) -> Shape:
    return request.param


@pytest.fixture
def app(db, shape) -> App:
    """The shape's tables in the test database, adopted with one call (no optional triggers)."""
    built = App(db, shape).create()
    built.adopt()
    return built


@pytest.fixture
def zoned_app(db, zoned_shape) -> App:
    built = App(db, zoned_shape).create()
    built.adopt()
    return built


@pytest.fixture(params=TOUCHED_SHAPES, ids=lambda shape: shape.key)
def touched_app(db, request) -> App:
    """The shapes for the heartbeat trigger, whose two time columns may differ in kind."""
    built = App(db, request.param).create()
    built.adopt(touch_agents=True)
    return built


def rows(conn: psycopg.Connection, query: Any, params: Any = None) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, params)
        return cur.fetchall()


def registration(db) -> dict[str, Any]:
    [row] = rows(db, "select * from fleet.registration")
    return row


def check_stale(conn) -> dict[str, Any]:
    [run] = rows(conn, "select * from fleet.run_check_stale()")
    return run


def marked_by_mark_stale_agents(conn) -> list[str]:
    return sorted(
        agent
        for (agent,) in conn.execute("select agent_id from fleet.mark_stale_agents()").fetchall()
    )


def use_zone(conn, zone: str) -> None:
    conn.execute("select set_config('TimeZone', %s, false)", (zone,))


def stale_events(fleet: Fleet) -> list[dict[str, Any]]:
    return [event for event in fleet.events() if event["reason"] == "stale"]


# -- adoption: one call ------------------------------------------------------------------------


def test_one_call_registers_the_apps_tables_and_columns(app, db):
    registered = registration(db)

    shape = app.shape
    assert (
        registered["agents"],
        registered["agent_id"],
        registered["agent_status"],
        registered["online_value"],
        registered["offline_value"],
        registered["agent_last_heartbeat"],
        registered["heartbeats"],
        registered["heartbeat_time"],
        registered["heartbeat_agent"],
        registered["heartbeat_key"],
        registered["time_zone"],
        registered["records_transitions"],
        registered["touches_agents"],
    ) == (
        "agents",  # regclass, printed under the test's search_path (public)
        shape.agent_id,
        shape.status,
        shape.online,
        shape.offline,
        shape.last_heartbeat,
        "heartbeats",
        shape.heartbeat_time,
        shape.heartbeat_agent,
        shape.heartbeat_key,
        shape.time_zone,
        False,
        False,
    )


def test_only_the_owner_of_fleetcrons_routines_may_change_the_registration(app, db, connect):
    cron = connect(CRON_LOGIN)
    before = registration(db)

    with pytest.raises(errors.InsufficientPrivilege):
        app.adopt(conn=cron, record_transitions=True)
    with pytest.raises(errors.InsufficientPrivilege):
        cron.execute("select fleet.adopt_own_tables()")
    with pytest.raises(errors.InsufficientPrivilege):
        cron.execute("update fleet.registration set online_value = 'up'")

    assert registration(db) == before
    assert app.triggers() == []


# -- check-stale on the app's agents -----------------------------------------------------------


def test_check_stale_marks_exactly_the_silent_online_agents_offline(app, db):
    quiet = [app.add_agent(f"quiet-{n}", silent_for=QUIET) for n in range(3)]
    fresh = app.add_agent("fresh", silent_for=FRESH)
    long_gone = app.add_agent("long-gone", online=False, silent_for=days(2))
    never_seen = app.add_agent("never-seen", online=False)

    run = check_stale(db)

    assert (run["outcome"], run["rows_affected"]) == ("ok", 3)
    assert app.statuses() == {
        **{agent: "offline" for agent in quiet},
        fresh: "online",
        long_gone: "offline",
        never_seen: "offline",
    }


def test_mark_stale_agents_answers_with_the_marked_agents_ids_as_text(zoned_app, db):
    app = zoned_app
    quiet = app.add_agent("quiet", silent_for=QUIET)
    app.add_agent("fresh", silent_for=FRESH)

    [marked] = rows(db, "select * from fleet.mark_stale_agents()")

    assert marked["agent_id"] == str(quiet)
    assert marked["agent_name"] == ("quiet" if app.shape.agent_name else None)
    assert marked["last_heartbeat"] == app.last_heartbeat(quiet)
    assert marked["stale_after"] == timedelta(minutes=5)


def test_each_agent_marked_offline_is_one_event_keyed_by_its_id_as_text_and_one_notify(
    zoned_app, db, fleet, connect
):
    app = zoned_app
    listener = connect()
    listener.execute("listen fleet_agent_status")
    quiet = app.add_agent("quiet", silent_for=QUIET)
    app.add_agent("fresh", silent_for=FRESH)

    run = check_stale(db)

    [event] = fleet.events()
    assert (
        event["agent_key"],
        event["agent_id"],
        event["from_status"],
        event["to_status"],
        event["reason"],
        event["run_id"],
    ) == (str(quiet), None, "online", "offline", "stale", run["id"])
    assert datetime.fromisoformat(event["detail"]["last_heartbeat"]) == app.last_heartbeat(quiet)
    # Sent at commit, all at once: whatever else came would be here by now.
    notices = [json.loads(n.payload) for n in listener.notifies(timeout=0.3)]
    assert notices == [{"run_id": run["id"], "reason": "stale", "events": 1}]


def test_a_per_agent_threshold_column_overrides_the_default(db):
    app = App(db, BIGINT_ENUM).create()
    app.adopt()
    patient = app.add_agent("patient", silent_for=QUIET, stale_after=timedelta(minutes=10))
    strict = app.add_agent(
        "strict", silent_for=timedelta(minutes=2), stale_after=timedelta(minutes=1)
    )
    default = app.add_agent("default", silent_for=QUIET)

    assert marked_by_mark_stale_agents(db) == sorted([str(strict), str(default)])
    assert app.status(patient) == "online"


def test_an_online_agent_that_never_sent_a_heartbeat_is_left_alone(app, db):
    never_seen = app.add_agent("never-seen", online=True)

    assert check_stale(db)["rows_affected"] == 0
    assert app.status(never_seen) == "online"


def test_check_stale_marks_at_most_a_batch_of_agents_per_run(app, db, fleet):
    quiet = [app.add_agent(f"quiet-{n}", silent_for=QUIET) for n in range(5)]

    first = rows(db, "select * from fleet.run_check_stale(batch => 2)")[0]
    second = rows(db, "select * from fleet.run_check_stale(batch => 2)")[0]
    third = rows(db, "select * from fleet.run_check_stale(batch => 2)")[0]

    assert [run["rows_affected"] for run in (first, second, third)] == [2, 2, 1]
    assert [run["detail"]["backlog"] for run in (first, second, third)] == [True, True, False]
    assert sorted(e["agent_key"] for e in stale_events(fleet)) == sorted(str(a) for a in quiet)


# -- cleanup-heartbeats on the app's heartbeats -------------------------------------------------


def test_cleanup_deletes_exactly_the_expired_heartbeats_in_keyset_batches(app, db, fleet):
    first = app.add_agent("first", silent_for=FRESH)
    second = app.add_agent("second", silent_for=FRESH)
    # Ties: four heartbeats at the very same time each, which a batch of 3 has to split.
    app.send_heartbeats(
        first,
        *[days(40)] * 4,
        days(35),
        days(30.01),
        days(29.99),
        days(1),
        payloads=["40a", "40b", "40c", "40d", "35", "30.01", "29.99", "1"],
    )
    app.send_heartbeats(
        second,
        *[days(40)] * 4,
        days(31),
        days(2),
        payloads=["40e", "40f", "40g", "40h", "31", "2"],
    )

    report = fleet.purge_all(batch=3)

    assert sorted(app.heartbeat_tags()) == sorted(["29.99", "1", "2"])
    expired = 11
    assert (report["outcome"], report["deleted"], report["batches"], report["backlog"]) == (
        "ok",
        expired,
        math.ceil(expired / 3),
        False,
    )
    [run] = fleet.runs("cleanup-heartbeats")
    assert run["rows_affected"] == expired
    assert run["detail"]["deleted_rows"] == expired
    assert run["detail"]["dropped_rows"] == 0
    assert run["detail"]["batches"] == math.ceil(expired / 3)


def test_a_purge_step_deletes_the_batch_right_after_its_cursor_and_nothing_behind_it(app, db):
    agent = app.add_agent("edge", silent_for=FRESH)
    app.send_heartbeats(agent, *[days(40)] * 3, *[days(39)] * 3, days(38), days(2))
    order = app.walk_order()
    cursor = order[2]  # inside the first tie: (time, key) decides what comes after it

    [step] = rows(
        db,
        "select * from fleet.purge_step(2, %s::regclass, %s, %s)",
        (app.heartbeats.as_string(db), *cursor),
    )

    assert (step["action"], step["deleted"], step["more_here"], step["backlog"]) == (
        "deleted",
        2,
        True,
        True,
    )
    assert (step["last_time"], step["last_key"]) == order[4]
    assert app.walk_order() == order[:3] + order[5:]


def test_a_cursor_never_lets_a_step_delete_a_heartbeat_younger_than_the_retention(app, db):
    agent = app.add_agent("edge", silent_for=FRESH)
    app.send_heartbeats(agent, days(40), days(29), days(1))
    order = app.walk_order()

    [step] = rows(
        db,
        "select * from fleet.purge_step(10, %s::regclass, %s, %s)",
        (app.heartbeats.as_string(db), "-infinity", order[0][1]),
    )

    assert step["deleted"] == 1
    assert app.walk_order() == order[1:]


# -- overlapping runs --------------------------------------------------------------------------


def test_overlapping_check_stale_runs_mark_each_agent_offline_exactly_once(app, fleet, connect):
    quiet = [app.add_agent(f"quiet-{n}", silent_for=QUIET) for n in range(20)]
    sessions = [connect() for _ in range(2)]
    barrier = threading.Barrier(2)

    def run(conn):
        barrier.wait()
        return check_stale(conn)

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(run, sessions))

    assert sum(result["rows_affected"] for result in results) == 20
    assert sorted(e["agent_key"] for e in stale_events(fleet)) == sorted(str(a) for a in quiet)
    assert set(app.statuses().values()) == {"offline"}


def test_a_check_stale_run_overlapping_one_in_progress_is_skipped_and_marks_nobody(
    app, fleet, connect
):
    quiet = app.add_agent("quiet", silent_for=QUIET)
    first = connect(autocommit=False)
    first_run = check_stale(first)  # holds the job until it commits

    second_run = check_stale(connect())
    first.commit()

    assert (first_run["outcome"], first_run["rows_affected"]) == ("ok", 1)
    assert (second_run["outcome"], second_run["rows_affected"]) == ("skipped", 0)
    assert [e["agent_key"] for e in fleet.events()] == [str(quiet)]


def test_overlapping_cleanup_runs_delete_each_expired_heartbeat_once(app, fleet, connect):
    agent = app.add_agent("edge", silent_for=FRESH)
    app.send_heartbeats(agent, *[days(40 - n / 10) for n in range(30)], days(1))
    sessions = [connect() for _ in range(2)]
    barrier = threading.Barrier(2)

    def run(conn):
        barrier.wait()
        return Fleet(conn).purge_all(batch=4)

    with ThreadPoolExecutor(2) as pool:
        reports = list(pool.map(run, sessions))

    assert sum(report["deleted"] for report in reports) == 30
    assert sorted(report["outcome"] for report in reports) in (["ok", "ok"], ["ok", "skipped"])
    assert app.heartbeat_count() == 1


def test_a_heartbeat_in_flight_keeps_its_agent_online_and_the_check_does_not_wait(app, connect):
    app.adopt(touch_agents=True)
    racer = app.add_agent("racer", silent_for=QUIET)
    quiet = app.add_agent("quiet", silent_for=QUIET)
    heartbeat = connect(autocommit=False)
    app.send_heartbeats(racer, timedelta(0), conn=heartbeat)  # touches the agent, uncommitted

    run = check_stale(connect(lock_timeout="1s"))
    heartbeat.commit()

    assert (run["outcome"], run["rows_affected"]) == ("ok", 1)
    assert (app.status(racer), app.status(quiet)) == ("online", "offline")


def test_bulk_heartbeats_and_the_stale_check_never_deadlock_on_the_apps_tables(db, connect):
    app = App(db, UUID_TEXT).create()
    app.adopt(touch_agents=True, record_transitions=True)
    agents = [app.add_agent(f"agent-{n:02}", silent_for=QUIET) for n in range(30)]
    stop = time.monotonic() + 2
    failures: list[Exception] = []

    def heartbeats(seed: int) -> None:
        conn, rng = connect(), random.Random(seed)
        writer = App(conn, UUID_TEXT)
        while time.monotonic() < stop:
            try:
                writer.heartbeats_of_many(rng.sample(agents, 10))  # a new order every time
                writer.silence(rng.choice(agents), QUIET)
            except psycopg.Error as error:
                failures.append(error)

    def stale_checks() -> None:
        conn = connect()
        while time.monotonic() < stop:
            try:
                check_stale(conn)
            except psycopg.Error as error:
                failures.append(error)

    workers = [threading.Thread(target=heartbeats, args=(n,)) for n in range(3)]
    workers += [threading.Thread(target=stale_checks) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)

    assert failures == []
    ok = db.execute(
        "select count(*) from fleet.job_runs where job = 'check-stale' and outcome = 'ok'"
    ).fetchone()[0]
    assert ok > 1


def test_a_bulk_heartbeat_insert_locks_the_apps_agents_in_id_order(db, connect):
    """As on fleetcron's own tables: while the insert waits for the lowest id it holds none of
    the others, so it can never wait for another writer, or the stale check, in a cycle."""
    app = App(db, UUID_TEXT).create()
    app.adopt(touch_agents=True)
    agents = sorted(app.add_agent(f"agent-{n}", silent_for=QUIET) for n in range(10))
    app.silence(agents[0], QUIET)  # its new row version is stored after all the others
    row = sql.SQL("select from {} where {} = %s").format(app.agents, app.column["agent_id"])
    holder = connect(autocommit=False)
    holder.execute(row + sql.SQL(" for no key update"), (agents[0],))
    writer, observer = connect(), connect()
    insert = threading.Thread(target=App(writer, UUID_TEXT).heartbeats_of_many, args=(agents,))
    insert.start()
    wait_until_blocked(observer, writer.info.backend_pid)

    free = sql.SQL("select exists ({} for no key update skip locked)").format(row)
    held_by_the_insert = [a for a in agents[1:] if not observer.execute(free, (a,)).fetchone()[0]]
    holder.rollback()
    insert.join(10)

    assert held_by_the_insert == []
    assert not insert.is_alive()


# -- boundaries under every session TimeZone (property tests) -----------------------------------

ZONES = [
    "UTC",
    "America/New_York",
    "Europe/Paris",
    "Australia/Lord_Howe",
    "Asia/Kathmandu",
    "Pacific/Chatham",
]
# Seconds past (positive) or short of (negative) the boundary; at least two either way, since
# the rows are written a moment before the job reads the clock.
OFFSETS = st.integers(min_value=-3 * 3600, max_value=3 * 3600).filter(lambda s: abs(s) >= 2)
PROPERTY = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@PROPERTY
@given(
    retention_days=st.integers(min_value=1, max_value=400),
    offsets=st.lists(OFFSETS, min_size=1, max_size=10, unique=True),
    zone=st.sampled_from(ZONES),
)
def test_the_purge_deletes_exactly_the_heartbeats_past_the_retention_in_any_session_zone(
    zoned_app, db, fleet, retention_days, offsets, zone
):
    use_zone(db, "UTC")
    db.execute(sql.SQL("delete from {}").format(zoned_app.heartbeats))
    agent = zoned_app.add_agent(f"edge-{len(fleet.runs())}", silent_for=FRESH)
    fleet.configure(heartbeat_retention=days(retention_days))
    zoned_app.send_heartbeats(
        agent,
        *[days(retention_days) + timedelta(seconds=off) for off in offsets],
        payloads=offsets,
    )
    use_zone(db, zone)

    fleet.purge_all(batch=4)

    kept = sorted(int(tag) for tag in zoned_app.heartbeat_tags())
    assert kept == sorted(off for off in offsets if off < 0)


@PROPERTY
@given(
    threshold_days=st.integers(min_value=1, max_value=400),
    offsets=st.lists(OFFSETS, min_size=1, max_size=10, unique=True),
    zone=st.sampled_from(ZONES),
)
def test_check_stale_marks_exactly_the_agents_past_their_threshold_in_any_session_zone(
    zoned_app, db, fleet, threshold_days, offsets, zone
):
    use_zone(db, "UTC")
    db.execute(sql.SQL("delete from {}").format(zoned_app.agents))
    threshold = days(threshold_days)
    per_agent = zoned_app.shape.stale_after is not None
    fleet.configure(stale_after=timedelta(minutes=5) if per_agent else threshold)
    run = len(fleet.runs())
    agents = {
        off: zoned_app.add_agent(
            f"agent-{run}-{off}",
            silent_for=threshold + timedelta(seconds=off),
            stale_after=threshold if per_agent else None,
        )
        for off in offsets
    }
    use_zone(db, zone)

    marked = marked_by_mark_stale_agents(db)

    assert marked == sorted(str(agents[off]) for off in offsets if off > 0)


def test_a_per_agent_threshold_spanning_a_dst_change_of_the_session_zone_is_elapsed_time(db):
    """The property test above draws spans that rarely straddle a DST change; this one always
    does: a threshold of whole days across a change of the session zone's UTC offset, with
    agents half an hour either side of it (session arithmetic would be an hour off)."""
    zone = "America/New_York"
    now = db.execute("select now()").fetchone()[0]
    offset = ZoneInfo(zone).utcoffset
    span = next(
        n
        for n in range(1, 400)
        if offset(now.replace(tzinfo=None)) != offset((now - days(n)).replace(tzinfo=None))
    )
    app = App(db, BIGINT_ENUM).create()
    app.adopt()
    threshold = days(span)
    past = app.add_agent(
        "past", silent_for=threshold + timedelta(minutes=30), stale_after=threshold
    )
    short = app.add_agent(
        "short", silent_for=threshold - timedelta(minutes=30), stale_after=threshold
    )
    use_zone(db, zone)

    marked = marked_by_mark_stale_agents(db)

    assert marked == [str(past)]
    assert app.status(short) == "online"


# -- a range-partitioned heartbeats table ------------------------------------------------------


@pytest.fixture(params=PARTITIONED_SHAPES, ids=lambda shape: shape.key)
def partitioned_shape(request) -> Shape:
    return request.param


def test_expired_partitions_are_dropped_whole_and_only_the_straddling_one_is_batch_deleted(
    db, fleet, partitioned_shape
):
    """Bounds two hours either side of the cutoff: a timestamp column's bounds read in the wrong
    zone (five hours or more off for Bogota and Kathmandu) would drop young rows or leave an
    expired partition to row-by-row deletes."""
    fleet.configure(heartbeat_retention=days(3))
    now = db.execute("select now()").fetchone()[0]
    cutoff = now - days(3)
    hour = timedelta(hours=1)
    app = App(db, partitioned_shape).create(
        partitions=[
            ("heartbeats 1 expired", cutoff - days(3), cutoff - days(2)),
            ("heartbeats 2 expired", cutoff - days(2), cutoff - 2 * hour),
            ("heartbeats 3 straddling", cutoff - 2 * hour, cutoff + 2 * hour),
            ("heartbeats 4 young", cutoff + 2 * hour, now - hour),
        ]
    )
    app.adopt()
    agent = app.add_agent("edge", silent_for=FRESH)
    ages = {
        "p1-a": days(5.5),
        "p1-b": days(5.2),
        "p2-a": days(4.5),
        "p2-b": days(3) + 3 * hour,
        "p3-expired": days(3) + hour,
        "p3-young": days(3) - hour,
        "p4-a": days(2),
        "p4-b": days(1),
        "default-expired": days(20),
        "default-young": timedelta(minutes=30),
    }
    app.send_heartbeats(agent, *ages.values(), payloads=list(ages))
    [before] = rows(db, "select * from fleet.heartbeat_summary")

    report = fleet.purge_all(batch=1)

    assert sorted(app.heartbeat_tags()) == sorted(["p3-young", "p4-a", "p4-b", "default-young"])
    assert app.partitions() == [
        "heartbeats 3 straddling",
        "heartbeats 4 young",
        "heartbeats default",
    ]
    [run] = fleet.runs("cleanup-heartbeats")
    assert run["detail"]["dropped_partitions"] == [
        'public."heartbeats 1 expired"',
        'public."heartbeats 2 expired"',
    ]
    assert (run["detail"]["dropped_rows"], run["detail"]["deleted_rows"]) == (4, 2)
    # Two drops, then one batch of one row in the default partition and one in the straddling.
    assert (report["deleted"], report["batches"], report["backlog"]) == (6, 4, False)
    assert (before["partitions"], before["expired"]) == (5, 6)


def test_the_partitions_of_a_table_range_partitioned_on_its_ids_are_listed_without_time_bounds(
    db,
):
    """Only a range on the time column has bounds that are times; an id's would not read as one."""
    partitioned_by_id(db)

    listed = db.execute(
        "select partition::text, is_default, lower_bound, upper_bound "
        "from fleet.heartbeat_partitions('bad.heartbeats')"
    ).fetchall()

    assert listed == [("bad.heartbeats_ids", False, None, None)]


# -- the optional triggers ---------------------------------------------------------------------


def test_record_transitions_records_a_status_change_the_app_makes_itself(app, fleet, connect):
    app.adopt(record_transitions=True)
    agent = app.add_agent("edge", online=False, silent_for=FRESH)
    listener = connect()
    listener.execute("listen fleet_agent_status")

    app.set_status(agent, online=True)

    [event] = fleet.events()
    assert (
        event["agent_key"],
        event["agent_id"],
        event["from_status"],
        event["to_status"],
        event["reason"],
        event["run_id"],
    ) == (str(agent), None, "offline", "online", "manual", None)
    [notice] = list(listener.notifies(timeout=5, stop_after=1))
    assert json.loads(notice.payload) == {"event_id": event["id"], "agent_id": str(agent)}


def test_the_app_may_name_the_reason_of_its_own_transition(app, fleet, connect):
    app.adopt(record_transitions=True)
    agent = app.add_agent("edge", silent_for=FRESH)
    session = connect(autocommit=False)
    session.execute("set local fleet.transition_reason = 'logout'")

    app.set_status(agent, online=False, conn=session)
    session.commit()

    assert [(e["to_status"], e["reason"]) for e in fleet.events(agent)] == [("offline", "logout")]


def test_an_update_that_leaves_the_status_as_it_was_records_nothing(app, db, fleet):
    app.adopt(record_transitions=True)
    agent = app.add_agent("edge", silent_for=FRESH)

    app.set_status(agent, online=True)
    app.silence(agent, timedelta(seconds=1))

    assert fleet.events() == []


def test_with_record_transitions_the_stale_job_records_each_agent_once(app, db, fleet):
    app.adopt(record_transitions=True)
    quiet = [app.add_agent(f"quiet-{n}", silent_for=QUIET) for n in range(3)]

    run = check_stale(db)

    assert sorted((e["agent_key"], e["reason"], e["run_id"]) for e in fleet.events()) == sorted(
        (str(agent), "stale", run["id"]) for agent in quiet
    )


def test_touch_agents_moves_the_last_heartbeat_to_the_newest_of_an_insert(touched_app):
    agent = touched_app.add_agent("edge", silent_for=QUIET)

    touched_app.send_heartbeats(
        agent, timedelta(minutes=3), timedelta(minutes=1), timedelta(minutes=2)
    )

    assert touched_app.last_heartbeat(agent) == touched_app.newest_heartbeat(agent)
    assert touched_app.status(agent) == "online"


def test_touch_agents_never_moves_the_last_heartbeat_back(touched_app):
    # Offline, so that the older (but fresh) heartbeat still has its agent to bring online.
    agent = touched_app.add_agent("edge", online=False, silent_for=timedelta(minutes=1))
    before = touched_app.last_heartbeat(agent)

    touched_app.send_heartbeats(agent, timedelta(minutes=3), days(40))

    assert touched_app.last_heartbeat(agent) == before
    assert touched_app.status(agent) == "online"


def test_touch_agents_brings_an_agent_with_a_fresh_heartbeat_online(touched_app, fleet):
    touched_app.adopt(touch_agents=True, record_transitions=True)
    agent = touched_app.add_agent("edge", online=False, silent_for=timedelta(hours=1))

    touched_app.send_heartbeats(agent, timedelta(seconds=5))

    assert touched_app.status(agent) == "online"
    assert [(e["from_status"], e["to_status"], e["reason"]) for e in fleet.events(agent)] == [
        ("offline", "online", "heartbeat")
    ]


def test_touch_agents_moves_an_old_heartbeat_forward_but_leaves_its_agent_offline(touched_app):
    agent = touched_app.add_agent("edge", online=False, silent_for=timedelta(hours=2))

    touched_app.send_heartbeats(agent, timedelta(hours=1))  # a history import

    assert touched_app.last_heartbeat(agent) == touched_app.newest_heartbeat(agent)
    assert touched_app.status(agent) == "offline"


def test_touch_agents_keeps_an_agent_offline_with_a_heartbeat_just_past_its_threshold(
    touched_app,
):
    agent = touched_app.add_agent("edge", online=False, silent_for=timedelta(hours=2))

    touched_app.send_heartbeats(agent, timedelta(minutes=5, seconds=30))

    assert touched_app.status(agent) == "offline"


def test_touch_agents_leaves_a_status_other_than_online_and_offline_to_the_app(db):
    app = App(db, BIGINT_ENUM).create()
    app.adopt(touch_agents=True)
    retired = app.add_agent("retired", silent_for=timedelta(hours=1))
    db.execute(
        sql.SQL("update {} set state = 'retired' where id = {}").format(
            app.agents, sql.Literal(retired)
        )
    )

    app.send_heartbeats(retired, timedelta(seconds=5))

    assert app.status(retired) == "retired"
    assert app.last_heartbeat(retired) == app.newest_heartbeat(retired)


def test_touch_agents_updates_every_agent_of_a_multi_agent_insert(app):
    app.adopt(touch_agents=True)
    agents = [app.add_agent(f"edge-{n}", online=False) for n in range(5)]

    app.heartbeats_of_many(agents)

    assert set(app.statuses().values()) == {"online"}
    assert all(app.last_heartbeat(a) == app.newest_heartbeat(a) for a in agents)


def test_touch_agents_keeps_the_reason_the_app_set_for_its_own_transitions(app, fleet, connect):
    app.adopt(touch_agents=True, record_transitions=True)
    busy = app.add_agent("busy", silent_for=timedelta(minutes=1))
    leaving = app.add_agent("leaving", silent_for=timedelta(minutes=1))
    session = connect(autocommit=False)
    session.execute("set local fleet.transition_reason = 'logout'")

    app.send_heartbeats(busy, timedelta(0), conn=session)
    app.set_status(leaving, online=False, conn=session)
    session.commit()

    assert [(e["to_status"], e["reason"]) for e in fleet.events(leaving)] == [("offline", "logout")]


def test_touch_agents_works_through_a_partitioned_heartbeats_table(db, partitioned_shape):
    now = db.execute("select now()").fetchone()[0]
    app = App(db, partitioned_shape).create(
        partitions=[("heartbeats today", now - days(1), now + days(1))]
    )
    app.adopt(touch_agents=True)
    agent = app.add_agent("edge", online=False, silent_for=timedelta(hours=1))

    app.send_heartbeats(agent, timedelta(minutes=1), days(40))  # one lands in the default

    assert app.last_heartbeat(agent) == app.newest_heartbeat(agent)
    assert app.status(agent) == "online"


def test_an_apps_own_transition_records_its_last_heartbeat_as_an_instant(zoned_app, fleet):
    zoned_app.adopt(record_transitions=True)
    agent = zoned_app.add_agent("edge", silent_for=timedelta(minutes=1))

    zoned_app.set_status(agent, online=False)

    [event] = fleet.events(agent)
    recorded = datetime.fromisoformat(event["detail"]["last_heartbeat"])
    assert recorded.tzinfo is not None, event["detail"]
    assert recorded == zoned_app.last_heartbeat(agent)


def test_adopting_again_without_the_triggers_removes_them(app, db):
    app.adopt(record_transitions=True, touch_agents=True)
    installed = app.triggers()

    app.adopt()

    assert installed == [
        ("agents", "fleetcron_record_transition"),
        ("heartbeats", "fleetcron_touch_agents"),
    ]
    assert app.triggers() == []
    assert (registration(db)["records_transitions"], registration(db)["touches_agents"]) == (
        False,
        False,
    )


def test_going_back_to_fleetcrons_own_tables_removes_the_triggers_and_keeps_the_apps_rows(
    app, db, fleet
):
    app.adopt(record_transitions=True, touch_agents=True)
    agent = app.add_agent("edge", silent_for=QUIET)
    app.send_heartbeats(agent, days(40))

    db.execute("select fleet.adopt_own_tables()")

    assert app.triggers() == []
    assert registration(db)["agents"] == "fleet.agents"
    own = fleet.online_agent("own", silent_for=QUIET)
    assert check_stale(db)["rows_affected"] == 1
    assert fleet.status(own) == "offline"
    assert (app.status(agent), app.heartbeat_count()) == ("online", 1)


def test_adopting_other_tables_removes_the_triggers_from_the_tables_adopted_before(app, db):
    app.adopt(record_transitions=True, touch_agents=True)
    other = App(db, replace(app.shape, schema="other")).create()

    other.adopt(touch_agents=True)

    assert app.triggers() == []
    assert other.triggers() == [("other.heartbeats", "fleetcron_touch_agents")]


# -- adopting while the application is busy ----------------------------------------------------


def test_adopting_waits_at_most_5_seconds_for_a_table_the_app_is_writing_and_changes_nothing(
    db, connect
):
    """CREATE TRIGGER waits for every transaction writing the table, and the app's next queries
    queue behind that wait: with no lock_timeout of the caller's, adopt gives up after 5 s."""
    tables = App(db, UUID_TEXT).create()
    tables.adopt()
    before = everything_adoption_touches(db)
    writer = connect(autocommit=False)
    writer.execute(sql.SQL("lock table {} in row exclusive mode").format(tables.agents))
    adopter = connect(statement_timeout="30s")
    started = time.monotonic()

    with pytest.raises(errors.LockNotAvailable) as refused:
        tables.adopt(conn=adopter, record_transitions=True)

    waited = time.monotonic() - started
    writer.rollback()
    assert 4 < waited < 10
    assert refused.value.diag.message_primary == (
        "cannot adopt these tables now: another transaction holds a lock on public.agents "
        "(waited 5s)"
    )
    assert everything_adoption_touches(db) == before


def test_going_back_waits_at_most_5_seconds_for_a_table_the_app_is_reading_and_changes_nothing(
    db, connect
):
    """DROP TRIGGER waits even for readers of the table."""
    tables = App(db, UUID_TEXT).create()
    tables.adopt(touch_agents=True)
    before = everything_adoption_touches(db)
    reader = connect(autocommit=False)
    reader.execute(sql.SQL("select count(*) from {}").format(tables.heartbeats))
    owner = connect(statement_timeout="30s")
    started = time.monotonic()

    with pytest.raises(errors.LockNotAvailable) as refused:
        owner.execute("select fleet.adopt_own_tables()")

    waited = time.monotonic() - started
    reader.rollback()
    assert 4 < waited < 10
    assert refused.value.diag.message_primary == (
        "cannot take fleetcron's triggers off public.heartbeats now: another transaction holds "
        "a lock on it (waited 5s)"
    )
    assert everything_adoption_touches(db) == before


def test_adopting_never_deadlocks_an_app_that_writes_a_heartbeat_then_its_agent(db, connect):
    """The app's writers lock the heartbeats table (the INSERT), then the agents table (their
    UPDATE of last_seen), so adopt must lock the tables in that order too. The writer's deadlock
    check fires first here, so a deadlock would kill the app's transaction."""
    tables = App(db, UUID_TEXT).create()
    agent = tables.add_agent("edge", silent_for=QUIET)
    writer = connect(autocommit=False, deadlock_timeout="100ms")
    adopter = connect(deadlock_timeout="10s")
    observer = connect()
    tables.send_heartbeats(agent, timedelta(0), conn=writer)

    thread, result = in_background(
        lambda: tables.adopt(conn=adopter, record_transitions=True, touch_agents=True)
    )
    wait_until_blocked(observer, adopter.info.backend_pid)
    writer.execute(
        sql.SQL("update {} set last_seen = now() where id = %s").format(tables.agents), (agent,)
    )
    writer.commit()
    thread.join(10)

    assert result["value"]["touches_agents"] is True
    assert tables.triggers() == [
        ("agents", "fleetcron_record_transition"),
        ("heartbeats", "fleetcron_touch_agents"),
    ]
    assert tables.heartbeat_count() == 1


def test_going_back_never_deadlocks_a_heartbeat_insert_on_its_way_to_the_agents(db, connect):
    """A heartbeat INSERT locks the heartbeats table, and only its touch_agents trigger, after
    the rows are in, locks the agents: going back must take the triggers off in that order too.
    The insert is held between the two by waiting for a conflicting insert (a duplicate id) of
    a transaction that then rolls back; its deadlock check fires first, so a deadlock would
    cost the agent its update (the trigger turns its errors into a warning)."""
    tables = bad(db, heartbeats_ddl=heartbeats_ddl())  # no foreign key to the agents
    tables.adopt(record_transitions=True, touch_agents=True)
    agent = tables.add_agent("edge", silent_for=QUIET)
    before = tables.last_heartbeat(agent)
    duplicate = "insert into bad.heartbeats (id, agent_id) overriding system value values (1, %s)"
    first = connect(autocommit=False, session_replication_role="replica")  # no triggers
    first.execute(duplicate, (agent,))
    writer = connect(autocommit=False, deadlock_timeout="100ms")
    owner = connect(deadlock_timeout="10s")
    observer = connect()
    inserting, _ = in_background(lambda: writer.execute(duplicate, (agent,)))
    wait_until_blocked(observer, writer.info.backend_pid)
    going_back, result = in_background(
        lambda: owner.execute("select agents::text from fleet.adopt_own_tables()").fetchone()
    )
    wait_until_blocked(observer, owner.info.backend_pid)

    first.rollback()
    inserting.join(10)
    writer.commit()
    going_back.join(10)

    assert result["value"] == ("fleet.agents",)
    assert tables.triggers() == []
    assert tables.last_heartbeat(agent) > before


def test_adopting_leaves_the_callers_lock_timeout_as_it_was(db, connect):
    tables = App(db, UUID_TEXT).create()
    session = connect(autocommit=False, lock_timeout="30s")

    tables.adopt(conn=session, record_transitions=True)

    assert session.execute("show lock_timeout").fetchone() == ("30s",)
    session.rollback()


def test_going_back_leaves_the_callers_lock_timeout_as_it_was(db, connect):
    tables = App(db, UUID_TEXT).create()
    tables.adopt(record_transitions=True)
    session = connect(autocommit=False, lock_timeout="30s")

    session.execute("select fleet.adopt_own_tables()")

    assert session.execute("show lock_timeout").fetchone() == ("30s",)
    session.rollback()


# -- the registration is checked again whenever a job starts -----------------------------------


def test_a_trigger_dropped_since_adoption_stops_check_stale_before_it_marks_anyone(app, db):
    app.adopt(record_transitions=True)
    quiet = app.add_agent("quiet", silent_for=QUIET)
    db.execute("drop trigger fleetcron_record_transition on agents")

    run = check_stale(db)

    assert (run["outcome"], run["detail"]["sqlstate"]) == ("error", "55000")
    assert "fleetcron_record_transition" in run["detail"]["error"]
    assert app.status(quiet) == "online"


def test_a_column_retyped_since_adoption_stops_both_jobs_before_they_change_anything(app, db):
    quiet = app.add_agent("quiet", silent_for=QUIET)
    app.send_heartbeats(quiet, days(40))
    db.execute(
        sql.SQL("alter table {} alter column {} type text").format(
            app.heartbeats, app.column["heartbeat_time"]
        )
    )

    with pytest.raises(errors.DatatypeMismatch, match="must be timestamptz"):
        db.execute("call fleet.purge_old_heartbeats_all()")
    run = check_stale(db)

    assert (run["outcome"], run["detail"]["sqlstate"]) == ("error", "42804")
    assert (app.status(quiet), app.heartbeat_count()) == ("online", 1)


def test_fleet_cron_cannot_skip_the_registration_check_of_a_purge_step(db, connect):
    tables = App(db, UUID_TEXT).create()
    tables.adopt(touch_agents=True)
    agent = tables.add_agent("edge", silent_for=FRESH)
    tables.send_heartbeats(agent, days(40))
    db.execute("drop trigger fleetcron_touch_agents on heartbeats")
    cron = connect(CRON_LOGIN)

    with pytest.raises(errors.ObjectNotInPrerequisiteState, match="fleetcron_touch_agents"):
        cron.execute("select * from fleet.purge_step(10, validate => false)")

    assert tables.heartbeat_count() == 1


def test_a_dropped_table_stops_the_jobs_and_going_back_still_works(app, db):
    db.execute("drop table heartbeats")

    run = check_stale(db)
    db.execute("select fleet.adopt_own_tables()")

    assert (run["outcome"], run["detail"]["sqlstate"]) == ("error", "42P01")
    assert "no longer exists" in run["detail"]["error"]
    assert check_stale(db)["outcome"] == "ok"


def test_a_table_given_to_another_owner_since_adoption_stops_the_jobs(app, db):
    quiet = app.add_agent("quiet", silent_for=QUIET)
    db.execute(
        sql.SQL(
            "do $$ begin create role {} nologin; exception when duplicate_object then null; end $$"
        ).format(sql.Identifier(APP_OWNER))
    )
    db.execute(sql.SQL("alter table agents owner to {}").format(sql.Identifier(APP_OWNER)))

    run = check_stale(db)

    assert (run["outcome"], run["detail"]["sqlstate"]) == ("error", "42501")
    assert run["detail"]["hint"].startswith("alter table public.agents owner to postgres;")
    assert app.status(quiet) == "online"


# -- validation: refused with one clear message, and nothing changes ---------------------------


def agents_ddl(
    *,
    agent_id: str = "uuid primary key default gen_random_uuid()",
    status: str = "text not null default 'offline'",
    last: str = "timestamptz",
    more: str = "",
) -> str:
    return (
        f"create table {{agents}} ({{c_agent_id}} {agent_id}, {{c_agent_name}} text, "
        f"{{c_status}} {status}, {{c_last_heartbeat}} {last}{more})"
    )


def heartbeats_ddl(
    *,
    agent: str = "uuid not null",
    time: str = "timestamptz not null default now()",
    key: str = "bigint generated always as identity",
    primary_key: str = ", primary key ({primary_key})",
) -> str:
    return (
        f"create table {{heartbeats}} ({{c_heartbeat_key}} {key}, {{c_heartbeat_agent}} {agent}, "
        f"{{c_heartbeat_time}} {time}, payload jsonb{primary_key}) {{partitioning}}"
    )


def bad(
    db,
    base: Shape = UUID_TEXT,
    *,
    before: str = "",
    after: str = "",
    partitions: list[tuple[str, datetime, datetime]] | None = None,
    **changes,
) -> App:
    """The app's tables, as ``base`` with ``changes``, in the schema bad."""
    tables = App(db, replace(base, schema="bad", **changes))
    db.execute("create schema bad")
    if before:
        db.execute(before)
    tables.create(partitions)
    if after:
        db.execute(after)
    return tables


def partitioned_by_id(db) -> App:
    """Heartbeats range-partitioned on their id, not on their time."""
    return bad(
        db,
        heartbeats_ddl=heartbeats_ddl(primary_key=", primary key ({c_heartbeat_key})")
        + " partition by range ({c_heartbeat_key})",
        after="create table bad.heartbeats_ids partition of bad.heartbeats "
        "for values from (1) to (1000000)",
    )


def failed_concurrent_index(db) -> App:
    tables = bad(db, time_index_ddl="")
    agent = tables.add_agent("edge", silent_for=FRESH)
    tables.send_heartbeats(agent, days(1), days(1))  # the same time twice
    with pytest.raises(errors.UniqueViolation):
        db.execute("create unique index concurrently on bad.heartbeats (created_at, agent_id)")
    return tables


def owned_by_another_role(db, table: str = "bad.heartbeats", **changes) -> App:
    db.execute(
        sql.SQL(
            "do $$ begin create role {} nologin; exception when duplicate_object then null; end $$"
        ).format(sql.Identifier(APP_OWNER))
    )
    tables = bad(db, **changes)
    db.execute(
        sql.SQL("alter table {} owner to {}").format(
            sql.Identifier(*table.split(".")), sql.Identifier(APP_OWNER)
        )
    )
    return tables


@dataclass(frozen=True)
class Refusal:
    case: str
    attempt: Any  # (db) -> None: the fleet.adopt call that must be refused
    sqlstate: str
    message: str
    hint: str | None = None


REFUSALS = [
    Refusal(
        "a missing table",
        lambda db: bad(db).adopt(agents="bad.no_such_agents"),
        "42P01",
        'relation "bad.no_such_agents" does not exist',
    ),
    Refusal(
        "a missing column",
        lambda db: bad(db).adopt(last_heartbeat="last_sene"),
        "42703",
        "cannot adopt these tables: bad.agents has no column last_sene (the last heartbeat column)",
        "names are matched exactly",
    ),
    Refusal(
        "a column named in another case",
        lambda db: bad(db).adopt(status="Status"),
        "42703",
        'cannot adopt these tables: bad.agents has no column "Status" (the status column)',
    ),
    Refusal(
        "a status column that is a number",
        lambda db: bad(db, agents_ddl=agents_ddl(status="integer not null default 0")).adopt(),
        "42804",
        "cannot adopt these tables: bad.agents.status is integer; "
        "a status column is text, an enum or boolean",
    ),
    Refusal(
        "a last-heartbeat column of text",
        lambda db: bad(db, agents_ddl=agents_ddl(last="text")).adopt(),
        "42804",
        "cannot adopt these tables: bad.agents.last_seen is text; "
        "the last heartbeat column must be timestamptz",
    ),
    Refusal(
        "a heartbeat time column of dates",
        lambda db: bad(db, heartbeats_ddl=heartbeats_ddl(time="date not null")).adopt(),
        "42804",
        "cannot adopt these tables: bad.heartbeats.created_at is date; "
        "the heartbeat time column must be timestamptz",
    ),
    Refusal(
        "a heartbeat agent column of another type than the agent id",
        lambda db: bad(db, heartbeats_ddl=heartbeats_ddl(agent="text not null")).adopt(),
        "42804",
        "cannot adopt these tables: bad.heartbeats.agent_id is text but bad.agents.id is uuid",
    ),
    Refusal(
        "a per-agent threshold that is not an interval",
        lambda db: bad(db, agents_ddl=agents_ddl(more=", stale_minutes integer")).adopt(
            stale_after="stale_minutes"
        ),
        "42804",
        "cannot adopt these tables: bad.agents.stale_minutes is integer; "
        "a per-agent threshold column must be an interval",
    ),
    Refusal(
        "timestamp without time zone columns without time_zone",
        lambda db: bad(db, BOOLEAN_LOCAL_TIME).adopt(time_zone=None),
        "22023",
        "cannot adopt these tables: a timestamp without time zone column needs "
        "time_zone => '<the zone it holds>'",
        "time_zone => 'UTC'",
    ),
    Refusal(
        "a time zone the server does not know",
        lambda db: bad(db, BOOLEAN_LOCAL_TIME).adopt(time_zone="Mars/Olympus_Mons"),
        "22023",
        "cannot adopt these tables: 'Mars/Olympus_Mons' is not a time zone this server knows",
    ),
    Refusal(
        "a value that is not a label of the enum",
        lambda db: bad(db, BIGINT_ENUM).adopt(online="up"),
        "22P02",
        "cannot adopt these tables: 'up' is not a value bad.agents.state can hold",
        "the labels of bad.agent_state are: 'active', 'inactive', 'retired'",
    ),
    Refusal(
        "a value the column's CHECK constraint refuses",
        lambda db: bad(db).adopt(offline="down"),
        "22P02",
        "cannot adopt these tables: 'down' is not a value bad.agents.status can hold",
        "CHECK constraints refuse it",
    ),
    Refusal(
        "a value the CHECK of the column's domain refuses",
        lambda db: bad(
            db,
            before="create domain bad.agent_status as text check (value in ('up', 'down'))",
            agents_ddl=agents_ddl(status="bad.agent_status not null default 'down'"),
        ).adopt(),
        "22P02",
        "cannot adopt these tables: 'online' is not a value bad.agents.status can hold",
    ),
    Refusal(
        "the same value for online and offline",
        lambda db: bad(db).adopt(online="online", offline="online"),
        "22023",
        "online and offline must be two different values",
    ),
    Refusal(
        "two spellings of the same boolean",
        lambda db: bad(db, BOOLEAN_LOCAL_TIME).adopt(online="true", offline="t"),
        "22023",
        "cannot adopt these tables: the online and offline values mean the same boolean",
    ),
    Refusal(
        "a boolean status with a value that is no boolean",
        lambda db: bad(db, BOOLEAN_LOCAL_TIME).adopt(online="up"),
        "22P02",
        "cannot adopt these tables: 'up' is not a value bad.agents.is_online can hold",
    ),
    Refusal(
        "no index leading with the heartbeat time",
        lambda db: bad(db, time_index_ddl="").adopt(),
        "55000",
        "cannot adopt these tables: bad.heartbeats has no index leading with created_at",
        "create index concurrently on bad.heartbeats (created_at, id);",
    ),
    Refusal(
        "only an index a failed create index concurrently left invalid",
        lambda db: failed_concurrent_index(db).adopt(),
        "55000",
        "cannot adopt these tables: bad.heartbeats has no index leading with created_at",
        "create index concurrently on bad.heartbeats (created_at, id);",
    ),
    Refusal(
        "a partitioned heartbeats table without an index leading with the time",
        lambda db: bad(
            db,
            heartbeats_ddl=heartbeats_ddl(
                primary_key=", primary key ({c_heartbeat_key}, {c_heartbeat_time})"
            ),
            partitions=[],
        ).adopt(),
        "55000",
        "cannot adopt these tables: bad.heartbeats has no index leading with created_at",
        "create index on bad.heartbeats (created_at, id); (on a partitioned table, create it on "
        "each partition concurrently first, then on the parent)",
    ),
    Refusal(
        "heartbeats range-partitioned on something other than their time",
        lambda db: partitioned_by_id(db).adopt(),
        "42P16",
        "cannot adopt these tables: bad.heartbeats is partitioned by RANGE (id); a "
        "range-partitioned heartbeats table must be partitioned on created_at alone",
        "partition bad.heartbeats by range (created_at)",
    ),
    Refusal(
        "a value too long for the status column",
        lambda db: bad(
            db, agents_ddl=agents_ddl(status="varchar(7) not null default 'offline'")
        ).adopt(offline="disconnected"),
        "22P02",
        "cannot adopt these tables: 'disconnected' is not a value bad.agents.status can hold",
        "character varying(7)",
    ),
    Refusal(
        "a table owned by another role",
        lambda db: owned_by_another_role(db).adopt(),
        "42501",
        f"cannot adopt these tables: bad.heartbeats belongs to {APP_OWNER}, "
        "but fleetcron's routines run as postgres",
        "alter table bad.heartbeats owner to postgres;",
    ),
    Refusal(
        "a table of another role whose CHECK would run that role's code as fleetcron's",
        lambda db: owned_by_another_role(
            db,
            before="create function bad.spy(text) returns boolean language plpgsql as "
            "$$ begin raise exception 'the table owner''s code ran as %', current_user; end $$",
            agents_ddl=agents_ddl(status="text not null check (bad.spy(status))"),
            table="bad.agents",
        ).adopt(),
        "42501",
        f"cannot adopt these tables: bad.agents belongs to {APP_OWNER}, "
        "but fleetcron's routines run as postgres",
    ),
    Refusal(
        "a view",
        lambda db: bad(db, after="create view bad.agents_view as select * from bad.agents").adopt(
            agents="bad.agents_view"
        ),
        "42809",
        "cannot adopt these tables: bad.agents_view is not an ordinary or partitioned "
        "permanent table",
    ),
    Refusal(
        "an agent id that is not unique",
        lambda db: bad(
            db,
            agents_ddl=agents_ddl(agent_id="uuid not null default gen_random_uuid()"),
            heartbeats_ddl=heartbeats_ddl(),
        ).adopt(),
        "42830",
        "cannot adopt these tables: bad.agents has no unique index on id",
    ),
    Refusal(
        "heartbeats without a key to break ties of the time",
        lambda db: bad(db, heartbeats_ddl=heartbeats_ddl(primary_key="")).adopt(),
        "22023",
        "bad.heartbeats has no single-column key to break ties of created_at",
        "heartbeat_key =>",
    ),
    Refusal(
        "a tie-break key that may be NULL",
        lambda db: bad(db).adopt(heartbeat_key="payload"),
        "23502",
        "cannot adopt these tables: bad.heartbeats.payload may be NULL",
    ),
    Refusal(
        "a tie-break key that is not unique",
        lambda db: bad(db).adopt(heartbeat_key="agent_id"),
        "42830",
        "cannot adopt these tables: bad.heartbeats has no unique index on agent_id",
    ),
    Refusal(
        "a tie-break key whose only index is not unique",
        lambda db: bad(db, after="create index on bad.heartbeats (agent_id, created_at)").adopt(
            heartbeat_key="agent_id"
        ),
        "42830",
        "cannot adopt these tables: bad.heartbeats has no unique index on agent_id",
    ),
    Refusal(
        "a generated status column",
        lambda db: bad(
            db, agents_ddl=agents_ddl(status="text generated always as ('online') stored")
        ).adopt(),
        "428C9",
        "cannot adopt these tables: bad.agents.status is a generated column",
    ),
    Refusal(
        "fleetcron's own tables",
        lambda db: bad(db).adopt(agents="fleet.agents"),
        "22023",
        "fleetcron's own tables are not adopted; they are the default",
        "select fleet.adopt_own_tables();",
    ),
]


@pytest.fixture
def adopted(db) -> App:
    """Shape 1 adopted with both triggers: what a refused registration must leave as it is."""
    tables = App(db, UUID_TEXT).create()
    tables.adopt(record_transitions=True, touch_agents=True)
    return tables


def everything_adoption_touches(db) -> tuple[Any, ...]:
    triggers = db.execute(
        "select tgrelid::regclass::text, tgname, tgenabled from pg_trigger "
        "where not tgisinternal order by 1, 2"
    ).fetchall()
    return registration(db), triggers


@pytest.mark.parametrize("refusal", REFUSALS, ids=lambda refusal: refusal.case)
def test_a_registration_that_fails_validation_is_refused_and_changes_nothing(adopted, db, refusal):
    before = everything_adoption_touches(db)

    with pytest.raises(psycopg.Error) as refused:
        refusal.attempt(db)

    error = refused.value
    assert error.sqlstate == refusal.sqlstate, error
    assert error.diag.message_primary.startswith(refusal.message), error.diag.message_primary
    if refusal.hint is not None:
        assert refusal.hint in (error.diag.message_hint or ""), error.diag.message_hint
    assert everything_adoption_touches(db) == before


def test_a_registration_with_several_problems_names_the_first_and_lists_them_all(adopted, db):
    tables = bad(db, agents_ddl=agents_ddl(last="text"), time_index_ddl="")
    before = everything_adoption_touches(db)

    with pytest.raises(psycopg.Error) as refused:
        tables.adopt(agent_name="nmae")

    error = refused.value
    assert (error.sqlstate, error.diag.message_primary) == (
        "42703",
        "cannot adopt these tables: bad.agents has no column nmae (the name column)",
    )
    detail = error.diag.message_detail.splitlines()
    assert len(detail) == 3
    assert "bad.agents.last_seen is text" in detail[1]
    assert "create index concurrently on bad.heartbeats (created_at, id);" in detail[2]
    assert everything_adoption_touches(db) == before


# -- row-level security, when the routines' owner is not a superuser ----------------------------

SCHEMA_OWNER = "fleet_test_schema_owner"
OWNED_DATABASE = "fleet_adoption_owned"


@pytest.fixture(scope="module")
def owned_database(pg_server, fleet_template):
    """A database migrated by a role that is no superuser (as on Supabase), which therefore
    owns fleetcron's routines and is subject to row-level security."""
    with psycopg.connect(pg_server.url("postgres"), autocommit=True) as admin:
        admin.execute(
            sql.SQL(
                "do $$ begin create role {} login nosuperuser password {}; "
                "exception when duplicate_object then null; end $$"
            ).format(sql.Identifier(SCHEMA_OWNER), sql.Literal(ROLE_PASSWORD))
        )
        admin.execute(
            sql.SQL("drop database if exists {} with (force)").format(
                sql.Identifier(OWNED_DATABASE)
            )
        )
        admin.execute(
            sql.SQL("create database {} owner {}").format(
                sql.Identifier(OWNED_DATABASE), sql.Identifier(SCHEMA_OWNER)
            )
        )
    url = pg_server.url(OWNED_DATABASE, user=SCHEMA_OWNER, password=ROLE_PASSWORD)
    migrate.upgrade(url)
    with psycopg.connect(url, autocommit=True) as conn:
        pristine = baseline(conn)
    yield url, pristine
    with psycopg.connect(pg_server.url("postgres"), autocommit=True) as admin:
        admin.execute(
            sql.SQL("drop database {} with (force)").format(sql.Identifier(OWNED_DATABASE))
        )


@pytest.fixture
def owner_db(owned_database) -> Iterator[psycopg.Connection]:
    url, pristine = owned_database
    with psycopg.connect(url, autocommit=True) as conn:
        reset(conn, pristine)
        yield conn


def test_row_level_security_that_would_hide_rows_is_refused_with_what_to_do(owner_db):
    tables = App(owner_db, UUID_TEXT).create()
    owner_db.execute("alter table agents enable row level security")
    owner_db.execute("alter table agents force row level security")

    with pytest.raises(errors.InsufficientPrivilege) as refused:
        tables.adopt()

    assert refused.value.diag.message_primary == (
        "cannot adopt these tables: row-level security on public.agents would hide rows from "
        f"fleetcron's routines ({SCHEMA_OWNER})"
    )
    hint = refused.value.diag.message_hint
    assert f"create policy fleetcron_all on public.agents to {SCHEMA_OWNER} using (true)" in hint
    assert "alter table public.agents no force row level security;" in hint
    assert registration(owner_db)["agents"] == "fleet.agents"


def test_the_policy_the_hint_offers_makes_the_tables_adoptable_and_the_jobs_see_every_row(
    owner_db,
):
    tables = App(owner_db, UUID_TEXT).create()
    quiet = tables.add_agent("quiet", silent_for=QUIET)
    owner_db.execute("alter table agents enable row level security")
    owner_db.execute("alter table agents force row level security")
    with pytest.raises(errors.InsufficientPrivilege) as refused:
        tables.adopt()
    policy = refused.value.diag.message_hint.split("; or:")[0]

    owner_db.execute(policy)
    tables.adopt()

    assert check_stale(owner_db)["rows_affected"] == 1
    assert tables.status(quiet) == "offline"


def test_row_level_security_the_owner_bypasses_is_no_obstacle(owner_db):
    tables = App(owner_db, UUID_TEXT).create()
    quiet = tables.add_agent("quiet", silent_for=QUIET)
    tables.send_heartbeats(quiet, days(40), days(1))
    owner_db.execute("alter table agents enable row level security")
    owner_db.execute("alter table heartbeats enable row level security")

    tables.adopt()

    assert check_stale(owner_db)["rows_affected"] == 1
    assert Fleet(owner_db).purge_all()["deleted"] == 1
    assert (tables.status(quiet), tables.heartbeat_count()) == ("offline", 1)


# -- hostile identifiers -----------------------------------------------------------------------


def test_hostile_identifiers_are_registered_exactly_as_the_catalog_spells_them(db):
    tables = App(db, HOSTILE).create()

    registered = tables.adopt(record_transitions=True, touch_agents=True)

    assert registered["agents"] == tables.agents.as_string(db)
    assert registered["heartbeats"] == tables.heartbeats.as_string(db)
    assert [registered[name] for name in ("agent_id", "agent_status", "agent_last_heartbeat")] == [
        HOSTILE.agent_id,
        HOSTILE.status,
        HOSTILE.last_heartbeat,
    ]
    assert (registered["online_value"], registered["offline_value"]) == (
        HOSTILE.online,
        HOSTILE.offline,
    )
    assert registered["agent_stale_after"] == HOSTILE.stale_after
    assert sorted(name for _, name in tables.triggers()) == [
        "fleetcron_record_transition",
        "fleetcron_touch_agents",
    ]


def test_hostile_identifiers_work_in_both_jobs_the_triggers_and_the_summaries(db, fleet):
    tables = App(db, HOSTILE).create()
    tables.adopt(record_transitions=True, touch_agents=True)
    quiet = tables.add_agent("quiet", silent_for=QUIET)
    patient = tables.add_agent("patient", silent_for=QUIET, stale_after=timedelta(minutes=10))
    returning = tables.add_agent("returning", online=False, silent_for=timedelta(hours=1))
    tables.send_heartbeats(returning, timedelta(seconds=5))  # the touch trigger: online again
    tables.send_heartbeats(
        patient, *[days(40)] * 3, days(31), days(1), payloads=["a", "b", "c", "d", "young"]
    )
    tables.set_status(patient, online=False)  # the app's own transition
    tables.set_status(patient, online=True)

    [agents] = rows(db, "select * from fleet.agent_summary")
    stale_now = rows(db, "select agent_id, name from fleet.stale_agents")
    [heartbeats] = rows(db, "select * from fleet.heartbeat_summary")
    marked = rows(db, "select agent_id, agent_name from fleet.mark_stale_agents()")
    report = fleet.purge_all(batch=2)

    assert (agents["agents"], agents["online"], agents["stale_now"]) == (3, 3, 1)
    assert stale_now == [{"agent_id": str(quiet), "name": "quiet"}]
    assert (heartbeats["rows"], heartbeats["expired"]) == (6, 4)
    assert marked == [{"agent_id": str(quiet), "agent_name": "quiet"}]
    assert tables.statuses() == {quiet: "offline", patient: "online", returning: "online"}
    assert (report["outcome"], report["deleted"], report["batches"]) == ("ok", 4, 2)
    assert tables.heartbeat_count() == 2
    assert [(e["agent_key"], e["to_status"], e["reason"]) for e in fleet.events()] == [
        (str(returning), "online", "heartbeat"),
        (str(patient), "offline", "manual"),
        (str(patient), "online", "manual"),
        (str(quiet), "offline", "stale"),
    ]


def test_hostile_identifiers_work_for_a_partitioned_heartbeats_table(db, fleet):
    fleet.configure(heartbeat_retention=days(3))
    now = db.execute("select now()").fetchone()[0]
    cutoff = now - days(3)
    tables = App(db, HOSTILE).create(
        partitions=[
            ('Old "Days"; drop table x; --', cutoff - days(2), cutoff - days(1)),
            ("Straddling.Days", cutoff - days(1), cutoff + days(1)),
        ]
    )
    tables.adopt()
    agent = tables.add_agent("edge", silent_for=FRESH)
    tables.send_heartbeats(agent, days(4.5), days(3.5), days(2.5), payloads=["old", "cut", "young"])

    report = fleet.purge_all(batch=10)

    assert tables.heartbeat_tags() == ["young"]
    assert tables.partitions() == ["Straddling.Days", "heartbeats default"]
    assert (report["deleted"], report["batches"]) == (2, 2)


# -- the summaries describe the adopted tables ---------------------------------------------------


def test_the_summaries_describe_the_adopted_tables_to_the_fleet_cron_login(zoned_app, db, connect):
    app = zoned_app
    quiet = app.add_agent("quiet", silent_for=QUIET)
    app.add_agent("fresh", silent_for=FRESH)
    app.add_agent("long-gone", online=False, silent_for=days(2))
    app.add_agent("never-seen", online=False)
    app.send_heartbeats(quiet, days(40), days(31), days(1))
    cron = connect(CRON_LOGIN)

    [agents] = rows(cron, "select * from fleet.agent_summary")
    stale = rows(cron, "select * from fleet.stale_agents")
    [heartbeats] = rows(cron, "select * from fleet.heartbeat_summary")

    assert agents == {"agents": 4, "online": 2, "offline": 1, "never_seen": 1, "stale_now": 1}
    assert [(s["agent_id"], s["name"], s["last_heartbeat"], s["stale_after"]) for s in stale] == [
        (
            str(quiet),
            "quiet" if app.shape.agent_name else None,
            app.last_heartbeat(quiet),
            timedelta(minutes=5),
        ),
    ]
    assert stale[0]["silent_for"] >= QUIET
    assert (
        heartbeats["rows"],
        heartbeats["rows_exact"],
        heartbeats["expired"],
        heartbeats["expired_exact"],
        heartbeats["oldest"],
        heartbeats["partitions"],
        heartbeats["partitioned_until"],
    ) == (3, True, 2, True, app.oldest_heartbeat(), 0, None)
    assert abs(heartbeats["cutoff"] - (db.execute("select now()").fetchone()[0] - RETENTION)) < (
        timedelta(seconds=5)
    )


def test_record_heartbeat_refuses_while_the_apps_tables_are_adopted(app, db, fleet):
    db.execute("select fleet.adopt_own_tables()")
    own = fleet.register("edge")
    app.adopt()

    with pytest.raises(
        errors.ObjectNotInPrerequisiteState, match=r"fleetcron works on public\.agents"
    ):
        fleet.heartbeat(own)

    assert fleet.heartbeat_count() == 0
    db.execute("select fleet.adopt_own_tables()")
    fleet.heartbeat(own)
    assert fleet.heartbeat_count() == 1


# -- a database shared with someone hostile (the hardening issue's fixture) ---------------------


@pytest.fixture
def planted(db):
    """The traps of tests/test_search_path.py, planted in this database's writable public schema
    (next to the app's tables) and in a schema of their own."""
    db.execute("grant create on schema public to public")
    db.execute(PLANTED)
    return db


def test_the_planted_objects_fire_for_a_careless_query(planted):
    planted.execute(f"set search_path = {HOSTILE_PATH}")

    with pytest.raises(errors.RaiseException, match="hijacked"):
        planted.execute("select format('%I', 'x'::text)")


def test_adoption_and_both_jobs_resolve_nothing_through_a_hostile_search_path(
    app, planted, fleet, connect
):
    quiet = app.add_agent("quiet", silent_for=QUIET)
    app.send_heartbeats(quiet, days(40), days(35), days(1))
    planted.execute(f"set search_path = {HOSTILE_PATH}")

    app.adopt(record_transitions=True, touch_agents=True)
    marked = planted.execute("select agent_id from fleet.mark_stale_agents()").fetchall()
    report = planted.execute("call fleet.purge_old_heartbeats_all(batch => 1)").fetchone()
    by_hand = planted.execute("select fleet.purge_old_heartbeats(10)").fetchone()[0]
    views = [
        planted.execute(sql.SQL("select * from fleet.{}").format(sql.Identifier(view))).fetchall()
        for view in ("agent_summary", "stale_agents", "heartbeat_summary")
    ]
    cron = connect(CRON_LOGIN, search_path=HOSTILE_PATH)
    cron_run = check_stale(cron)

    assert marked == [(str(quiet),)]
    assert report[1:] == ("ok", 2, 2, False)
    assert by_hand == 0
    assert len(views) == 3
    assert cron_run["outcome"] == "ok"


def test_the_optional_triggers_resolve_nothing_through_a_hostile_search_path(app, planted, fleet):
    app.adopt(record_transitions=True, touch_agents=True)
    agent = app.add_agent("edge", online=False, silent_for=timedelta(hours=1))
    planted.execute(f"set search_path = {HOSTILE_PATH}")

    # The app's own plain statements; the table defaults were bound when the tables were made.
    planted.execute(
        sql.SQL("insert into {} ({}) values ({})").format(
            app.heartbeats, app.column["heartbeat_agent"], sql.Literal(agent)
        )
    )
    app.set_status(agent, online=False, conn=planted)
    app.set_status(agent, online=True, conn=planted)

    planted.execute("reset search_path")
    assert [(e["to_status"], e["reason"]) for e in fleet.events(agent)] == [
        ("online", "heartbeat"),
        ("offline", "manual"),
        ("online", "manual"),
    ]


# -- done when: only the app's tables, one adoption call, then every door runs the jobs ---------

direct_and_pooled = pytest.mark.parametrize(
    "connection_path", ["direct", "pgbouncer"], indirect=True
)


@direct_and_pooled
def test_the_vercel_endpoints_mark_and_purge_the_apps_own_tables(api, db, fleet):
    tables = App(db, UUID_TEXT).create()
    quiet = tables.add_agent("quiet", silent_for=QUIET)
    fresh = tables.add_agent("fresh", silent_for=FRESH)
    tables.send_heartbeats(quiet, *[days(40 - n) for n in range(5)], days(1))
    tables.adopt()

    checked = api.call("/api/cron/check-stale")
    cleaned = api.call("/api/cron/cleanup-heartbeats")

    assert checked.status == 200, checked.body
    assert (checked.body["outcome"], checked.body["rows_affected"]) == ("ok", 1)
    assert cleaned.status == 200, cleaned.body
    assert (cleaned.body["outcome"], cleaned.body["rows_affected"], cleaned.body["backlog"]) == (
        "ok",
        5,
        False,
    )
    assert tables.statuses() == {quiet: "offline", fresh: "online"}
    assert tables.heartbeat_count() == 1
    assert [(run["job"], run["triggered_by"]) for run in fleet.runs()] == [
        ("check-stale", "vercel"),
        ("cleanup-heartbeats", "vercel"),
    ]
    assert fleet.value("select count(*) from fleet.agents") == 0


def psql(pg_server, url: str, command: str) -> list[str]:
    """One command through the real psql, the way a DBA types it; its unaligned output rows."""
    result = subprocess.run(
        [
            str(pg_server.bindir / "psql"),
            "-X",
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            url,
            "-c",
            command,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_a_dba_adopts_the_apps_tables_and_runs_both_jobs_from_psql(new_database, pg_server):
    url = new_database()
    with psycopg.connect(url, autocommit=True) as conn:
        tables = App(conn, UUID_TEXT).create()
        quiet = tables.add_agent("quiet", silent_for=QUIET)
        tables.add_agent("fresh", silent_for=FRESH)
        tables.send_heartbeats(quiet, *[days(40 - n / 2) for n in range(7)], days(1))
    migrate.upgrade(url)  # what `fleetcron db upgrade` runs

    adopted = psql(
        pg_server,
        url,
        "select agents, heartbeats from fleet.adopt('public.agents', 'id', 'status', "
        "'last_seen', 'public.heartbeats', 'created_at', 'agent_id', agent_name => 'name')",
    )
    marked = psql(pg_server, url, "select agent_id, agent_name from fleet.mark_stale_agents()")
    batch = psql(pg_server, url, "select fleet.purge_old_heartbeats(2)")
    cleanup = psql(pg_server, url, "call fleet.purge_old_heartbeats_all(batch => 2)")
    summary = psql(pg_server, url, "select agents, online, stale_now from fleet.agent_summary")

    assert adopted == ["agents|heartbeats"]  # regclass, as psql's search_path prints it
    assert marked == [f"{quiet}|quiet"]
    assert batch == ["2"]
    assert cleanup[0].split("|")[1:] == ["ok", "5", "3", "f"]
    assert summary == ["2|1|0"]
    with psycopg.connect(url, autocommit=True) as conn:
        assert App(conn, UUID_TEXT).heartbeat_count() == 1


CRON_SCHEMA = "fleetcron adoption test"


@pytest.fixture
def cron_database(pg_server, fleet_template):
    """The database pg_cron runs its jobs in. The session shares it and pg_cron fires there
    every minute while jobs are scheduled, so everything this test adds is taken out again:
    its jobs, the app's tables (in a schema of their own), the registration, its runs."""
    url = pg_server.url(DEFAULT_DATABASE)
    migrate.upgrade(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("create extension if not exists pg_cron")
        conn.execute("select fleet.pg_cron_remove()")
        last_run, last_event = conn.execute(
            "select (select coalesce(max(id), 0) from fleet.job_runs), "
            "(select coalesce(max(id), 0) from fleet.agent_events)"
        ).fetchone()
        try:
            yield conn, last_run
        finally:
            conn.execute("select fleet.pg_cron_remove()")
            deadline = time.monotonic() + 60
            while (
                time.monotonic() < deadline
                and conn.execute(
                    "select exists (select from cron.job_run_details "
                    "where status not in ('succeeded', 'failed'))"
                ).fetchone()[0]
            ):
                time.sleep(0.5)
            conn.execute("select fleet.adopt_own_tables()")
            conn.execute(
                sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(CRON_SCHEMA))
            )
            conn.execute("delete from fleet.agent_events where id > %s", (last_event,))
            conn.execute("delete from fleet.job_runs where id > %s", (last_run,))


def test_pg_cron_runs_both_jobs_on_the_apps_tables(cron_database):
    conn, last_run = cron_database
    tables = App(conn, replace(UUID_TEXT, schema=CRON_SCHEMA)).create()
    quiet = tables.add_agent("quiet", silent_for=QUIET)
    fresh = tables.add_agent("fresh", silent_for=FRESH)
    tables.send_heartbeats(quiet, *[days(40 - n) for n in range(5)], days(1))
    tables.adopt()
    # pg_cron schedules by the minute: both jobs fire at the next minute boundary.
    conn.execute("select fleet.pg_cron_install('* * * * *', '* * * * *')")

    deadline = time.monotonic() + 75
    runs: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        runs = {
            run["job"]: run
            for run in rows(
                conn,
                "select * from fleet.job_runs where id > %s and triggered_by = 'pg_cron' "
                "order by id",
                (last_run,),
            )
        }
        if len(runs) == 2 and all(run["outcome"] != "running" for run in runs.values()):
            break
        time.sleep(1)

    assert {job: run["outcome"] for job, run in runs.items()} == {
        "check-stale": "ok",
        "cleanup-heartbeats": "ok",
    }
    assert tables.statuses() == {quiet: "offline", fresh: "online"}
    assert tables.heartbeat_count() == 1
