"""cleanup-heartbeats: bounded batches, oldest first, only past the retention, with a run log."""

import threading
import time
from datetime import timedelta

import pytest
from psycopg import errors
from psycopg.rows import dict_row

from deployer.runtime import jobs

RETENTION = timedelta(days=30)
EXPIRED = timedelta(days=40)
FRESH = timedelta(days=1)


@pytest.fixture
def agent(fleet):
    return fleet.register("edge-1")


def purge_batch(db, batch=None):
    return db.execute("select fleet.purge_old_heartbeats(%s)", (batch,)).fetchone()[0]


# -- one batch: fleet.purge_old_heartbeats ------------------------------------------------------


def test_a_batch_deletes_at_most_batch_rows(fleet, db, agent):
    fleet.heartbeat_series(agent, 25, oldest=EXPIRED)

    deleted = purge_batch(db, 10)

    assert deleted == 10
    assert fleet.heartbeat_count() == 15


def test_a_batch_deletes_the_oldest_rows_first(fleet, db, agent):
    fleet.heartbeat_series(agent, 5, oldest=EXPIRED, spacing=timedelta(hours=1))

    purge_batch(db, 2)

    ages = fleet.heartbeat_ages()
    assert len(ages) == 3
    assert max(ages) < EXPIRED - timedelta(hours=1.5)


def test_a_batch_never_touches_rows_inside_the_retention(fleet, db, agent):
    fleet.heartbeat_series(agent, 3, oldest=EXPIRED)
    fleet.heartbeat_series(agent, 3, oldest=FRESH)

    deleted = purge_batch(db, 100)

    assert deleted == 3
    assert fleet.heartbeat_count() == 3
    assert fleet.heartbeat_count(older_than=RETENTION) == 0


def test_a_batch_returns_zero_when_nothing_has_expired(fleet, db, agent):
    fleet.heartbeat_series(agent, 3, oldest=FRESH)

    assert purge_batch(db, 100) == 0


def rows_around_the_boundary(session, agent, retention: str) -> None:
    """Rows exactly at ``retention`` before now and one microsecond older, in the caller's
    transaction, so the purge that follows in it sees the same now()."""
    session.execute(
        "insert into fleet.heartbeats (agent_id, created_at) values "
        "(%s, now() - %s::interval), (%s, now() - %s::interval - interval '1 microsecond')",
        (agent, retention, agent, retention),
    )


def test_a_row_exactly_at_the_retention_boundary_stays_and_one_a_microsecond_older_goes(
    fleet, connect, agent
):
    session = connect(autocommit=False)
    rows_around_the_boundary(session, agent, "30 days")

    deleted = purge_batch(session, 100)
    kept = session.execute("select now() - created_at from fleet.heartbeats").fetchall()
    session.commit()

    assert (deleted, kept) == (1, [(timedelta(days=30),)])


def test_the_retention_comes_from_config(fleet, connect, agent):
    fleet.configure(heartbeat_retention=timedelta(days=8))
    session = connect(autocommit=False)
    rows_around_the_boundary(session, agent, "8 days")

    deleted = purge_batch(session, 100)
    kept = session.execute("select now() - created_at from fleet.heartbeats").fetchall()
    session.commit()

    assert (deleted, kept) == (1, [(timedelta(days=8),)])


def test_the_default_batch_size_comes_from_config(fleet, db, agent):
    fleet.heartbeat_series(agent, 10, oldest=EXPIRED)
    fleet.configure(purge_batch_size=4)

    assert purge_batch(db) == 4


def test_rows_stamped_in_one_transaction_are_split_across_batches(fleet, db, agent):
    fleet.heartbeat_series(agent, 25, oldest=EXPIRED, spacing=timedelta(0))

    deleted = [purge_batch(db, 10) for _ in range(4)]

    assert deleted == [10, 10, 5, 0]


@pytest.mark.parametrize("batch", [0, -5, 1_000_001])
def test_a_batch_outside_1_to_a_million_rows_is_refused_and_deletes_nothing(
    fleet, db, agent, batch
):
    fleet.heartbeat_series(agent, 3, oldest=EXPIRED)

    with pytest.raises(errors.InvalidParameterValue, match="batch must be between 1 and 1000000"):
        purge_batch(db, batch)

    assert fleet.heartbeat_count() == 3


def purge_step(db, batch, relation=None, after_time=None, after_key=None) -> dict:
    """One fleet.purge_step, optionally continuing after a cursor in ``relation``."""
    with db.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "select * from fleet.purge_step(%s, %s::regclass, %s, %s)",
            (batch, relation, after_time, after_key),
        ).fetchone()


def test_a_step_continues_after_the_cursor_it_returned_and_leaves_rows_behind_it(fleet, db, agent):
    fleet.heartbeat_series(agent, 30, oldest=EXPIRED)
    first = purge_step(db, 10)
    # A row that arrives behind the cursor (a backdated import) is not this pass's business.
    fleet.old_heartbeats(agent, EXPIRED + timedelta(days=1))

    second = purge_step(db, 10, first["worked_on"], first["last_time"], first["last_key"])

    assert (first["action"], first["deleted"], first["more_here"]) == ("deleted", 10, True)
    assert (second["action"], second["deleted"], second["more_here"]) == ("deleted", 10, True)
    assert (second["last_time"], int(second["last_key"])) > (
        first["last_time"],
        int(first["last_key"]),
    )
    assert fleet.heartbeat_count() == 11
    assert max(fleet.heartbeat_ages()) > EXPIRED + timedelta(hours=23)


def test_a_row_exactly_at_the_retention_boundary_stays_when_a_step_continues_from_a_cursor(
    fleet, connect, agent
):
    session = connect(autocommit=False)
    rows_around_the_boundary(session, agent, "30 days")

    first = purge_step(session, 1)
    second = purge_step(session, 1, first["worked_on"], first["last_time"], first["last_key"])
    kept = session.execute("select now() - created_at from fleet.heartbeats").fetchall()
    session.commit()

    assert (first["deleted"], second["deleted"]) == (1, 0)
    assert kept == [(timedelta(days=30),)]


def test_a_cursor_without_its_relation_or_half_a_cursor_is_refused(db):
    for call in (
        "select * from fleet.purge_step(10, null, now()::text, '1')",
        "select * from fleet.purge_step(10, 'fleet.heartbeats_default', now()::text, null)",
    ):
        with pytest.raises(errors.InvalidParameterValue, match="give a cursor"):
            db.execute(call)


def test_a_cursor_on_a_table_that_is_not_the_heartbeats_is_refused(db):
    with pytest.raises(errors.InvalidParameterValue, match="not the heartbeats table"):
        db.execute("select * from fleet.purge_step(10, 'fleet.agents', now()::text, '1')")


# -- the job: fleet.purge_old_heartbeats_all ----------------------------------------------------


def test_the_job_deletes_every_expired_row_in_batches(fleet, agent):
    fleet.heartbeat_series(agent, 95, oldest=EXPIRED)
    fleet.heartbeat_series(agent, 5, oldest=FRESH)

    report = fleet.purge_all(batch=10)

    assert (report["outcome"], report["deleted"], report["batches"]) == ("ok", 95, 10)
    assert report["backlog"] is False
    assert fleet.heartbeat_count() == 5


def test_the_job_records_its_run(fleet, agent):
    fleet.heartbeat_series(agent, 12, oldest=EXPIRED)

    report = fleet.purge_all(batch=5, triggered_by="cli")

    [run] = fleet.runs("cleanup-heartbeats")
    assert run["id"] == report["run_id"]
    assert (run["outcome"], run["rows_affected"], run["triggered_by"]) == ("ok", 12, "cli")
    assert run["detail"]["batches"] == 3
    assert run["detail"]["backlog"] is False


def test_the_job_stops_when_its_time_budget_is_spent_and_reports_the_backlog(fleet, agent):
    fleet.heartbeat_series(agent, 50, oldest=EXPIRED)

    report = fleet.purge_all(batch=10, time_budget=timedelta(microseconds=1))

    assert (report["deleted"], report["batches"], report["backlog"]) == (10, 1, True)
    assert fleet.heartbeat_count() == 40


def test_the_next_run_finishes_the_backlog_without_losing_or_recounting_rows(fleet, agent):
    fleet.heartbeat_series(agent, 50, oldest=EXPIRED)
    first = fleet.purge_all(batch=10, time_budget=timedelta(microseconds=1))

    second = fleet.purge_all(batch=10)

    assert first["deleted"] + second["deleted"] == 50
    assert second["backlog"] is False
    assert sum(run["rows_affected"] for run in fleet.runs("cleanup-heartbeats")) == 50


def test_the_job_prunes_old_runs_and_events(fleet, db, agent):
    fleet.heartbeat(agent)  # one event, fresh
    db.execute(
        "insert into fleet.job_runs (job, triggered_by, outcome, started_at, finished_at) "
        "values ('check-stale', 'other', 'ok', now() - interval '31 days', "
        "now() - interval '31 days')"
    )
    db.execute(
        "insert into fleet.agent_events (agent_id, from_status, to_status, reason, occurred_at) "
        "values (%s, 'online', 'offline', 'stale', now() - interval '91 days')",
        (agent,),
    )

    fleet.purge_all()

    [run] = fleet.runs()
    assert run["job"] == "cleanup-heartbeats"
    assert (run["detail"]["job_runs_pruned"], run["detail"]["events_pruned"]) == (1, 1)
    assert len(fleet.events()) == 1


def test_each_log_is_pruned_at_its_own_retention(fleet, db, agent):
    for age in ("29 days", "31 days"):  # job_run_retention: 30 days
        db.execute(
            "insert into fleet.job_runs (job, triggered_by, outcome, started_at, finished_at) "
            "values ('check-stale', 'other', 'ok', now() - %s::interval, now() - %s::interval)",
            (age, age),
        )
    for age in ("89 days", "91 days"):  # event_retention: 90 days
        db.execute(
            "insert into fleet.agent_events (agent_id, from_status, to_status, reason, "
            "occurred_at) values (%s, 'online', 'offline', 'stale', now() - %s::interval)",
            (agent, age),
        )

    pruned = db.execute("select job_runs_pruned, events_pruned from fleet.prune_run_log()")

    assert pruned.fetchone() == (1, 1)
    assert (len(fleet.runs()), len(fleet.events())) == (1, 1)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"batch": 0}, "batch must be between 1 and 1000000 rows"),
        ({"batch": 2_000_000}, "batch must be between 1 and 1000000 rows"),
        ({"time_budget": timedelta(0)}, "time_budget must be more than 0 and at most 1 day"),
        ({"time_budget": timedelta(seconds=-1)}, "time_budget must be more than 0"),
        ({"time_budget": timedelta(days=2)}, "at most 1 day"),
        ({"triggered_by": "someone"}, "triggered_by must be one of"),
    ],
)
def test_bad_arguments_are_refused_before_anything_changes(fleet, agent, arguments, message):
    fleet.heartbeat_series(agent, 3, oldest=EXPIRED)

    with pytest.raises(errors.InvalidParameterValue, match=message):
        fleet.purge_all(**arguments)

    assert fleet.heartbeat_count() == 3
    assert fleet.runs() == []


def test_the_job_refuses_to_run_inside_a_transaction_block_and_changes_nothing(fleet, db, agent):
    fleet.heartbeat_series(agent, 3, oldest=EXPIRED)

    with pytest.raises(errors.InvalidTransactionTermination), db.transaction():
        db.execute("call fleet.purge_old_heartbeats_all()")

    assert fleet.heartbeat_count() == 3
    assert fleet.runs() == []


def test_a_run_while_another_is_still_going_is_skipped(fleet, db, agent):
    fleet.heartbeat_series(agent, 3, oldest=EXPIRED)
    db.execute(
        "insert into fleet.job_runs (job, triggered_by, outcome, deadline, lease_token, "
        "backend_pid) values ('cleanup-heartbeats', 'vercel', 'running', "
        "now() + interval '5 minutes', gen_random_uuid(), pg_backend_pid())"
    )

    report = fleet.purge_all()

    assert (report["outcome"], report["deleted"]) == ("skipped", 0)
    assert fleet.heartbeat_count() == 3
    assert fleet.runs()[-1]["detail"]["running_run_id"] == fleet.runs()[0]["id"]


def test_a_run_that_died_is_marked_abandoned_and_does_not_block_the_next(fleet, db, agent):
    fleet.heartbeat_series(agent, 3, oldest=EXPIRED)
    db.execute(
        "insert into fleet.job_runs "
        "(job, triggered_by, outcome, started_at, deadline, lease_token, backend_pid) "
        "values ('cleanup-heartbeats', 'vercel', 'running', now() - interval '1 hour', "
        "now() - interval '50 minutes', gen_random_uuid(), pg_backend_pid())"
    )

    report = fleet.purge_all()

    dead, current = fleet.runs()
    assert (dead["outcome"], dead["detail"]["error"][:9]) == ("error", "abandoned")
    assert (current["id"], current["outcome"]) == (report["run_id"], "ok")
    assert fleet.heartbeat_count() == 0


def test_a_run_whose_session_ended_is_retired_at_once_by_the_next(fleet, db, connect, agent):
    fleet.heartbeat_series(agent, 3, oldest=EXPIRED)
    gone = connect()
    gone_pid = gone.info.backend_pid
    gone.close()
    db.execute(
        "insert into fleet.job_runs (job, triggered_by, outcome, deadline, lease_token, "
        "backend_pid) values ('cleanup-heartbeats', 'cli', 'running', "
        "now() + interval '5 minutes', gen_random_uuid(), %s)",
        (gone_pid,),
    )
    wait_for_backend_exit(db, gone_pid)

    report = fleet.purge_all()

    dead, _ = fleet.runs()
    assert (dead["outcome"], dead["detail"]["error"]) == (
        "error",
        "abandoned: its session ended before it finished",
    )
    assert (report["outcome"], report["deleted"]) == ("ok", 3)


def test_a_run_whose_backend_does_not_report_its_activity_is_not_taken_for_dead(
    fleet, db, connect, agent
):
    """With track_activities off, pg_stat_activity shows a backend's state as 'disabled': it
    says nothing about whether the CALL holding the lease has ended, so the run stays alive
    while its backend exists and its lease holds."""
    fleet.heartbeat_series(agent, 3, oldest=EXPIRED)
    untracked = connect(track_activities="off")
    db.execute(
        "insert into fleet.job_runs (job, triggered_by, outcome, deadline, lease_token, "
        "backend_pid, statement_started) values ('cleanup-heartbeats', 'cli', 'running', "
        "now() + interval '5 minutes', gen_random_uuid(), %s, now())",
        (untracked.info.backend_pid,),
    )

    report = fleet.purge_all()

    running, skipped = fleet.runs()
    assert (running["outcome"], skipped["outcome"]) == ("running", "skipped")
    assert (report["outcome"], report["deleted"]) == ("skipped", 0)
    assert fleet.heartbeat_count() == 3


def wait_for_backend_exit(db, pid, timeout=5.0):
    deadline = time.monotonic() + timeout
    while db.execute("select count(*) from pg_stat_activity where pid = %s", (pid,)).fetchone()[0]:
        assert time.monotonic() < deadline, f"backend {pid} is still there"
        time.sleep(0.02)


def test_an_error_in_a_batch_is_recorded_raised_and_keeps_earlier_batches(fleet, connect, agent):
    fleet.heartbeat_series(agent, 30, oldest=EXPIRED)
    # Lock the 15th-oldest row so the second batch of 10 cannot delete it in time.
    blocker = connect(autocommit=False)
    blocker.execute(
        "select 1 from fleet.heartbeats where id = "
        "(select id from fleet.heartbeats order by created_at, id offset 14 limit 1) for update"
    )
    impatient = connect(lock_timeout="300ms")

    with pytest.raises(errors.LockNotAvailable) as raised:
        impatient.execute("call fleet.purge_old_heartbeats_all(batch => 10)")

    blocker.rollback()
    [run] = fleet.runs()
    assert (run["outcome"], run["rows_affected"]) == ("error", 10)
    assert run["detail"]["sqlstate"] == "55P03"
    assert f"run {run['id']} was recorded as error after deleting 10 rows" in (
        raised.value.diag.message_hint
    )
    assert fleet.heartbeat_count() == 20


def test_a_cancelled_run_is_recorded_and_keeps_the_batches_it_committed(fleet, connect, agent):
    fleet.heartbeat_series(agent, 30, oldest=EXPIRED)
    blocker = connect(autocommit=False)
    blocker.execute(
        "select 1 from fleet.heartbeats where id = "
        "(select id from fleet.heartbeats order by created_at, id offset 14 limit 1) for update"
    )
    purger, observer = connect(), connect()
    outcome = {}

    def purge():
        try:
            purger.execute("call fleet.purge_old_heartbeats_all(batch => 10)")
        except errors.QueryCanceled:
            outcome["cancelled"] = True

    thread = threading.Thread(target=purge)
    thread.start()
    deadline = time.monotonic() + 10
    while (
        time.monotonic() < deadline
        and not observer.execute(
            "select wait_event_type = 'Lock' from pg_stat_activity where pid = %s",
            (purger.info.backend_pid,),
        ).fetchone()[0]
    ):
        time.sleep(0.02)
    purger.cancel_safe()
    thread.join(10)
    blocker.rollback()

    assert outcome == {"cancelled": True}
    [run] = fleet.runs()
    assert (run["outcome"], run["rows_affected"], run["detail"]["sqlstate"]) == (
        "error",
        10,
        "57014",
    )
    assert fleet.heartbeat_count() == 20


def test_a_ctrl_c_while_progress_is_shown_stops_the_run_as_an_interrupt_keeping_its_batches(
    fleet, db_url, agent
):
    """Ctrl-C in `fleetcron run cleanup-heartbeats` lands wherever Python runs: often in the
    progress callback, which libpq calls and whose exceptions it would swallow."""
    fleet.heartbeat_series(agent, 50, oldest=EXPIRED)
    shown = []

    def progress(report):
        shown.append(report)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        jobs.run(
            db_url, jobs.CLEANUP_HEARTBEATS, triggered_by="cli", batch=10, on_progress=progress
        )

    [run] = fleet.runs()
    assert (run["outcome"], run["detail"]["sqlstate"]) == ("error", "57014")
    assert run["rows_affected"] == 50 - fleet.heartbeat_count() >= shown[0]["deleted"] > 0


def test_the_job_refuses_to_run_under_repeatable_read(fleet, connect, agent):
    fleet.heartbeat_series(agent, 3, oldest=EXPIRED)
    strict = connect(default_transaction_isolation="repeatable read")

    with pytest.raises(errors.InvalidTransactionState, match="READ COMMITTED"):
        strict.execute("call fleet.purge_old_heartbeats_all()")

    assert fleet.heartbeat_count() == 3
    assert fleet.runs() == []


def test_each_committed_batch_is_counted_on_the_run_and_renews_its_lease(fleet, db, agent):
    fleet.heartbeat_series(agent, 25, oldest=EXPIRED)
    run_id, _, token, _ = db.execute("select * from fleet.claim_purge_run(10)").fetchone()
    first_deadline = fleet.runs()[0]["deadline"]

    step = db.execute(
        "select run_deleted, run_batches, keep_going from fleet.purge_run_batch(%s, %s)",
        (run_id, token),
    ).fetchone()

    [run] = fleet.runs()
    assert step == (10, 1, True)
    assert (run["outcome"], run["rows_affected"], run["detail"]["batches"]) == ("running", 10, 1)
    assert run["deadline"] > first_deadline


def test_a_statement_timeout_on_the_session_shrinks_the_time_budget(fleet, connect, agent):
    fleet.heartbeat_series(agent, 3, oldest=EXPIRED)
    limited = connect(statement_timeout="30s")

    limited.execute("call fleet.purge_old_heartbeats_all(time_budget => interval '4 minutes')")

    [run] = fleet.runs()
    assert (run["detail"]["time_budget"], run["detail"]["statement_timeout"]) == (
        "00:00:24",
        "00:00:30",
    )


def test_a_budget_within_the_statement_timeout_still_shrinks_to_80_percent_of_it(
    fleet, connect, agent
):
    fleet.heartbeat_series(agent, 3, oldest=EXPIRED)
    limited = connect(statement_timeout="30s")

    limited.execute("call fleet.purge_old_heartbeats_all(time_budget => interval '25 seconds')")

    [run] = fleet.runs()
    assert run["detail"]["time_budget"] == "00:00:24"


def test_a_skipped_run_reports_no_backlog_value(fleet, db, agent):
    db.execute(
        "insert into fleet.job_runs (job, triggered_by, outcome, deadline, lease_token, "
        "backend_pid) values ('cleanup-heartbeats', 'vercel', 'running', "
        "now() + interval '5 minutes', gen_random_uuid(), pg_backend_pid())"
    )

    report = fleet.purge_all()

    assert (report["outcome"], report["deleted"], report["backlog"]) == ("skipped", 0, None)


def test_pruning_never_deletes_a_run_still_running(fleet, db, agent):
    fleet.configure(job_run_retention=timedelta(days=1))
    db.execute(
        "insert into fleet.job_runs (job, triggered_by, outcome, started_at, deadline, "
        "lease_token, backend_pid) values ('check-stale', 'cli', 'running', "
        "now() - interval '3 days', now() + interval '1 minute', gen_random_uuid(), 1)"
    )

    db.execute("select * from fleet.prune_run_log()")

    assert [run["outcome"] for run in fleet.runs()] == ["running"]
