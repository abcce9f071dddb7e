"""The CLI's traps for a newcomer: options where a user puts them, one line for every mistake."""

import json
import shutil
import socket
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from deployer import migrate
from tests.cli import fleetcron, one_error_line

UNREACHABLE = "postgresql://nobody:x@127.0.0.1:1/nothing"


@pytest.fixture
def home():
    """A private FLEETCRON_HOME (under /tmp: as root the local server's account must reach it)."""
    folder = Path(tempfile.gettempdir()) / f"fleetcron-home-{uuid.uuid4().hex[:8]}"
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


# -- options and arguments where a user puts them ------------------------------------------------


def test_db_downgrade_takes_a_relative_revision_as_its_help_says(empty_database, home):
    fleetcron("db", "upgrade", home=home, DATABASE_URL=empty_database)

    result = fleetcron("db", "downgrade", "-1", home=home, DATABASE_URL=empty_database)

    assert result.returncode == 0, result.stderr
    current = fleetcron("db", "current", home=home, DATABASE_URL=empty_database)
    assert f"behind head ({migrate.head()})" in current.stdout


@pytest.mark.parametrize("command", [["status"], ["db", "current"], ["run", "check-stale"]])
def test_the_database_url_option_works_after_the_subcommand(db_url, home, command):
    result = fleetcron(*command, "--database-url", db_url, home=home, DATABASE_URL=UNREACHABLE)

    assert result.returncode == 0, result.stderr


def test_run_check_stale_refuses_a_batch_its_schema_cannot_take(db, fleet, db_url, home):
    # A schema from before check-stale took a batch: fleet.run_check_stale(triggered_by) only.
    for (signature,) in db.execute(
        "select oid::regprocedure::text from pg_proc where proname = 'run_check_stale'"
    ).fetchall():
        db.execute(f"drop function {signature} cascade")
    db.execute(
        "create function fleet.run_check_stale(triggered_by text default null) "
        "returns fleet.job_runs language plpgsql as $$ begin "
        "raise exception 'the CLI must not run it'; end $$"
    )

    line = one_error_line(
        fleetcron("run", "check-stale", "--batch", "10", home=home, DATABASE_URL=db_url)
    )

    assert "--batch" in line and "check-stale" in line
    assert fleet.runs() == []


def test_run_check_stale_refuses_a_time_budget_it_would_ignore(fleet, db_url, home):
    line = one_error_line(
        fleetcron("run", "check-stale", "--time-budget", "5", home=home, DATABASE_URL=db_url)
    )

    assert "--time-budget" in line and "cleanup-heartbeats" in line
    assert fleet.runs() == []


@pytest.mark.parametrize(
    "args",
    [
        ["stauts"],
        ["run"],
        ["db", "upgrade", "--bogus"],
        ["run", "cleanup-heartbeats", "--batch", "lots"],
        ["--bogus", "status"],
    ],
    ids=["unknown command", "missing argument", "unknown option", "bad value", "group option"],
)
def test_a_usage_error_is_one_line_with_where_to_look(home, args):
    result = fleetcron(*args, home=home)

    line = one_error_line(result)
    assert result.returncode == 2
    assert line.startswith("error: ") and "--help" in line


# -- messages that say what is wrong, and where ----------------------------------------------------


def test_a_database_url_port_out_of_range_is_not_called_not_a_number(home):
    line = one_error_line(
        fleetcron("status", home=home, DATABASE_URL="postgresql://u:pw@127.0.0.1:99999/db")
    )

    assert "99999" in line and "65535" in line
    assert "not a number" not in line and "pw" not in line


def test_a_url_with_several_hosts_is_read_as_libpq_reads_it(empty_database, pg_server, home):
    # libpq tries each host in turn: the first refuses, the second is the server.
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed_port = unused.getsockname()[1]
    here = f"@{pg_server.host}:{pg_server.port}/"
    url = empty_database.replace(here, f"@127.0.0.1:{closed_port},{here[1:]}")

    upgraded = fleetcron("db", "upgrade", home=home, DATABASE_URL=url)

    assert upgraded.returncode == 0, upgraded.stderr
    current = fleetcron("db", "current", home=home, DATABASE_URL=url)
    assert migrate.head() in current.stdout


@pytest.mark.parametrize("command", [["status"], ["run", "check-stale"]])
def test_a_wrong_password_is_not_called_unreachable(pg_server, home, command):
    url = pg_server.url("postgres", password="wrong-password")

    line = one_error_line(fleetcron(*command, home=home, DATABASE_URL=url))

    assert "cannot reach" not in line
    assert "password authentication failed" in line
    assert "wrong-password" not in line


def test_a_database_that_does_not_exist_is_not_called_unreachable(pg_server, home):
    url = pg_server.url("no_such_database")

    line = one_error_line(fleetcron("status", home=home, DATABASE_URL=url))

    assert "cannot reach" not in line
    assert 'database "no_such_database" does not exist' in line


@pytest.mark.parametrize(
    ("name", "value"),
    [("FLEETCRON_CONNECT_TIMEOUT_SECONDS", "abc"), ("FLEETCRON_PURGE_TIME_BUDGET_SECONDS", "-5")],
)
def test_an_invalid_setting_in_the_environment_stops_run(fleet, db_url, home, name, value):
    result = fleetcron("run", "cleanup-heartbeats", home=home, DATABASE_URL=db_url, **{name: value})

    line = one_error_line(result)
    assert f"{name}={value!r}" in line
    assert fleet.runs() == []


def test_run_cleanup_takes_its_time_budget_from_the_environment_like_the_endpoint(
    fleet, db_url, home
):
    agent = fleet.register("edge-1")
    fleet.heartbeat_series(agent, 120, oldest=timedelta(days=40))

    result = fleetcron(
        "run",
        "cleanup-heartbeats",
        "--batch",
        "50",
        home=home,
        DATABASE_URL=db_url,
        FLEETCRON_PURGE_TIME_BUDGET_SECONDS="0.000001",
    )

    assert result.returncode == 0, result.stderr
    assert fleet.heartbeat_count() == 70  # one batch, then the budget was spent


def test_schedule_install_names_vercel_json_for_a_bad_schedule(db_url, home, tmp_path):
    (tmp_path / "vercel.json").write_text(
        json.dumps(
            {
                "crons": [
                    {"path": "/api/cron/check-stale", "schedule": "often"},
                    {"path": "/api/cron/cleanup-heartbeats", "schedule": "0 0 * * *"},
                ]
            }
        )
    )

    line = one_error_line(
        fleetcron("schedule", "install", "--project", str(tmp_path), home=home, DATABASE_URL=db_url)
    )

    assert f"{tmp_path / 'vercel.json'}" in line
    assert '"often"' in line and "/api/cron/check-stale" in line


def test_a_port_in_use_for_serve_names_the_address(db_url, home):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        line = one_error_line(
            fleetcron("serve", "--port", str(port), home=home, DATABASE_URL=db_url)
        )

    assert f"127.0.0.1:{port}" in line and "already in use" in line
    assert "Errno" not in line


def test_an_unknown_host_for_serve_names_the_host(db_url, home):
    line = one_error_line(
        fleetcron("serve", "--host", "no-such-host.invalid", home=home, DATABASE_URL=db_url)
    )

    assert "no-such-host.invalid" in line
    assert "Errno" not in line
