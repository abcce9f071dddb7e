"""Revision 0001 is deployed: a populated 0001 database upgrades to head and back, losing nothing.

The upgrade turns fleet.heartbeats into a partitioned table without copying it and without a
long lock: the old table becomes heartbeats_legacy, the partition of everything before the
first day partition (0002 renames and prepares it, 0003 validates and attaches it).
"""

import threading
import time
from datetime import timedelta

import psycopg
import pytest
from psycopg.types.json import Jsonb

from deployer import migrate
from deployer.runtime import jobs
from tests.catalog import catalog
from tests.fleet import Fleet

HEARTBEATS = "select id, agent_id, created_at, payload from fleet.heartbeats order by id"
EXPIRED_ROWS = 40 * 24 - 720 + 1


@pytest.fixture
def at_0001(new_database):
    """A database at revision 0001 with a fleet, weeks of heartbeats, events and runs."""
    url = new_database()
    migrate.upgrade(url, "0001")
    with psycopg.connect(url, autocommit=True) as conn:
        fleet = Fleet(conn)
        quiet = fleet.online_agent("quiet", silent_for=timedelta(minutes=6))
        chatty = fleet.online_agent("chatty", silent_for=timedelta(seconds=10))
        fleet.register("never-seen")
        # Half-past the hour, so none sits on the 30-day boundary: hours 720 to 960 expire.
        conn.execute(
            "insert into fleet.heartbeats (agent_id, created_at, payload) "
            "select %s, now() - n * interval '1 hour' - interval '30 minutes', "
            "jsonb_build_object('n', n) from generate_series(1, 40 * 24) as n",
            (chatty,),
        )
        conn.execute("select fleet.run_check_stale('psql')")
        conn.execute("update fleet.agents set last_heartbeat = now() where id = %s", (quiet,))
    return url


def rows(url, query, params=None):
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


def test_every_heartbeat_agent_event_and_run_survives_the_upgrade(at_0001):
    before = {
        query: rows(at_0001, query)
        for query in (
            HEARTBEATS,
            "select * from fleet.agents order by id",
            "select id, agent_id, from_status, to_status, reason, run_id "
            "from fleet.agent_events order by id",
            "select id, job, outcome, rows_affected from fleet.job_runs order by id",
        )
    }

    migrate.upgrade(at_0001)

    for query, expected in before.items():
        assert rows(at_0001, query) == expected, query


def test_the_old_table_becomes_the_partition_of_the_past(at_0001):
    migrate.upgrade(at_0001)

    [(relkind, parent, bound)] = rows(
        at_0001,
        "select c.relkind::text, i.inhparent::regclass::text, pg_get_expr(c.relpartbound, c.oid) "
        "from pg_class as c join pg_inherits as i on i.inhrelid = c.oid "
        "where c.oid = 'fleet.heartbeats_legacy'::regclass",
    )
    assert (relkind, parent) == ("r", "fleet.heartbeats")
    assert bound.startswith("FOR VALUES FROM (MINVALUE) TO (")


def test_new_heartbeats_get_ids_after_the_old_ones_and_land_in_day_partitions(at_0001):
    old_max = rows(at_0001, "select max(id) from fleet.heartbeats")[0][0]
    migrate.upgrade(at_0001)

    with psycopg.connect(at_0001, autocommit=True) as conn:
        agent = conn.execute("select id from fleet.agents where name = 'chatty'").fetchone()[0]
        conn.execute(
            "insert into fleet.heartbeats (agent_id, created_at) "
            "values (%s, now() + interval '3 days')",
            (agent,),
        )
        new_id = conn.execute("select max(id) from fleet.heartbeats").fetchone()[0]

    assert new_id > old_max


def test_both_jobs_work_on_the_upgraded_database(at_0001):
    migrate.upgrade(at_0001)

    with psycopg.connect(at_0001, autocommit=True) as conn:
        fleet = Fleet(conn)
        chatty = conn.execute("select id from fleet.agents where name = 'chatty'").fetchone()[0]
        fleet.silence(chatty, timedelta(minutes=6))
        marked = conn.execute("select agent_name from fleet.mark_stale_agents()").fetchall()
        report = fleet.purge_all(batch=100)
        left = fleet.heartbeat_count(older_than=timedelta(days=30))

    assert marked == [("chatty",)]
    assert (report["outcome"], report["deleted"], left) == ("ok", EXPIRED_ROWS, 0)


def test_the_code_of_this_revision_runs_against_a_database_still_at_0001(at_0001):
    """The Vercel functions and the database deploy separately."""
    result = jobs.run(at_0001, jobs.CHECK_STALE, triggered_by="vercel")
    cleanup = jobs.run(at_0001, jobs.CLEANUP_HEARTBEATS, triggered_by="vercel")

    assert (result.outcome, cleanup.outcome, cleanup.rows_affected) == ("ok", "ok", EXPIRED_ROWS)


def test_heartbeat_writers_are_never_refused_during_the_upgrade(at_0001):
    agent = rows(at_0001, "select id from fleet.agents where name = 'chatty'")[0][0]
    failures, written, stop = [], [0], threading.Event()

    def write():
        with psycopg.connect(at_0001, autocommit=True) as conn:
            while not stop.is_set():
                try:
                    conn.execute("insert into fleet.heartbeats (agent_id) values (%s)", (agent,))
                    written[0] += 1
                except psycopg.Error as error:
                    failures.append(error)
                time.sleep(0.002)

    writer = threading.Thread(target=write)
    writer.start()
    time.sleep(0.2)
    migrate.upgrade(at_0001)
    time.sleep(0.2)
    stop.set()
    writer.join(10)

    assert failures == []
    assert written[0] > 0
    assert (
        rows(
            at_0001,
            "select count(*) from fleet.heartbeats where created_at > now() - interval '1 minute'",
        )[0][0]
        >= written[0]
    )


def test_heartbeats_that_arrive_between_0002_and_0003_end_up_in_the_legacy_partition(at_0001):
    migrate.upgrade(at_0001, "0002")
    with psycopg.connect(at_0001, autocommit=True) as conn:
        agent = conn.execute("select id from fleet.agents where name = 'chatty'").fetchone()[0]
        conn.execute(
            "insert into fleet.heartbeats (agent_id, payload) values (%s, %s)",
            (agent, Jsonb({"between": True})),
        )
        waiting = conn.execute("select count(*) from fleet.heartbeats_default").fetchone()[0]

    migrate.upgrade(at_0001)

    assert waiting == 1
    assert rows(at_0001, "select count(*) from fleet.heartbeats_default") == [(0,)]
    assert rows(
        at_0001,
        "select tableoid::regclass::text from fleet.heartbeats where payload ? 'between'",
    ) == [("fleet.heartbeats_legacy",)]


def test_downgrading_to_0001_keeps_every_heartbeat_and_restores_the_0001_catalog(
    at_0001, new_database
):
    straight = new_database()
    migrate.upgrade(straight, "0001")
    migrate.upgrade(at_0001)
    with psycopg.connect(at_0001, autocommit=True) as conn:
        agent = conn.execute("select id from fleet.agents where name = 'chatty'").fetchone()[0]
        conn.execute("insert into fleet.heartbeats (agent_id) values (%s)", (agent,))
    before = rows(at_0001, HEARTBEATS)

    migrate.downgrade(at_0001, "0001")

    assert rows(at_0001, HEARTBEATS) == before
    assert catalog(at_0001) == catalog(straight)


def test_down_to_0002_and_up_again_attaches_the_legacy_partition_again(at_0001):
    migrate.upgrade(at_0001)
    before = rows(at_0001, HEARTBEATS)

    migrate.downgrade(at_0001, "0002")
    detached = rows(
        at_0001,
        "select count(*) from pg_inherits where inhrelid = 'fleet.heartbeats_legacy'::regclass",
    )
    migrate.upgrade(at_0001)

    assert detached == [(0,)]
    assert rows(at_0001, HEARTBEATS) == before


# -- revision 0004 on a populated database at 0003 --------------------------------------------

QUERIES_0003 = (
    HEARTBEATS,
    "select * from fleet.agents order by id",
    "select id, agent_id, from_status, to_status, reason, run_id from fleet.agent_events "
    "order by id",
    "select id, job, outcome, rows_affected, detail from fleet.job_runs order by id",
    "select * from fleet.registration",
    "select * from fleet.config",
)


@pytest.fixture
def at_0003(new_database):
    """A database at revision 0003 with a fleet, weeks of heartbeats, events and runs of both
    jobs, one of which left a backlog."""
    url = new_database()
    migrate.upgrade(url, "0003")
    with psycopg.connect(url, autocommit=True) as conn:
        fleet = Fleet(conn)
        quiet = fleet.online_agent("quiet", silent_for=timedelta(minutes=6))
        chatty = fleet.online_agent("chatty", silent_for=timedelta(seconds=10))
        fleet.register("never-seen")
        conn.execute(
            "insert into fleet.heartbeats (agent_id, created_at, payload) "
            "select %s, now() - n * interval '1 hour' - interval '30 minutes', "
            "jsonb_build_object('n', n) from generate_series(1, 40 * 24) as n",
            (chatty,),
        )
        conn.execute("select fleet.run_check_stale('psql')")
        fleet.purge_all(batch=10, time_budget=timedelta(microseconds=1))
        conn.execute("update fleet.agents set last_heartbeat = now() where id = %s", (quiet,))
    return url


def test_every_row_survives_the_upgrade_from_0003(at_0003):
    before = {query: rows(at_0003, query) for query in QUERIES_0003}

    migrate.upgrade(at_0003)

    assert {query: rows(at_0003, query) for query in QUERIES_0003} == before


def test_downgrading_to_0003_keeps_every_row_and_restores_the_0003_catalog(at_0003):
    before = {query: rows(at_0003, query) for query in QUERIES_0003}
    catalog_0003 = catalog(at_0003)
    migrate.upgrade(at_0003)

    migrate.downgrade(at_0003, "0003")

    assert {query: rows(at_0003, query) for query in QUERIES_0003} == before
    assert catalog(at_0003) == catalog_0003


def test_both_jobs_finish_their_work_on_a_database_upgraded_from_0003(at_0003):
    migrate.upgrade(at_0003)

    with psycopg.connect(at_0003, autocommit=True) as conn:
        fleet = Fleet(conn)
        chatty = conn.execute("select id from fleet.agents where name = 'chatty'").fetchone()[0]
        fleet.silence(chatty, timedelta(minutes=6))
        marked = conn.execute("select agent_name from fleet.mark_stale_agents()").fetchall()
        report = fleet.purge_all(batch=100)
        left = fleet.heartbeat_count(older_than=timedelta(days=30))

    assert marked == [("chatty",)]
    assert (report["outcome"], report["deleted"], left) == ("ok", EXPIRED_ROWS - 10, 0)


def test_0003s_steps_outside_a_transaction_give_up_behind_a_lock_and_resume_later(at_0001):
    migrate.upgrade(at_0001, "0002")
    holder = psycopg.connect(at_0001)
    holder.execute("lock table fleet.heartbeats_legacy in share mode")  # e.g. a long CREATE INDEX
    started = time.monotonic()

    with pytest.raises(Exception, match="lock timeout"):
        migrate.upgrade(at_0001)

    assert time.monotonic() - started < 30
    holder.close()
    migrate.upgrade(at_0001)
    assert rows(at_0001, "select fleet.alembic_version.version_num from fleet.alembic_version") == [
        (migrate.head(),)
    ]
