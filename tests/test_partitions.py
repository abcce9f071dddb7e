"""fleet.heartbeats is partitioned by day: made ahead by the jobs, dropped whole by the purge.

A database migrated today has heartbeats_legacy (the table as it was before partitioning) as the
partition of everything before tomorrow, and day partitions from tomorrow on. Several tests
first let heartbeats_legacy "age out" (drop it, as the purge does once its range is past the
retention), which is what a database looks like a month after its upgrade.
"""

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from psycopg import errors

EXPIRED = timedelta(days=40)
DAY = timedelta(days=1)


def partitions(db):
    """(name, lower, upper) of every partition, the default first, then oldest first; None for
    no bound (the default partition's, or heartbeats_legacy's MINVALUE)."""
    return db.execute(
        "select partition::text, nullif(lower_bound, '-infinity'), upper_bound "
        "from fleet.heartbeat_partitions('fleet.heartbeats') "
        "order by is_default desc, lower_bound"
    ).fetchall()


def beats_at(db, agent, *moments: datetime) -> None:
    """Heartbeats stamped at these moments, in one INSERT (a history import)."""
    db.execute(
        "insert into fleet.heartbeats (agent_id, created_at) select %s, unnest(%s::timestamptz[])",
        (agent, list(moments)),
    )


def day_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def now(db) -> datetime:
    return db.execute("select now()").fetchone()[0]


@pytest.fixture
def aged(db):
    """The database a month after its upgrade: heartbeats_legacy has been purged away."""
    db.execute("drop table fleet.heartbeats_legacy")
    return db


def make_partition(db, day: datetime) -> str:
    return db.execute(
        "select partition_name from fleet.create_heartbeat_partition(%s)", (day,)
    ).fetchone()[0]


# -- the layout ---------------------------------------------------------------------------------


def test_partitions_exist_a_week_ahead_from_the_first_midnight_after_the_upgrade(db):
    default, legacy, *days = partitions(db)

    tomorrow = day_start(now(db)) + DAY
    assert default == ("fleet.heartbeats_default", None, None)
    assert legacy == ("fleet.heartbeats_legacy", None, tomorrow)
    assert days[0][1] == tomorrow
    assert all(upper - lower == DAY for _, lower, upper in days)
    assert days[-1][2] >= now(db) + 7 * DAY


def test_partitions_are_named_for_their_utc_day(db):
    names = [name for name, *_ in partitions(db)[2:]]

    tomorrow = day_start(now(db)) + DAY
    assert names[0] == f"fleet.heartbeats_p{tomorrow:%Y%m%d}"


def test_check_stale_makes_missing_partitions_and_says_so(fleet, db):
    last = partitions(db)[-1][0]
    db.execute(f"drop table {last}")

    run = db.execute("select outcome, detail from fleet.run_check_stale()").fetchone()

    assert run[0] == "ok"
    assert run[1]["partitions"]["created"] == [last.removeprefix("fleet.")]
    assert partitions(db)[-1][0] == last


def test_a_partition_that_cannot_be_made_now_never_fails_the_check(fleet, db, connect):
    db.execute(f"drop table {partitions(db)[-1][0]}")
    blocker = connect(autocommit=False)
    blocker.execute("lock table fleet.heartbeats_default in access exclusive mode")
    quiet = fleet.online_agent("quiet", silent_for=timedelta(minutes=6))

    run = db.execute("select outcome, detail from fleet.run_check_stale()").fetchone()
    blocker.rollback()

    assert run[0] == "ok"
    assert run[1]["partitions"]["sqlstate"] == "55P03"
    assert fleet.status(quiet) == "offline"


def test_an_insert_with_no_partition_for_its_time_lands_in_the_default_partition(fleet, aged):
    agent = fleet.register("edge-1")

    fleet.old_heartbeats(agent, timedelta(days=3))

    assert aged.execute("select tableoid::regclass::text from fleet.heartbeats").fetchall() == [
        ("fleet.heartbeats_default",)
    ]


def test_maintenance_moves_imported_history_into_real_partitions(fleet, aged):
    agent = fleet.register("edge-1")
    day = day_start(now(aged))
    hour = timedelta(hours=1)
    beats_at(aged, agent, day - 3 * DAY + 2 * hour, day - 3 * DAY + 3 * hour, day - 2 * DAY + hour)

    done = aged.execute("select fleet.maintain_heartbeat_partitions()").fetchone()[0]

    homes = aged.execute(
        "select tableoid::regclass::text, count(*) from fleet.heartbeats group by 1 order by 1"
    ).fetchall()
    assert homes == [
        (f"fleet.heartbeats_p{day - 3 * DAY:%Y%m%d}", 2),
        (f"fleet.heartbeats_p{day - 2 * DAY:%Y%m%d}", 1),
    ]
    assert done["moved_from_default"] == 3


def test_expired_history_in_the_default_partition_is_left_for_the_purge(fleet, aged):
    agent = fleet.register("edge-1")
    fleet.old_heartbeats(agent, EXPIRED)

    aged.execute("select fleet.maintain_heartbeat_partitions()")
    deleted = aged.execute("select fleet.purge_old_heartbeats(100)").fetchone()[0]

    assert deleted == 1
    assert fleet.heartbeat_count() == 0


def test_maintenance_makes_no_partition_for_expired_history(fleet, aged):
    agent = fleet.register("edge-1")
    fleet.old_heartbeats(agent, EXPIRED)

    aged.execute("select fleet.maintain_heartbeat_partitions()")

    held_in = aged.execute("select tableoid::regclass::text from fleet.heartbeats").fetchall()
    assert held_in == [("fleet.heartbeats_default",)]


def test_a_partition_made_while_a_heartbeat_is_written_into_its_range_takes_that_one_too(
    fleet, aged, connect
):
    """Today has no partition yet: its heartbeats wait in the default partition. One written
    while maintenance makes today's partition must neither fail the ATTACH nor be lost."""
    agent = fleet.register("edge-1")
    fleet.heartbeat(agent)
    writer = connect(autocommit=False)
    writer.execute("insert into fleet.heartbeats (agent_id) values (%s)", (agent,))
    maintainer, observer = connect(), connect()
    made = {}
    maintenance = threading.Thread(
        target=lambda: made.setdefault(
            "report", maintainer.execute("select fleet.maintain_heartbeat_partitions()").fetchone()
        )
    )
    maintenance.start()
    deadline = time.monotonic() + 10
    while not observer.execute(
        "select wait_event_type = 'Lock' from pg_stat_activity where pid = %s",
        (maintainer.info.backend_pid,),
    ).fetchone()[0]:
        assert time.monotonic() < deadline, "maintenance never waited for the writer"
        time.sleep(0.02)

    writer.commit()
    maintenance.join(10)

    assert made["report"][0]["moved_from_default"] == 2
    held_in = aged.execute("select distinct tableoid::regclass::text from fleet.heartbeats")
    assert held_in.fetchall() == [(f"fleet.heartbeats_p{day_start(now(aged)):%Y%m%d}",)]


# -- the purge ----------------------------------------------------------------------------------


def test_a_wholly_expired_partition_is_dropped_and_its_rows_counted(fleet, aged):
    agent = fleet.register("edge-1")
    old_day = day_start(now(aged)) - 40 * DAY
    name = make_partition(aged, old_day)
    beats_at(aged, agent, *(old_day + timedelta(hours=h) for h in range(5)))

    report = fleet.purge_all()

    [run] = fleet.runs("cleanup-heartbeats")
    assert report["deleted"] == 5
    assert run["detail"]["dropped_partitions"] == [f"fleet.{name}"]
    assert (run["detail"]["dropped_rows"], run["detail"]["deleted_rows"]) == (5, 0)
    assert aged.execute("select to_regclass(%s)", (f"fleet.{name}",)).fetchone() == (None,)


def test_only_the_partition_the_cutoff_cuts_through_is_deleted_row_by_row(fleet, aged):
    agent = fleet.register("edge-1")
    today = day_start(now(aged))
    for day in range(32, 28, -1):
        make_partition(aged, today - day * DAY)
    beats_at(aged, agent, *(today - 32 * DAY + timedelta(hours=h) for h in range(3 * 24)))
    cutoff = aged.execute("select fleet.ago(interval '30 days')").fetchone()[0]
    expired = aged.execute(
        "select count(*) from fleet.heartbeats where created_at < %s", (cutoff,)
    ).fetchone()[0]

    report = fleet.purge_all(batch=5)

    [run] = fleet.runs("cleanup-heartbeats")
    assert len(run["detail"]["dropped_partitions"]) == 2
    assert run["detail"]["dropped_rows"] == 48
    assert run["detail"]["deleted_rows"] == expired - 48
    assert report["deleted"] == expired
    assert fleet.heartbeat_count(older_than=timedelta(days=30)) == 0


def test_a_drop_that_cannot_get_its_lock_is_deferred_and_done_by_the_next_run(fleet, aged, connect):
    agent = fleet.register("edge-1")
    old_day = day_start(now(aged)) - 40 * DAY
    name = make_partition(aged, old_day)
    beats_at(aged, agent, old_day + timedelta(hours=12))
    reader = connect(autocommit=False)
    reader.execute("select count(*) from fleet.heartbeats")  # holds ACCESS SHARE on the parent

    first = fleet.purge_all()
    reader.rollback()
    second = fleet.purge_all()

    deferred, finished = fleet.runs("cleanup-heartbeats")
    assert (first["outcome"], first["backlog"]) == ("ok", True)
    assert deferred["detail"]["deferred"] == [f"fleet.{name}"]
    assert (second["deleted"], second["backlog"]) == (1, False)
    assert finished["detail"]["dropped_partitions"] == [f"fleet.{name}"]


def test_a_drop_gives_up_waiting_for_its_lock_after_a_second(fleet, aged, connect):
    """While a DROP waits for its lock, every heartbeat insert queues behind it."""
    agent = fleet.register("edge-1")
    old_day = day_start(now(aged)) - 40 * DAY
    make_partition(aged, old_day)
    beats_at(aged, agent, old_day + timedelta(hours=12))
    reader = connect(autocommit=False)
    reader.execute("select count(*) from fleet.heartbeats")  # holds ACCESS SHARE on the parent
    started = time.monotonic()

    report = fleet.purge_all()

    waited = time.monotonic() - started
    reader.rollback()
    assert (report["outcome"], report["backlog"]) == ("ok", True)
    assert waited < 5


def test_a_steady_night_drops_one_day_and_deletes_only_the_minutes_past_midnight(fleet, aged):
    agent = fleet.register("edge-1")
    today = day_start(now(aged))
    for day in range(31, 0, -1):
        make_partition(aged, today - day * DAY)
    # One heartbeat an hour for 31 days.
    aged.execute(
        "insert into fleet.heartbeats (agent_id, created_at) "
        "select %s, %s::timestamptz + n * interval '1 hour' from generate_series(0, 31 * 24 - 1) n",
        (agent, today - 31 * DAY),
    )

    report = fleet.purge_all(batch=1000)

    [run] = fleet.runs("cleanup-heartbeats")
    assert len(run["detail"]["dropped_partitions"]) == 1
    assert run["detail"]["dropped_rows"] == 24
    assert run["detail"]["deleted_rows"] <= 1 + (now(aged) - today).total_seconds() // 3600
    assert report["backlog"] is False
    assert fleet.heartbeat_count(older_than=timedelta(days=30)) == 0


def test_the_partitioned_layout_keeps_exactly_the_rows_a_plain_table_keeps(fleet, aged):
    """The same heartbeats in fleet.heartbeats (partitioned) and in a plain table: the purge
    leaves the same rows in both."""
    agent = fleet.register("edge-1")
    today = day_start(now(aged))
    for day in range(35, 25, -1):
        make_partition(aged, today - day * DAY)
    moments = [today - (25 + d) * DAY + timedelta(hours=h) for d in range(10) for h in (1, 13)]
    beats_at(aged, agent, *moments)
    aged.execute(
        "create table public.plain as select id, agent_id, created_at from fleet.heartbeats"
    )
    aged.execute("alter table public.plain add primary key (id)")
    aged.execute("create index on public.plain (created_at, id)")
    cutoff = aged.execute("select fleet.ago(interval '30 days')").fetchone()[0]

    fleet.purge_all(batch=3)

    kept_partitioned = aged.execute("select id from fleet.heartbeats order by id").fetchall()
    kept_plain = aged.execute(
        "select id from public.plain where created_at >= %s order by id", (cutoff,)
    ).fetchall()
    assert kept_partitioned == kept_plain
    assert 0 < len(kept_plain) < len(moments)


def test_inserts_go_on_while_the_purge_drops_partitions(fleet, aged, connect):
    agent = fleet.register("edge-1")
    today = day_start(now(aged))
    for day in range(40, 30, -1):
        make_partition(aged, today - day * DAY)
    beats_at(aged, agent, *(today - (31 + d) * DAY + timedelta(hours=3) for d in range(9)))
    writer = connect()
    failures, stop = [], threading.Event()

    def write():
        while not stop.is_set():
            try:
                writer.execute("select fleet.record_heartbeat(%s)", (agent,))
            except Exception as error:
                failures.append(error)

    thread = threading.Thread(target=write)
    thread.start()
    report = fleet.purge_all(batch=2)
    stop.set()
    thread.join(10)

    assert failures == []
    assert report["deleted"] == 9


def test_heartbeats_are_not_held_up_while_the_cleanup_job_prunes_its_logs(fleet, db, connect):
    """The cleanup job prunes fleet.job_runs and fleet.agent_events before it makes a due
    partition: making one locks fleet.heartbeats against writers until the transaction ends,
    and pruning months of events must not happen under that lock."""
    agent = fleet.register("edge-1")
    db.execute(f"drop table {partitions(db)[-1][0]}")  # a partition is due
    old_event = db.execute(
        "insert into fleet.agent_events (agent_id, from_status, to_status, reason, occurred_at) "
        "values (%s, 'online', 'offline', 'stale', now() - interval '91 days') returning id",
        (agent,),
    ).fetchone()[0]
    holder = connect(autocommit=False)
    holder.execute("select from fleet.agent_events where id = %s for update", (old_event,))
    purger, observer = connect(), connect()
    writer = connect(lock_timeout="500ms")
    done = {}
    purge = threading.Thread(
        target=lambda: done.setdefault(
            "report", purger.execute("call fleet.purge_old_heartbeats_all()").fetchone()
        )
    )
    purge.start()
    deadline = time.monotonic() + 10
    while not observer.execute(
        "select wait_event_type = 'Lock' from pg_stat_activity where pid = %s",
        (purger.info.backend_pid,),
    ).fetchone()[0]:
        assert time.monotonic() < deadline, "the cleanup job never waited to prune"
        time.sleep(0.02)

    writer.execute("insert into fleet.heartbeats (agent_id) values (%s)", (agent,))
    holder.rollback()
    purge.join(10)

    assert done["report"][1] == "ok"
    assert fleet.heartbeat_count() == 1
    [run] = fleet.runs("cleanup-heartbeats")
    assert (run["detail"]["events_pruned"], len(run["detail"]["partitions"]["created"])) == (1, 1)


def test_a_hand_purge_that_drops_an_empty_partition_goes_on_so_that_only_0_means_done(fleet, aged):
    agent = fleet.register("edge-1")
    make_partition(aged, day_start(now(aged)) - 40 * DAY)  # expired, and empty
    fleet.old_heartbeats(agent, 45 * DAY, 45 * DAY)  # expired, in the default partition

    first = aged.execute("select fleet.purge_old_heartbeats(100)").fetchone()[0]
    second = aged.execute("select fleet.purge_old_heartbeats(100)").fetchone()[0]

    assert (first, second) == (2, 0)
    assert fleet.heartbeat_count() == 0


def test_a_hand_purge_goes_on_past_a_partition_it_cannot_drop_now(fleet, aged, connect):
    agent = fleet.register("edge-1")
    old_day = day_start(now(aged)) - 40 * DAY
    make_partition(aged, old_day)
    beats_at(aged, agent, old_day + timedelta(hours=12))
    fleet.old_heartbeats(agent, 45 * DAY)  # expired, in the default partition
    reader = connect(autocommit=False)
    reader.execute("select count(*) from fleet.heartbeats")  # holds ACCESS SHARE on the parent

    deleted = aged.execute("select fleet.purge_old_heartbeats(100)").fetchone()[0]
    reader.rollback()

    assert deleted == 1
    assert fleet.heartbeat_count() == 1


def test_a_hand_purge_left_only_a_partition_it_cannot_drop_now_says_so_rather_than_0(
    fleet, aged, connect
):
    agent = fleet.register("edge-1")
    old_day = day_start(now(aged)) - 40 * DAY
    name = make_partition(aged, old_day)
    beats_at(aged, agent, old_day + timedelta(hours=12))
    reader = connect(autocommit=False)
    reader.execute("select count(*) from fleet.heartbeats")  # holds ACCESS SHARE on the parent

    with pytest.raises(errors.LockNotAvailable) as refused:
        aged.execute("select fleet.purge_old_heartbeats(100)")
    reader.rollback()

    assert refused.value.diag.message_primary == (
        f"the expired partition fleet.{name} cannot be dropped now: another transaction holds "
        "a lock on it or on fleet.heartbeats (waited 1s)"
    )
    assert fleet.heartbeat_count() == 1


def test_maintenance_leaves_the_callers_lock_timeout_as_it_was(db, connect):
    session = connect(autocommit=False, lock_timeout="30s")

    session.execute("select fleet.maintain_heartbeat_partitions()")

    assert session.execute("show lock_timeout").fetchone() == ("30s",)
    session.rollback()


def test_a_hand_purge_that_drops_a_partition_leaves_the_callers_lock_timeout_as_it_was(
    fleet, aged, connect
):
    agent = fleet.register("edge-1")
    old_day = day_start(now(aged)) - 40 * DAY
    make_partition(aged, old_day)
    beats_at(aged, agent, old_day + timedelta(hours=12))
    session = connect(autocommit=False, lock_timeout="30s")

    deleted = session.execute("select fleet.purge_old_heartbeats(100)").fetchone()[0]

    assert (deleted, session.execute("show lock_timeout").fetchone()) == (1, ("30s",))
    session.rollback()
