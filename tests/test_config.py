"""fleet.config: one row of settings that refuses nonsense with a message naming the rule."""

from datetime import timedelta

import pytest
from psycopg import errors


@pytest.mark.parametrize(
    ("setting", "value", "rule"),
    [
        ("heartbeat_retention", timedelta(hours=23), "config_heartbeat_retention_at_least_1_day"),
        ("heartbeat_retention", timedelta(days=-30), "config_heartbeat_retention_at_least_1_day"),
        ("stale_after", timedelta(0), "config_stale_after_must_be_positive"),
        ("stale_after", timedelta(minutes=-5), "config_stale_after_must_be_positive"),
        ("purge_batch_size", 0, "config_purge_batch_size_between_1_and_1000000"),
        ("purge_batch_size", -1, "config_purge_batch_size_between_1_and_1000000"),
        ("purge_batch_size", 1_000_001, "config_purge_batch_size_between_1_and_1000000"),
        ("purge_time_budget", timedelta(0), "config_purge_time_budget_must_be_positive"),
        ("job_run_retention", timedelta(hours=1), "config_job_run_retention_at_least_1_day"),
        ("event_retention", timedelta(seconds=-1), "config_event_retention_at_least_1_day"),
    ],
)
def test_a_harmful_setting_is_refused_by_a_named_rule_and_nothing_changes(
    fleet, db, setting, value, rule
):
    before = db.execute("select * from fleet.config").fetchone()

    with pytest.raises(errors.CheckViolation, match=rule):
        fleet.configure(**{setting: value})

    assert db.execute("select * from fleet.config").fetchone() == before


def test_a_sensible_setting_is_accepted_and_stamped(fleet, db):
    before = db.execute("select updated_at from fleet.config").fetchone()[0]

    fleet.configure(heartbeat_retention=timedelta(days=14))

    retention, updated_at = db.execute(
        "select heartbeat_retention, updated_at from fleet.config"
    ).fetchone()
    assert retention == timedelta(days=14)
    assert updated_at > before


def test_the_defaults_are_the_documented_ones(db):
    settings = db.execute(
        "select stale_after, heartbeat_retention, purge_batch_size from fleet.config"
    ).fetchone()

    assert settings == (timedelta(minutes=5), timedelta(days=30), 10_000)


def test_a_second_settings_row_is_refused(db):
    with pytest.raises(errors.UniqueViolation, match="config_holds_one_row_only"):
        db.execute("insert into fleet.config default values")


@pytest.mark.parametrize("statement", ["delete from fleet.config", "truncate fleet.config"])
def test_the_settings_row_cannot_be_removed(db, statement):
    with pytest.raises(errors.IntegrityConstraintViolation, match="must keep its one row"):
        db.execute(statement)

    assert db.execute("select count(*) from fleet.config").fetchone()[0] == 1
