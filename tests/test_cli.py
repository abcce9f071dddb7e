"""The fleetcron CLI, driven as a user drives it: real processes against real PostgreSQL."""

import contextlib
import json
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from deployer import migrate
from tests.catalog import catalog
from tests.cli import FLEETCRON, fleetcron, one_error_line

QUIET = timedelta(minutes=6)
EXPIRED = timedelta(days=40)


@pytest.fixture
def home():
    """A private FLEETCRON_HOME. Not under pytest's tmp_path: as root the local server runs as
    the postgres account, which must be able to reach it, and pytest's folders are closed."""
    folder = Path(tempfile.gettempdir()) / f"fleetcron-home-{uuid.uuid4().hex[:8]}"
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def empty_db(new_database):
    return new_database()


# -- db ---------------------------------------------------------------------------------------


def test_db_upgrade_builds_the_same_schema_as_alembic(empty_db, straight_upgrade, home):
    result = fleetcron("db", "upgrade", home=home, DATABASE_URL=empty_db)

    assert result.returncode == 0, result.stderr
    assert f"database at revision {migrate.head()}" in result.stdout
    assert catalog(empty_db) == catalog(straight_upgrade)


def test_db_current_says_whether_the_database_is_at_head(empty_db, home):
    before = fleetcron("db", "current", home=home, DATABASE_URL=empty_db)
    fleetcron("db", "upgrade", home=home, DATABASE_URL=empty_db)
    after = fleetcron("db", "current", home=home, DATABASE_URL=empty_db)

    assert f"base (fleetcron not installed)  behind head ({migrate.head()})" in before.stdout
    assert f"{migrate.head()}  at head" in after.stdout


def test_db_downgrade_to_base_removes_fleetcron(empty_db, home):
    fleetcron("db", "upgrade", home=home, DATABASE_URL=empty_db)

    result = fleetcron("db", "downgrade", "base", home=home, DATABASE_URL=empty_db)

    assert result.returncode == 0, result.stderr
    assert "database at revision base" in result.stdout


def test_db_sql_prints_the_offline_migration(home):
    result = fleetcron("db", "sql", home=home)

    assert result.returncode == 0
    assert result.stdout.startswith("BEGIN;")
    assert "create or replace function fleet.run_check_stale" in result.stdout


def test_the_database_url_option_wins_over_the_environment(empty_db, home):
    result = fleetcron(
        "--database-url",
        empty_db,
        "db",
        "current",
        home=home,
        DATABASE_URL="postgresql://nobody:x@127.0.0.1:1/nothing",
    )

    assert result.returncode == 0, result.stderr


# -- run --------------------------------------------------------------------------------------


def test_run_check_stale_marks_quiet_agents_offline_as_the_cli(fleet, db_url, home):
    quiet = fleet.online_agent("quiet", silent_for=QUIET)

    result = fleetcron("run", "check-stale", home=home, DATABASE_URL=db_url)

    assert result.returncode == 0, result.stderr
    assert "rows affected  1" in result.stdout
    assert fleet.status(quiet) == "offline"
    assert fleet.runs()[0]["triggered_by"] == "cli"


def test_run_cleanup_deletes_the_backlog_and_reports_it(fleet, db_url, home):
    agent = fleet.register("edge-1")
    fleet.heartbeat_series(agent, 120, oldest=EXPIRED)

    result = fleetcron("run", "cleanup-heartbeats", "--batch", "50", home=home, DATABASE_URL=db_url)

    assert result.returncode == 0, result.stderr
    assert "rows affected  120" in result.stdout
    assert "batches        3" in result.stdout
    assert "backlog        False" in result.stdout
    assert fleet.heartbeat_count() == 0


def test_run_cleanup_shows_progress_with_rate_and_backlog_left(fleet, db_url, home):
    agent = fleet.register("edge-1")
    fleet.heartbeat_series(agent, 50_000, oldest=EXPIRED, spacing=timedelta(milliseconds=10))

    result = fleetcron(
        "run",
        "cleanup-heartbeats",
        "--batch",
        "50",
        home=home,
        DATABASE_URL=db_url,
        FORCE_COLOR="1",  # rich draws the live bar only for a terminal
    )

    assert result.returncode == 0, result.stderr
    frames = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", result.stderr)
    assert "backlog left ~50,000" in frames  # the first frame
    moving = re.findall(r"([\d,]+) deleted\s+([\d,]+) rows/s\s+backlog left ~([\d,]+)", frames)
    assert any(int(deleted.replace(",", "")) > 0 for deleted, _, _ in moving)
    assert all(
        int(deleted.replace(",", "")) + int(left.replace(",", "")) == 50_000
        for deleted, _, left in moving
        if deleted != "0"
    )


def test_run_cleanup_stops_at_its_time_budget_and_says_a_backlog_remains(fleet, db_url, home):
    agent = fleet.register("edge-1")
    fleet.heartbeat_series(agent, 120, oldest=EXPIRED)

    result = fleetcron(
        "run",
        "cleanup-heartbeats",
        "--batch",
        "50",
        "--time-budget",
        "0.000001",
        home=home,
        DATABASE_URL=db_url,
    )

    assert "backlog        True" in result.stdout
    assert fleet.heartbeat_count() == 70


def test_ctrl_c_during_a_purge_loses_nothing_but_the_batch_in_flight(fleet, db_url, home):
    agent = fleet.register("edge-1")
    fleet.heartbeat_series(agent, 200_000, oldest=EXPIRED, spacing=timedelta(milliseconds=1))
    environment = {"DATABASE_URL": db_url, "FLEETCRON_HOME": str(home), "PATH": "/usr/bin:/bin"}
    process = subprocess.Popen(
        [FLEETCRON, "run", "cleanup-heartbeats", "--batch", "500"],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A user's Ctrl-C, whatever pytest inherited: under nohup or as a background job SIGINT
        # is ignored, the child would inherit that, and Python would never raise
        # KeyboardInterrupt in it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 30
    while fleet.heartbeat_count() > 190_000 and time.monotonic() < deadline:
        time.sleep(0.05)

    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    left_after_interrupt = fleet.heartbeat_count()
    resumed = fleetcron("run", "cleanup-heartbeats", home=home, DATABASE_URL=db_url)

    assert process.returncode == 1
    assert "interrupted after" in stderr and "Traceback" not in stderr
    interrupted, finished = fleet.runs()
    assert interrupted["outcome"] == "error"
    assert interrupted["rows_affected"] == 200_000 - left_after_interrupt > 0
    assert (finished["outcome"], finished["rows_affected"]) == ("ok", left_after_interrupt)
    assert resumed.returncode == 0
    assert fleet.heartbeat_count() == 0


# -- status -----------------------------------------------------------------------------------


def test_status_shows_the_fleet_the_backlog_and_the_runs(fleet, db, db_url, home):
    fleet.online_agent("quiet-one", silent_for=QUIET)
    fleet.online_agent("chatty", silent_for=timedelta(seconds=10))
    fleet.register("never-seen")
    agent = fleet.register("edge-1")
    fleet.heartbeat_series(agent, 30, oldest=EXPIRED)
    db.execute("select fleet.run_check_stale('vercel')")
    db.execute(
        "insert into fleet.job_runs (job, triggered_by, outcome, started_at, deadline, "
        "lease_token, backend_pid) values ('cleanup-heartbeats', 'vercel', 'running', "
        "now() - interval '1 hour', now() - interval '50 minutes', gen_random_uuid(), "
        "pg_backend_pid())"
    )
    fleet.silence(fleet.online_agent("quiet-two", silent_for=QUIET), QUIET)

    result = fleetcron("status", home=home, DATABASE_URL=db_url)

    assert result.returncode == 0, result.stderr
    out = result.stdout
    for line in (
        "online           2",
        "offline          2",
        "never seen       1",
        "stale now        1",
        "expired backlog  30",
    ):
        assert line in out
    assert "quiet-two" in out
    assert "stuck runs lost their caller" in out


@pytest.mark.parametrize("command", [["status"], ["doctor"], ["db", "current"]])
def test_a_command_behind_another_sessions_lock_says_so_instead_of_waiting(
    fleet, connect, db_url, home, command
):
    holder = connect(autocommit=False)
    holder.execute("lock table fleet.heartbeats, fleet.alembic_version in access exclusive mode")
    started = time.monotonic()

    result = fleetcron(*command, home=home, timeout=60, DATABASE_URL=db_url)

    assert time.monotonic() - started < 30
    assert result.returncode != 0
    assert "lock timeout" in result.stdout + result.stderr
    holder.rollback()


def test_status_works_for_the_least_privileged_credential(fleet, pg_server, db, home):
    from tests.conftest import CRON_LOGIN, ROLE_PASSWORD, TEST_DATABASE

    url = pg_server.url(TEST_DATABASE, user=CRON_LOGIN, password=ROLE_PASSWORD)

    result = fleetcron("status", home=home, DATABASE_URL=url)

    assert result.returncode == 0, result.stderr


# -- bad input: one clear line, a non-zero exit, no traceback -----------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://db.example.com/x", "must start with postgresql:// or postgres://"),
        ("postgresql://user@host:notaport/db", "the database URL's port is not a number"),
        ("postgresql://user:hunt%zzpw@127.0.0.1/db", "the database URL is malformed"),
        ("postgresql://user:pw@127.0.0.1:1/db", "cannot reach the database"),
    ],
)
def test_a_bad_database_url_is_one_clear_line(home, url, expected):
    for command in (["run", "check-stale"], ["db", "upgrade"], ["status"]):
        line = one_error_line(fleetcron(*command, home=home, DATABASE_URL=url))

        assert expected in line
        assert "pw@" not in line


def test_a_database_without_the_schema_says_to_upgrade(empty_db, home):
    for command in (["run", "check-stale"], ["status"], ["run", "cleanup-heartbeats"]):
        line = one_error_line(fleetcron(*command, home=home, DATABASE_URL=empty_db))

        assert "no fleetcron schema yet; run: fleetcron db upgrade" in line


def test_an_unknown_job_is_refused(home):
    result = fleetcron("run", "reboot-fleet", home=home)

    assert result.returncode == 2
    assert "'reboot-fleet' is not one of 'check-stale', 'cleanup-heartbeats'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("option", "value"), [("--batch", "-5"), ("--time-budget", "0")])
def test_a_negative_batch_or_budget_is_refused(db_url, home, option, value):
    result = fleetcron("run", "cleanup-heartbeats", option, value, home=home, DATABASE_URL=db_url)

    assert result.returncode == 2
    assert f"Invalid value for '{option}'" in result.stderr


@pytest.mark.parametrize("command", [["doctor"], ["schedule", "install"]])
def test_a_vercel_json_that_is_not_json_is_one_clear_line(tmp_path, db_url, home, command):
    (tmp_path / "vercel.json").write_text('{"crons": [}')

    line = (
        one_error_line(
            fleetcron(*command, "--project", str(tmp_path), home=home, DATABASE_URL=db_url)
        )
        if command != ["doctor"]
        else None
    )
    if command == ["doctor"]:
        result = fleetcron("doctor", "--project", str(tmp_path), home=home, DATABASE_URL=db_url)
        assert result.returncode == 1
        assert "vercel.json is not valid JSON: Expecting value at line 1, column 12" in (
            result.stdout
        )
    else:
        assert "vercel.json is not valid JSON" in line


def test_a_schema_without_the_jobs_routine_says_it_is_out_of_date(db, db_url, home):
    db.execute("drop function fleet.mark_stale_agents(text, integer)")
    db.execute("drop function fleet.run_check_stale(text, integer)")

    line = one_error_line(fleetcron("run", "check-stale", home=home, DATABASE_URL=db_url))

    assert "out of date; run: fleetcron db upgrade" in line


def test_a_job_that_fails_in_sql_is_one_line_with_its_sqlstate(fleet, db, db_url, home):
    fleet.online_agent("quiet", silent_for=QUIET)
    # Marking it offline now breaks a rule: the run fails inside the database, which records it.
    db.execute(
        "alter table fleet.agents add constraint never_offline "
        "check (status <> 'offline') not valid"
    )

    line = one_error_line(fleetcron("run", "check-stale", home=home, DATABASE_URL=db_url))

    assert re.match(r"error: check-stale failed \(run 1, SQLSTATE \w{5}\): \S", line)
    assert fleet.runs()[0]["outcome"] == "error"


# -- local ------------------------------------------------------------------------------------


def test_local_start_url_status_and_stop(home):
    started = fleetcron("local", "start", home=home)
    assert started.returncode == 0, started.stderr
    url = fleetcron("local", "url", home=home).stdout.strip()
    running = fleetcron("local", "status", home=home)
    with psycopg.connect(url) as conn:
        answer = conn.execute("select 1").fetchone()[0]
    stopped = fleetcron("local", "stop", home=home)
    after = fleetcron("local", "status", home=home)

    assert started.stdout.strip() == url
    assert answer == 1
    assert "running  yes" in running.stdout and "pg_cron  in database fleetcron" in running.stdout
    assert stopped.returncode == 0
    assert "running  no" in after.stdout
    fleetcron("local", "destroy", "--yes", home=home)


def test_without_a_database_url_commands_use_the_local_server(home):
    result = fleetcron("db", "upgrade", home=home)
    status = fleetcron("status", home=home)
    fleetcron("local", "destroy", "--yes", home=home)

    assert result.returncode == 0, result.stderr
    assert "using the local PostgreSQL" in result.stderr
    assert status.returncode == 0, status.stderr


def test_local_url_before_any_server_says_how_to_make_one(home):
    line = one_error_line(fleetcron("local", "url", home=home))

    assert "fleetcron local start" in line


def test_the_local_server_keeps_its_port_across_stop_and_start(home):
    url = fleetcron("local", "start", home=home).stdout.strip()
    # A query running while the server stops (a psql session, say): the server hangs up first,
    # which leaves its side of the connection, and so its port, in TIME_WAIT for a minute.
    with psycopg.connect(url, autocommit=True) as session:
        query = threading.Thread(target=_fails_quietly, args=(session, "select pg_sleep(60)"))
        query.start()
        _wait_for_a_running_query(url)
        fleetcron("local", "stop", home=home)
        query.join()

    restarted = fleetcron("local", "start", home=home)
    fleetcron("local", "destroy", "--yes", home=home)

    assert restarted.returncode == 0, restarted.stderr
    assert restarted.stdout.strip() == url


def _fails_quietly(conn: psycopg.Connection, query: str) -> None:
    with contextlib.suppress(psycopg.OperationalError):
        conn.execute(query)


def _wait_for_a_running_query(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as monitor:
        deadline = time.monotonic() + 10
        while (
            time.monotonic() < deadline
            and not monitor.execute(
                "select count(*) from pg_stat_activity where query like 'select pg_sleep%%' "
                "and state = 'active' and pid <> pg_backend_pid()"
            ).fetchone()[0]
        ):
            time.sleep(0.05)


def test_a_local_server_whose_port_was_taken_moves_and_says_so(home):
    url = fleetcron("local", "start", home=home).stdout.strip()
    fleetcron("local", "stop", home=home)
    port = int(url.rsplit(":", 1)[1].split("/")[0])

    with socket.socket() as squatter:
        # SO_REUSEADDR: the server's last connections may linger in TIME_WAIT on the port.
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        restarted = fleetcron("local", "start", home=home)
    fleetcron("local", "destroy", "--yes", home=home)

    new_port = int(restarted.stdout.strip().rsplit(":", 1)[1].split("/")[0])
    assert restarted.returncode == 0, restarted.stderr
    assert new_port != port
    assert f"port {port} is taken: the local PostgreSQL moved to port {new_port}" in (
        restarted.stderr
    )


def test_local_url_of_a_stopped_server_says_it_is_stopped(home):
    fleetcron("local", "start", home=home)
    fleetcron("local", "stop", home=home)

    result = fleetcron("local", "url", home=home)
    fleetcron("local", "destroy", "--yes", home=home)

    line = one_error_line(result)
    assert "stopped" in line and "fleetcron local start" in line
    assert result.stdout == ""


# -- demo -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo():
    """One run of the demo (it takes a while), shared by the tests that read its output."""
    folder = Path(tempfile.gettempdir()) / f"fleetcron-demo-{uuid.uuid4().hex[:8]}"
    result = fleetcron("demo", home=folder, timeout=180)
    yield result
    fleetcron("local", "destroy", "--yes", home=folder)
    shutil.rmtree(folder, ignore_errors=True)


def test_the_demo_shows_agents_going_offline_and_old_heartbeats_going(demo):
    assert demo.returncode == 0, demo.stderr
    out = demo.stdout
    assert "HTTP 401" in out
    assert (
        json.loads(out.split("check-stale\n  HTTP 200 ", 1)[1].splitlines()[0])["rows_affected"]
        == 6
    )
    assert "marked offline: edge-35, edge-36, edge-37, edge-38, edge-39, edge-40" in out
    cleanup = json.loads(out.split("cleanup-heartbeats\n  HTTP 200 ", 1)[1].splitlines()[0])
    assert cleanup["rows_affected"] == 40 * 15 * 48
    assert re.search(r"heartbeats past retention\s+28,800\s+0\s", out)


def test_the_demos_heartbeat_counts_add_up_on_screen(demo):
    def count(label: str) -> int:
        [value] = re.findall(rf"^\s*{label}\s+([+-]?[\d,]+)\s*$", demo.stdout, re.MULTILINE)
        return int(value.replace(",", ""))

    before, arrived = count("heartbeats before"), count("recorded during the demo")
    deleted, after = count("deleted by cleanup-heartbeats"), count("heartbeats after")

    assert deleted == -(40 * 15 * 48)
    assert arrived > 0
    assert before + arrived + deleted == after


def test_the_demo_says_it_leaves_a_server_running_and_how_to_stop_it(demo):
    assert "the local PostgreSQL is still running" in demo.stdout
    assert "fleetcron local stop" in demo.stdout
    assert "fleetcron local destroy" in demo.stdout
