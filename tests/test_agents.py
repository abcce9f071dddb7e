"""Agents and heartbeats: registration, the database clock, and keeping fleet.agents current."""

import json
import threading
import time
import uuid
from datetime import timedelta

import pytest
from psycopg import errors

from tests.conftest import AGENT_LOGIN


def test_a_registered_agent_starts_offline_with_no_heartbeat(fleet):
    agent_id = fleet.register("edge-1")

    agent = fleet.agent(agent_id)
    assert agent["status"] == "offline"
    assert agent["last_heartbeat"] is None


def test_registering_the_same_name_again_returns_the_same_agent(fleet):
    first = fleet.register("edge-1")

    again = fleet.register("edge-1")

    assert again == first


def test_registering_again_with_a_threshold_sets_it_and_without_one_keeps_it(fleet):
    agent_id = fleet.register("edge-1", stale_after=timedelta(minutes=10))

    fleet.register("edge-1")

    assert fleet.agent(agent_id)["stale_after"] == timedelta(minutes=10)


@pytest.mark.parametrize(
    ("name", "constraint"),
    [("   ", "agents_name_must_not_be_blank"), ("x" * 201, "agents_name_at_most_200_characters")],
)
def test_a_bad_agent_name_is_refused_by_a_named_rule(fleet, name, constraint):
    with pytest.raises(errors.CheckViolation, match=constraint):
        fleet.register(name)


def test_a_negative_agent_threshold_is_refused(fleet):
    with pytest.raises(errors.CheckViolation, match="agents_stale_after_must_be_positive"):
        fleet.register("edge-1", stale_after=timedelta(minutes=-5))


def test_a_heartbeat_brings_a_new_agent_online(fleet):
    agent_id = fleet.register("edge-1")

    beat = fleet.heartbeat(agent_id)

    agent = fleet.agent(agent_id)
    assert agent["status"] == "online"
    assert agent["last_heartbeat"] == beat["created_at"]


def test_a_heartbeat_is_stamped_with_the_database_clock(fleet, db):
    agent_id = fleet.register("edge-1")

    beat = fleet.heartbeat(agent_id, payload={"load": 0.3})

    db_now = db.execute("select now()").fetchone()[0]
    assert abs(beat["created_at"] - db_now) < timedelta(seconds=5)
    assert beat["payload"] == {"load": 0.3}


def test_a_heartbeat_brings_an_offline_agent_back_online_with_an_event(fleet):
    agent_id = fleet.register("edge-1")

    fleet.heartbeat(agent_id)

    [event] = fleet.events(agent_id)
    assert (event["from_status"], event["to_status"], event["reason"]) == (
        "offline",
        "online",
        "heartbeat",
    )


def test_a_heartbeat_for_an_online_agent_writes_no_event(fleet):
    agent_id = fleet.register("edge-1")
    fleet.heartbeat(agent_id)

    fleet.heartbeat(agent_id)

    assert len(fleet.events(agent_id)) == 1


def test_a_status_change_is_notified_with_ids_only(fleet, connect):
    agent_id = fleet.register("edge-1")
    listener = connect()
    listener.execute("listen fleet_agent_status")

    fleet.heartbeat(agent_id)

    [notice] = list(listener.notifies(timeout=5, stop_after=1))
    [event] = fleet.events(agent_id)
    assert json.loads(notice.payload) == {"event_id": event["id"], "agent_id": str(agent_id)}
    assert (event["from_status"], event["to_status"], event["reason"]) == (
        "offline",
        "online",
        "heartbeat",
    )


def test_a_heartbeat_for_an_unknown_agent_is_refused_and_writes_nothing(fleet):
    unknown = "00000000-0000-0000-0000-000000000001"

    with pytest.raises(errors.ForeignKeyViolation, match=f"no agent has id {unknown}"):
        fleet.heartbeat(unknown)

    assert fleet.heartbeat_count() == 0


def test_a_heartbeat_without_an_agent_id_is_refused(fleet):
    with pytest.raises(errors.NullValueNotAllowed, match="agent_id must not be null"):
        fleet.heartbeat(None)


def test_a_plain_insert_into_heartbeats_keeps_the_agent_current(fleet, db):
    agent_id = fleet.register("edge-1")

    db.execute("insert into fleet.heartbeats (agent_id) values (%s)", (agent_id,))

    agent = fleet.agent(agent_id)
    assert agent["status"] == "online"
    assert agent["last_heartbeat"] is not None


def test_a_plain_insert_for_an_unknown_agent_is_refused_and_writes_nothing(fleet, db):
    with pytest.raises(errors.ForeignKeyViolation, match="must_be_a_registered_agent"):
        db.execute(
            "insert into fleet.heartbeats (agent_id) "
            "values ('00000000-0000-0000-0000-000000000001')"
        )

    assert fleet.heartbeat_count() == 0


def test_a_heartbeat_from_the_future_is_stamped_now(fleet, db):
    agent_id = fleet.register("edge-1")

    db.execute(
        "insert into fleet.heartbeats (agent_id, created_at) values (%s, now() + interval '1 day')",
        (agent_id,),
    )

    [age] = fleet.heartbeat_ages()
    assert timedelta(0) <= age < timedelta(seconds=5)
    assert fleet.agent(agent_id)["last_heartbeat"] <= db.execute("select now()").fetchone()[0]


def test_last_heartbeat_never_moves_backwards(fleet):
    agent_id = fleet.register("edge-1")
    fleet.heartbeat(agent_id)
    newest = fleet.agent(agent_id)["last_heartbeat"]

    fleet.old_heartbeats(agent_id, timedelta(hours=2))

    assert fleet.agent(agent_id)["last_heartbeat"] == newest


def test_a_fresh_but_older_heartbeat_brings_an_agent_online_without_moving_it_back(fleet, db):
    agent_id = fleet.register("edge-1")
    fleet.heartbeat(agent_id)
    db.execute(
        "update fleet.agents set status = 'offline', "
        "last_heartbeat = now() - interval '30 seconds' where id = %s",
        (agent_id,),
    )
    newest = fleet.agent(agent_id)["last_heartbeat"]

    fleet.old_heartbeats(agent_id, timedelta(minutes=1))

    agent = fleet.agent(agent_id)
    assert (agent["status"], agent["last_heartbeat"]) == ("online", newest)


def test_importing_old_history_does_not_bring_an_agent_online(fleet):
    agent_id = fleet.register("edge-1")

    fleet.old_heartbeats(agent_id, timedelta(days=3), timedelta(days=2), timedelta(hours=1))

    agent = fleet.agent(agent_id)
    assert agent["status"] == "offline"
    assert fleet.events(agent_id) == []


def test_a_bulk_insert_moves_each_agent_to_its_newest_heartbeat(fleet, db):
    first, second = fleet.register("edge-1"), fleet.register("edge-2")

    with db.transaction():  # one now() for the insert and the read-back
        db.execute(
            "insert into fleet.heartbeats (agent_id, created_at) values "
            "(%(a)s, now() - interval '3 minutes'), (%(a)s, now() - interval '1 minute'), "
            "(%(b)s, now() - interval '2 minutes')",
            {"a": first, "b": second},
        )
        ages = dict(db.execute("select name, now() - last_heartbeat from fleet.agents").fetchall())
    assert ages == {"edge-1": timedelta(minutes=1), "edge-2": timedelta(minutes=2)}


def test_a_bulk_insert_locks_its_agents_in_id_order(fleet, db, connect):
    """The order the stale check locks them in: while the insert waits for the lowest id it
    holds none of the others, so two writers can never wait for each other in a cycle."""
    ids = sorted(uuid.uuid4() for _ in range(10))
    for agent_id in reversed(ids):  # stored highest id first
        db.execute("insert into fleet.agents (id, name) values (%s, %s)", (agent_id, str(agent_id)))
    holder = connect(autocommit=False)
    holder.execute("select from fleet.agents where id = %s for no key update", (ids[0],))
    writer, observer = connect(), connect()
    insert = threading.Thread(
        target=writer.execute,
        args=("insert into fleet.heartbeats (agent_id) select unnest(%s::uuid[])", (ids,)),
    )
    insert.start()
    wait_until_waiting_for_a_lock(observer, writer.info.backend_pid)

    held_by_the_insert = [
        agent_id
        for agent_id in ids[1:]
        if not observer.execute(
            "select exists (select from fleet.agents where id = %s for no key update skip locked)",
            (agent_id,),
        ).fetchone()[0]
    ]
    holder.rollback()
    insert.join(10)

    assert held_by_the_insert == []
    assert fleet.status(ids[0]) == "online"


def wait_until_waiting_for_a_lock(observer, pid, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not observer.execute(
        "select wait_event_type = 'Lock' from pg_stat_activity where pid = %s", (pid,)
    ).fetchone()[0]:
        assert time.monotonic() < deadline, f"backend {pid} never waited for a lock"
        time.sleep(0.02)


def test_an_online_agent_must_have_a_heartbeat(fleet, db):
    agent_id = fleet.register("edge-1")

    with pytest.raises(errors.CheckViolation, match="agents_online_only_after_a_heartbeat"):
        db.execute("update fleet.agents set status = 'online' where id = %s", (agent_id,))


def test_a_manual_status_change_is_recorded_as_manual_or_with_the_given_reason(fleet, db):
    agent_id = fleet.register("edge-1")
    fleet.heartbeat(agent_id)

    db.execute("update fleet.agents set status = 'offline' where id = %s", (agent_id,))
    with db.transaction():
        db.execute("set local fleet.transition_reason = 'maintenance'")
        db.execute("update fleet.agents set status = 'online' where id = %s", (agent_id,))

    reasons = [event["reason"] for event in fleet.events(agent_id)]
    assert reasons == ["heartbeat", "manual", "maintenance"]


def test_status_changed_at_follows_status_changes_only(fleet, db):
    agent_id = fleet.register("edge-1")
    registered_at = fleet.agent(agent_id)["status_changed_at"]

    fleet.heartbeat(agent_id)
    came_online_at = fleet.agent(agent_id)["status_changed_at"]
    fleet.heartbeat(agent_id)

    assert came_online_at > registered_at
    assert fleet.agent(agent_id)["status_changed_at"] == came_online_at


def test_deleting_an_agent_deletes_its_heartbeats_and_keeps_its_history(fleet, db):
    agent_id = fleet.register("edge-1")
    fleet.heartbeat(agent_id)

    db.execute("delete from fleet.agents where id = %s", (agent_id,))

    assert fleet.heartbeat_count() == 0
    assert [event["agent_key"] for event in fleet.events()] == [str(agent_id)]


def test_the_payload_round_trips_as_json(fleet):
    agent_id = fleet.register("edge-1")

    beat = fleet.heartbeat(agent_id, payload={"disk": [1, 2], "ok": True})

    assert beat["payload"] == {"disk": [1, 2], "ok": True}
    assert isinstance(beat["id"], int)


# -- limits -------------------------------------------------------------------------------------


def test_a_payload_over_the_limit_is_refused_and_nothing_is_written(fleet):
    agent_id = fleet.register("edge-1")

    with pytest.raises(errors.ProgramLimitExceeded, match="over the limit of 65536 bytes"):
        fleet.heartbeat(agent_id, payload={"blob": "x" * 70_000})

    assert fleet.heartbeat_count() == 0
    assert fleet.status(agent_id) == "offline"


def test_a_plain_insert_with_a_payload_over_the_limit_fails_as_a_whole(fleet, db):
    agent_id = fleet.register("edge-1")

    with pytest.raises(errors.ProgramLimitExceeded, match="over the limit"):
        db.execute(
            "insert into fleet.heartbeats (agent_id, payload) values (%s, '{}'), "
            "(%s, jsonb_build_object('blob', repeat('x', 70000)))",
            (agent_id, agent_id),
        )

    assert fleet.heartbeat_count() == 0


def test_a_payload_of_exactly_the_limit_is_accepted_and_one_byte_more_is_not(fleet, db):
    agent_id = fleet.register("edge-1")
    fleet.configure(heartbeat_payload_limit=100)
    envelope = len('{"blob": ""}')  # the payload as JSON text, the way the limit measures it

    fleet.heartbeat(agent_id, payload={"blob": "x" * (100 - envelope)})
    with pytest.raises(errors.ProgramLimitExceeded, match="over the limit of 100 bytes"):
        fleet.heartbeat(agent_id, payload={"blob": "x" * (101 - envelope)})

    assert db.execute("select octet_length(payload::text) from fleet.heartbeats").fetchall() == [
        (100,)
    ]


def test_the_payload_limit_comes_from_config(fleet):
    agent_id = fleet.register("edge-1")
    fleet.configure(heartbeat_payload_limit=200_000)

    fleet.heartbeat(agent_id, payload={"blob": "x" * 70_000})

    assert fleet.heartbeat_count() == 1


def test_a_heartbeat_bounds_how_long_its_transaction_may_sit_idle(fleet, connect):
    agent_id = fleet.register("edge-1")
    agent = connect(AGENT_LOGIN, autocommit=False)

    agent.execute("select fleet.record_heartbeat(%s)", (agent_id,))
    setting = agent.execute("show idle_in_transaction_session_timeout").fetchone()[0]
    agent.rollback()
    after = agent.execute("show idle_in_transaction_session_timeout").fetchone()[0]

    assert (setting, after) == ("1min", "0")


def test_a_shorter_idle_timeout_of_the_session_is_kept(fleet, connect):
    agent_id = fleet.register("edge-1")
    agent = connect(AGENT_LOGIN, autocommit=False, idle_in_transaction_session_timeout="5s")

    agent.execute("select fleet.record_heartbeat(%s)", (agent_id,))

    assert agent.execute("show idle_in_transaction_session_timeout").fetchone()[0] == "5s"
    agent.rollback()


def test_transitions_are_not_notified_while_the_queue_is_over_its_limit(fleet, connect):
    agent_id = fleet.register("edge-1")
    fleet.configure(notification_queue_limit=0)
    listener = connect()
    listener.execute("listen fleet_agent_status")

    fleet.heartbeat(agent_id)

    assert list(listener.notifies(timeout=1, stop_after=1)) == []
    assert [event["to_status"] for event in fleet.events(agent_id)] == ["online"]


def test_a_heartbeat_stamped_in_the_future_arrives_now_and_not_in_the_default_partition(fleet, db):
    agent_id = fleet.register("edge-1")

    db.execute(
        "insert into fleet.heartbeats (agent_id, created_at) "
        "values (%s, now() + interval '3 days'), (%s, now() + interval '400 days')",
        (agent_id, agent_id),
    )

    rows = db.execute(
        "select created_at between now() - interval '1 minute' and now(), "
        "tableoid::regclass::text from fleet.heartbeats"
    ).fetchall()
    assert [is_now for is_now, _ in rows] == [True, True]
    assert "fleet.heartbeats_default" not in {partition for _, partition in rows}
