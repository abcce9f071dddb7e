"""check-stale: quiet online agents go offline, once, with an event, a NOTIFY and a run row."""

import json
from datetime import timedelta

import pytest
from psycopg import errors

FIVE_MINUTES = timedelta(minutes=5)


def run_check_stale(db, triggered_by=None):
    return db.execute(
        "select id, outcome, rows_affected, triggered_by from fleet.run_check_stale(%s)",
        (triggered_by,),
    ).fetchone()


def mark_stale_agents(db):
    return db.execute("select agent_name from fleet.mark_stale_agents()").fetchall()


def test_an_online_agent_silent_past_the_threshold_goes_offline(fleet, db):
    agent_id = fleet.online_agent("quiet", silent_for=timedelta(minutes=6))

    run_check_stale(db)

    assert fleet.status(agent_id) == "offline"


def test_an_online_agent_within_the_threshold_stays_online(fleet, db):
    agent_id = fleet.online_agent("chatty", silent_for=timedelta(minutes=4))

    run_check_stale(db)

    assert fleet.status(agent_id) == "online"


def test_mark_stale_agents_returns_exactly_the_agents_it_marked(fleet, db):
    fleet.online_agent("quiet-a", silent_for=timedelta(minutes=6))
    fleet.online_agent("quiet-b", silent_for=timedelta(hours=2))
    fleet.online_agent("chatty", silent_for=timedelta(minutes=1))

    marked = mark_stale_agents(db)

    assert marked == [("quiet-a",), ("quiet-b",)]


def test_mark_stale_agents_answers_only_with_the_agents_this_run_marked(fleet, db):
    fleet.online_agent("marked-before", silent_for=timedelta(minutes=6))
    run_check_stale(db)
    fleet.online_agent("quiet", silent_for=timedelta(minutes=6))

    marked = mark_stale_agents(db)

    assert marked == [("quiet",)]


def test_an_agent_that_never_sent_a_heartbeat_is_left_alone(fleet, db):
    agent_id = fleet.register("never-seen")

    marked = mark_stale_agents(db)

    assert marked == []
    assert fleet.status(agent_id) == "offline"
    assert fleet.events(agent_id) == []


def test_an_offline_agent_is_not_marked_again(fleet, db):
    agent_id = fleet.online_agent("quiet", silent_for=timedelta(minutes=6))
    run_check_stale(db)
    changed_at = fleet.agent(agent_id)["status_changed_at"]

    _, outcome, marked, _ = run_check_stale(db)

    assert (outcome, marked) == ("ok", 0)
    assert fleet.agent(agent_id)["status_changed_at"] == changed_at
    assert len([e for e in fleet.events() if e["reason"] == "stale"]) == 1


def test_a_per_agent_threshold_overrides_the_default(fleet, db):
    patient = fleet.online_agent(
        "patient", silent_for=timedelta(minutes=20), stale_after=timedelta(hours=1)
    )
    strict = fleet.online_agent(
        "strict", silent_for=timedelta(minutes=2), stale_after=timedelta(minutes=1)
    )

    run_check_stale(db)

    assert fleet.status(patient) == "online"
    assert fleet.status(strict) == "offline"


def test_the_default_threshold_comes_from_config(fleet, db):
    agent_id = fleet.online_agent("quiet", silent_for=timedelta(minutes=6))
    fleet.configure(stale_after=timedelta(minutes=10))

    run_check_stale(db)

    assert fleet.status(agent_id) == "online"


def test_each_transition_writes_one_event_linked_to_the_run(fleet, db):
    agent_id = fleet.online_agent("quiet", silent_for=timedelta(minutes=6))

    run_id, *_ = run_check_stale(db)

    stale_events = [e for e in fleet.events(agent_id) if e["reason"] == "stale"]
    assert [(e["from_status"], e["to_status"], e["run_id"]) for e in stale_events] == [
        ("online", "offline", run_id)
    ]


def test_a_run_that_marks_agents_sends_one_notification_naming_the_run(fleet, db, connect):
    fleet.online_agent("quiet-a", silent_for=timedelta(minutes=6))
    fleet.online_agent("quiet-b", silent_for=timedelta(minutes=6))
    listener = connect()
    listener.execute("listen fleet_agent_status")

    run_id, *_ = run_check_stale(db)

    notices = list(listener.notifies(timeout=2, stop_after=2))
    assert [json.loads(notice.payload) for notice in notices] == [
        {"run_id": run_id, "reason": "stale", "events": 2}
    ]


def test_a_run_sends_no_notification_while_the_queue_is_over_its_limit(fleet, db, connect):
    fleet.online_agent("quiet", silent_for=timedelta(minutes=6))
    fleet.configure(notification_queue_limit=0)
    listener = connect()
    listener.execute("listen fleet_agent_status")

    _, outcome, marked, _ = run_check_stale(db)

    assert (outcome, marked) == ("ok", 1)
    assert list(listener.notifies(timeout=1, stop_after=1)) == []


def test_a_run_records_one_ok_row_with_the_count(fleet, db):
    fleet.online_agent("quiet-a", silent_for=timedelta(minutes=6))
    fleet.online_agent("quiet-b", silent_for=timedelta(minutes=6))

    run_check_stale(db, triggered_by="cli")

    [run] = fleet.runs("check-stale")
    assert (run["outcome"], run["rows_affected"], run["triggered_by"]) == ("ok", 2, "cli")
    assert run["finished_at"] >= run["started_at"]


def test_a_run_that_finds_nothing_still_records_an_ok_row(fleet, db):
    run_check_stale(db)

    [run] = fleet.runs("check-stale")
    assert (run["outcome"], run["rows_affected"]) == ("ok", 0)


def test_triggered_by_is_inferred_from_application_name(fleet, connect):
    psql_like = connect(application_name="psql")

    run_check_stale(psql_like)

    assert fleet.runs("check-stale")[0]["triggered_by"] == "psql"


def test_an_unknown_triggered_by_is_refused_and_records_nothing(fleet, db):
    fleet.online_agent("quiet", silent_for=timedelta(minutes=6))

    with pytest.raises(errors.InvalidParameterValue, match="triggered_by must be one of"):
        run_check_stale(db, triggered_by="cron-job.org")

    assert fleet.runs() == []
    assert fleet.events()[-1]["reason"] == "heartbeat"


def test_an_overlapping_run_returns_at_once_as_skipped(fleet, connect):
    fleet.online_agent("quiet", silent_for=timedelta(minutes=6))
    first = connect(autocommit=False)
    second = connect(statement_timeout="2s")
    run_check_stale(first)  # holds the lock until it commits

    _, outcome, marked, _ = run_check_stale(second)

    assert (outcome, marked) == ("skipped", 0)
    first.commit()


def test_a_skipped_mark_stale_agents_returns_nothing_and_says_why(fleet, connect):
    fleet.online_agent("quiet", silent_for=timedelta(minutes=6))
    first = connect(autocommit=False)
    second = connect(statement_timeout="2s")
    notices = []
    second.add_notice_handler(lambda diag: notices.append(diag.message_primary))
    run_check_stale(first)

    marked = mark_stale_agents(second)

    assert marked == []
    assert any("skipped: another check-stale run is in progress" in text for text in notices)
    first.commit()


def test_a_failed_run_marks_nobody_and_is_recorded_as_an_error(fleet, db):
    agent_id = fleet.online_agent("quiet", silent_for=timedelta(minutes=6))
    # A rule of the table refuses the change the run would make.
    db.execute(
        "alter table fleet.agents add constraint never_offline "
        "check (status = 'online' or name <> 'quiet') not valid"
    )

    _, outcome, marked, _ = run_check_stale(db, triggered_by="vercel")

    assert (outcome, marked) == ("error", 0)
    assert fleet.status(agent_id) == "online"
    [run] = fleet.runs()
    assert run["detail"]["sqlstate"] == "23514"
    assert "never_offline" in run["detail"]["error"]
    assert [event["reason"] for event in fleet.events(agent_id)] == ["heartbeat"]


def test_an_agent_whose_row_is_locked_is_skipped_and_the_others_are_marked(fleet, db, connect):
    busy = fleet.online_agent("busy", silent_for=timedelta(minutes=6))
    quiet = fleet.online_agent("quiet", silent_for=timedelta(minutes=6))
    blocker = connect(autocommit=False)
    blocker.execute("select 1 from fleet.agents where id = %s for update", (busy,))
    impatient = connect(lock_timeout="200ms", statement_timeout="5s")

    _, outcome, marked, _ = run_check_stale(impatient)

    blocker.rollback()
    assert (outcome, marked) == ("ok", 1)
    assert (fleet.status(busy), fleet.status(quiet)) == ("online", "offline")


# -- boundaries, batches, failures --------------------------------------------------------------


def test_an_agent_silent_for_exactly_its_threshold_is_not_stale_and_a_microsecond_more_is(
    fleet, connect
):
    exact = fleet.online_agent("exact", silent_for=timedelta(0))
    beyond = fleet.online_agent("beyond", silent_for=timedelta(0))
    session = connect(autocommit=False)  # one transaction: now() is the same for every statement
    session.execute(
        "update fleet.agents set last_heartbeat = now() - interval '5 minutes' where id = %s",
        (exact,),
    )
    session.execute(
        "update fleet.agents set last_heartbeat = now() - interval '5 minutes 0.000001 seconds' "
        "where id = %s",
        (beyond,),
    )

    marked = mark_stale_agents(session)
    session.commit()

    assert marked == [("beyond",)]


def test_a_run_marks_at_most_its_batch_and_reports_the_backlog(fleet, db):
    for n in range(5):
        fleet.online_agent(f"quiet-{n}", silent_for=timedelta(minutes=6))

    run = db.execute(
        "select outcome, rows_affected, detail from fleet.run_check_stale(batch => 3)"
    ).fetchone()

    assert run[:2] == ("ok", 3)
    assert (run[2]["batch"], run[2]["backlog"]) == (3, True)
    assert db.execute("select count(*) from fleet.agents where status = 'online'").fetchone() == (
        2,
    )


def test_a_mass_outage_larger_than_one_run_is_marked_over_the_next_runs(fleet, db):
    for n in range(50):
        fleet.online_agent(f"quiet-{n:02}", silent_for=timedelta(minutes=6))
    fleet.configure(stale_batch_size=20)

    marked = [run_check_stale(db)[2] for _ in range(4)]

    assert marked == [20, 20, 10, 0]
    assert db.execute("select count(*) from fleet.agents where status = 'offline'").fetchone() == (
        50,
    )


def test_a_batch_outside_its_range_is_refused_before_anything_happens(fleet, db):
    fleet.online_agent("quiet", silent_for=timedelta(minutes=6))

    with pytest.raises(errors.InvalidParameterValue, match="batch must be between 1 and"):
        db.execute("select fleet.run_check_stale(batch => 0)")

    assert fleet.runs() == []


def test_a_run_cut_short_by_its_statement_timeout_is_recorded_and_marks_nobody(fleet, db, connect):
    agent_id = fleet.online_agent("quiet", silent_for=timedelta(minutes=6))
    db.execute(
        "create function public.slow_down() returns trigger language plpgsql "
        "as $$ begin perform pg_sleep(2); return new; end $$"
    )
    db.execute(
        "create trigger slow_down before update on fleet.agents "
        "for each row execute function public.slow_down()"
    )
    impatient = connect(statement_timeout="300ms")

    _, outcome, marked, _ = run_check_stale(impatient)

    assert (outcome, marked) == ("error", 0)
    assert fleet.status(agent_id) == "online"
    assert fleet.runs()[0]["detail"]["sqlstate"] == "57014"
