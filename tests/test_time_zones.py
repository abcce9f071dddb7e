"""Cutoffs are exact elapsed time, whatever the session's TimeZone (property tests).

If a cutoff were computed as now() - interval 'N days' in the session's zone, a DST change
inside the span would move it by an hour (30 minutes on Lord Howe). Retentions and thresholds
up to 400 days put a DST change inside the span for every zone below, and boundary offsets
within three hours catch any such shift.
"""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ZONES = [
    "UTC",
    "America/New_York",
    "Europe/Paris",
    "Australia/Lord_Howe",
    "Asia/Kathmandu",
    "Pacific/Chatham",
]
# Seconds past (positive) or short of (negative) the boundary. At least two seconds either
# way, because the rows are written a few milliseconds before the job reads the clock.
OFFSETS = st.integers(min_value=-3 * 3600, max_value=3 * 3600).filter(lambda s: abs(s) >= 2)
PROPERTY = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def use_zone(db, zone):
    db.execute("select set_config('TimeZone', %s, false)", (zone,))


@PROPERTY
@given(
    days=st.integers(min_value=1, max_value=400),
    offsets=st.lists(OFFSETS, min_size=1, max_size=12, unique=True),
    zone=st.sampled_from(ZONES),
)
def test_the_purge_deletes_exactly_the_rows_past_the_retention_in_any_zone(
    fleet, db, days, offsets, zone
):
    db.execute("delete from fleet.agents")
    agent = fleet.register("edge-1")
    fleet.configure(heartbeat_retention=timedelta(days=days))
    db.execute(
        "insert into fleet.heartbeats (agent_id, created_at, payload) "
        "select %s, now() - make_interval(secs => %s * 86400 + off), "
        "jsonb_build_object('off', off) from unnest(%s::int[]) as off",
        (agent, days, offsets),
    )
    use_zone(db, zone)

    fleet.purge_all(batch=5)

    kept = sorted(
        row[0]
        for row in db.execute("select (payload->>'off')::int from fleet.heartbeats").fetchall()
    )
    assert kept == sorted(off for off in offsets if off < 0)


@PROPERTY
@given(
    days=st.integers(min_value=1, max_value=400),
    offsets=st.lists(OFFSETS, min_size=1, max_size=12, unique=True),
    zone=st.sampled_from(ZONES),
)
def test_check_stale_marks_exactly_the_agents_past_their_threshold_in_any_zone(
    fleet, db, days, offsets, zone
):
    db.execute("delete from fleet.agents")
    for off in offsets:
        agent = fleet.register(f"agent{off}", stale_after=timedelta(days=days))
        fleet.heartbeat(agent)
        db.execute(
            "update fleet.agents set last_heartbeat = now() - make_interval(secs => %s) "
            "where id = %s",
            (days * 86400 + off, agent),
        )
    use_zone(db, zone)

    marked = db.execute("select agent_name from fleet.mark_stale_agents()").fetchall()

    assert sorted(name for (name,) in marked) == sorted(f"agent{off}" for off in offsets if off > 0)


@pytest.mark.parametrize("zone", ZONES)
def test_ago_is_the_same_instant_in_every_zone(db, zone):
    reference = db.execute(
        "select fleet.ago(interval '30 days'), now() - make_interval(secs => 30 * 86400)"
    ).fetchone()

    use_zone(db, zone)
    in_zone = db.execute(
        "select fleet.ago(interval '30 days'), now() - make_interval(secs => 30 * 86400)"
    ).fetchone()

    assert in_zone[0] - in_zone[1] == reference[0] - reference[1] == timedelta(0)


def test_ago_counts_days_as_elapsed_time_across_a_dst_change_of_the_session_zone(db):
    """The spans drawn above straddle a DST change only on some days of the year; this one
    always does: the fewest whole days back to a different UTC offset of the session zone."""
    zone = ZoneInfo("America/New_York")
    now = db.execute("select now()").fetchone()[0]
    span = next(
        days
        for days in range(1, 400)
        if now.astimezone(zone).utcoffset()
        != (now - timedelta(days=days)).astimezone(zone).utcoffset()
    )
    use_zone(db, "America/New_York")

    elapsed = db.execute("select now() - fleet.ago(make_interval(days => %s))", (span,)).fetchone()[
        0
    ]

    assert elapsed == timedelta(days=span)
