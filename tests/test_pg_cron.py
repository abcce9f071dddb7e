"""fleetcron schedule: the same jobs from pg_cron, against a real server that preloads it."""

import json
import subprocess
import time
from datetime import timedelta

import psycopg
import pytest

from deployer import migrate
from deployer.localpg import DEFAULT_DATABASE
from tests.cli import fleetcron, one_error_line
from tests.fleet import Fleet

JOB_NAMES = [
    "fleetcron-check-stale",
    "fleetcron-cleanup-heartbeats",
    "fleetcron-prune-cron-history",
]


@pytest.fixture(scope="module")
def cron_url(pg_server, fleet_template):
    """The database pg_cron runs its jobs in (cron.database_name), migrated, with pg_cron."""
    url = pg_server.url(DEFAULT_DATABASE)
    migrate.upgrade(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("create extension if not exists pg_cron")
    yield url
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("select fleet.pg_cron_remove()")


@pytest.fixture
def cron(cron_url):
    with psycopg.connect(cron_url, autocommit=True) as conn:
        conn.execute("select fleet.pg_cron_remove()")
        yield conn
        conn.execute("select fleet.pg_cron_remove()")


def jobs(conn):
    return conn.execute(
        "select jobname, schedule, jobid from cron.job where jobname like 'fleetcron-%' "
        "order by jobname"
    ).fetchall()


def test_install_schedules_the_jobs_from_vercel_json(cron, cron_url, tmp_path):
    result = fleetcron("schedule", "install", home=tmp_path, DATABASE_URL=cron_url)

    assert result.returncode == 0, result.stderr
    assert [(name, schedule) for name, schedule, _ in jobs(cron)] == [
        ("fleetcron-check-stale", "*/5 * * * *"),
        ("fleetcron-cleanup-heartbeats", "0 0 * * *"),
        ("fleetcron-prune-cron-history", "30 1 * * *"),
    ]


def test_installing_again_updates_in_place(cron, cron_url, tmp_path):
    fleetcron("schedule", "install", home=tmp_path, DATABASE_URL=cron_url)
    first = jobs(cron)
    project = tmp_path / "project"
    project.mkdir()
    (project / "vercel.json").write_text(
        json.dumps(
            {
                "crons": [
                    {"path": "/api/cron/check-stale", "schedule": "*/10 * * * *"},
                    {"path": "/api/cron/cleanup-heartbeats", "schedule": "15 3 * * *"},
                ]
            }
        )
    )

    fleetcron(
        "schedule", "install", "--project", str(project), home=tmp_path, DATABASE_URL=cron_url
    )

    second = jobs(cron)
    assert [jobid for *_, jobid in second] == [jobid for *_, jobid in first]
    assert [schedule for _, schedule, _ in second][:2] == ["*/10 * * * *", "15 3 * * *"]


def test_list_shows_the_jobs_and_their_last_run(cron, cron_url, tmp_path):
    fleetcron("schedule", "install", home=tmp_path, DATABASE_URL=cron_url)

    result = fleetcron("schedule", "list", home=tmp_path, DATABASE_URL=cron_url)

    assert result.returncode == 0, result.stderr
    for name in JOB_NAMES:
        assert name in result.stdout


def test_remove_unschedules_them_and_is_idempotent(cron, cron_url, tmp_path):
    fleetcron("schedule", "install", home=tmp_path, DATABASE_URL=cron_url)

    first = fleetcron("schedule", "remove", home=tmp_path, DATABASE_URL=cron_url)
    second = fleetcron("schedule", "remove", home=tmp_path, DATABASE_URL=cron_url)

    assert "removed 3 job(s)" in first.stdout
    assert "removed 0 job(s)" in second.stdout
    assert jobs(cron) == []


def test_without_pg_cron_in_the_database_the_error_says_where_to_get_it(db_url, tmp_path):
    line = one_error_line(fleetcron("schedule", "install", home=tmp_path, DATABASE_URL=db_url))

    assert "pg_cron is not installed in database fleet_test" in line
    assert "Supabase" in line


def test_a_bad_schedule_is_refused_by_pg_cron_and_changes_nothing(cron):
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="invalid schedule"):
        cron.execute("select fleet.pg_cron_install(check_stale_schedule => 'often')")

    assert jobs(cron) == []


def test_the_cron_history_prune_deletes_only_old_details(cron):
    [(command,)] = cron.execute(
        "select command from fleet.pg_cron_install() where jobname = 'fleetcron-prune-cron-history'"
    ).fetchall()
    cron.execute(
        "insert into cron.job_run_details (jobid, runid, status, start_time, end_time) values "
        "(0, -1, 'succeeded', now() - interval '9 days', now() - interval '9 days'), "
        "(0, -2, 'succeeded', now() - interval '1 day', now() - interval '1 day')"
    )

    cron.execute(command)

    remaining = cron.execute(
        "select runid from cron.job_run_details where jobid = 0 order by runid"
    ).fetchall()
    cron.execute("delete from cron.job_run_details where jobid = 0")
    assert remaining == [(-2,)]


def test_the_check_stale_job_runs_under_the_45_s_statement_timeout_the_endpoint_sets(
    cron, cron_url
):
    """pg_cron (in its default mode, cron.use_background_workers off) sends a job's command to
    the server as one query string, as psql -c does; the run must not go on without bound."""
    [(command,)] = cron.execute(
        "select command from fleet.pg_cron_install() where jobname = 'fleetcron-check-stale'"
    ).fetchall()
    cron.execute(
        "create function public.report_statement_timeout() returns trigger language plpgsql "
        "as $$ begin raise notice 'statement_timeout: %', current_setting('statement_timeout'); "
        "return null; end $$"
    )
    cron.execute(
        "create trigger report_statement_timeout before update on fleet.agents "
        "for each statement execute function public.report_statement_timeout()"
    )
    try:
        ran = subprocess.run(
            ["psql", "-X", "-v", "ON_ERROR_STOP=1", "-d", cron_url, "-c", command],
            capture_output=True,
            text=True,
        )
    finally:
        cron.execute("drop trigger report_statement_timeout on fleet.agents")
        cron.execute("drop function public.report_statement_timeout()")

    assert ran.returncode == 0, ran.stderr
    assert "statement_timeout: 45s" in ran.stderr


def test_a_scheduled_job_really_runs_in_pg_cron(cron):
    fleet = Fleet(cron)
    cron.execute("delete from fleet.agents")
    quiet = fleet.online_agent("quiet", silent_for=timedelta(minutes=6))
    agent = fleet.register("edge-1")
    fleet.heartbeat_series(agent, 25, oldest=timedelta(days=40))
    # pg_cron 1.4 schedules by the minute; both jobs fire at the next minute boundary.
    cron.execute("select fleet.pg_cron_install('* * * * *', '* * * * *')")

    deadline = time.monotonic() + 75
    while time.monotonic() < deadline:
        runs = {run["job"]: run for run in fleet.runs() if run["triggered_by"] == "pg_cron"}
        if len(runs) == 2 and all(run["outcome"] != "running" for run in runs.values()):
            break
        time.sleep(1)

    assert runs["check-stale"]["outcome"] == "ok"
    assert runs["cleanup-heartbeats"]["outcome"] == "ok"
    assert fleet.status(quiet) == "offline"
    assert fleet.heartbeat_count(older_than=timedelta(days=30)) == 0
    details = cron.execute(
        "select j.jobname, d.status from cron.job_run_details as d "
        "join cron.job as j using (jobid) where j.jobname like 'fleetcron-%' order by 1"
    ).fetchall()
    assert ("fleetcron-check-stale", "succeeded") in details
    assert ("fleetcron-cleanup-heartbeats", "succeeded") in details
