"""What the CLI prints: whole commands and names when piped, and database text as plain text."""

import re
import shutil
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from deployer import migrate
from deployer.cli import explain
from deployer.localpg import DEFAULT_DATABASE
from deployer.runtime import jobs
from tests.cli import fleetcron, one_error_line
from tests.conftest import CRON_LOGIN, ROLE_PASSWORD, TEST_DATABASE

QUIET = timedelta(minutes=6)
# What an agent could be called by whoever may register agents: rich markup, a hyperlink,
# colour, an OSC 8 link and a title-setting escape, a carriage return that rewrites the line.
HOSTILE_NAMES = [
    "[/]",
    "[link=https://evil.example]click me[/link]",
    "\x1b[31mred\x1b[0m",
    "\x1b]8;;https://evil.example\x07link\x1b]8;;\x07",
    "\x1b]0;owned\x07title",
    "ok\rFAKE",
]


@pytest.fixture
def home():
    folder = Path(tempfile.gettempdir()) / f"fleetcron-home-{uuid.uuid4().hex[:8]}"
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def pg_cron_url(pg_server, fleet_template):
    """The local server's own database, where pg_cron lives, with fleetcron migrated."""
    url = pg_server.url(DEFAULT_DATABASE)
    migrate.upgrade(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("create extension if not exists pg_cron")
        yield url
        conn.execute("select fleet.pg_cron_remove()")


# -- outside a terminal nothing is wrapped or cut short --------------------------------------------


def test_doctor_prints_each_fix_on_one_line_when_piped(pg_server, db, home):
    url = pg_server.url(TEST_DATABASE, user=CRON_LOGIN, password=ROLE_PASSWORD)

    result = fleetcron("doctor", home=home, DATABASE_URL=url)

    assert (
        "    fix: set it in the Vercel project; generate one with: "
        'python3 -c "import secrets; print(secrets.token_urlsafe(32))"\n'
    ) in result.stdout


def test_schedule_list_prints_whole_job_names_when_piped(pg_cron_url, home):
    fleetcron("schedule", "install", home=home, DATABASE_URL=pg_cron_url)

    result = fleetcron("schedule", "list", home=home, DATABASE_URL=pg_cron_url)

    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()]
    names = [row[0] for row in rows if row and row[0].startswith("fleetcron-")]
    assert names == [
        "fleetcron-check-stale",
        "fleetcron-cleanup-heartbeats",
        "fleetcron-prune-cron-history",
    ]


def test_schedule_list_in_a_narrow_terminal_folds_job_names_instead_of_cutting_them(
    pg_cron_url, home
):
    fleetcron("schedule", "install", home=home, DATABASE_URL=pg_cron_url)

    result = fleetcron(
        "schedule", "list", home=home, DATABASE_URL=pg_cron_url, FORCE_COLOR="1", COLUMNS="60"
    )

    assert result.returncode == 0, result.stderr
    assert "…" not in result.stdout
    assert max(len(line) for line in _without_colour(result.stdout).splitlines()) <= 60


def _without_colour(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def test_status_prints_a_long_agent_name_whole_when_piped(fleet, db_url, home):
    name = "edge-" + "x" * 190
    fleet.online_agent(name, silent_for=QUIET)

    result = fleetcron("status", home=home, DATABASE_URL=db_url)

    assert result.returncode == 0, result.stderr
    assert any(line.split()[:1] == [name] for line in result.stdout.splitlines())


# -- database text is plain text ----------------------------------------------------------------


@pytest.mark.parametrize("force_terminal", [False, True], ids=["piped", "terminal"])
def test_status_shows_hostile_agent_names_as_plain_text(fleet, db_url, home, force_terminal):
    for name in HOSTILE_NAMES:
        fleet.online_agent(name, silent_for=QUIET)
    terminal = {"FORCE_COLOR": "1", "COLUMNS": "300"} if force_terminal else {}

    result = fleetcron("status", home=home, DATABASE_URL=db_url, **terminal)

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "[/]" in out
    assert "[link=https://evil.example]click me[/link]" in out
    assert "\\x1b[31mred\\x1b[0m" in out
    assert "\\x1b]8;;https://evil.example\\x07link" in out
    assert "ok\\rFAKE" in out
    assert "\x1b]" not in out  # no OSC sequence at all: neither a hyperlink nor a title
    assert "\r" not in out
    assert "\x1b[31mred" not in out


def test_a_database_error_with_markup_in_its_text_is_one_plain_line(db, db_url, home):
    # status reads this view; make reading it fail with markup in the error's text
    db.execute(
        "create or replace function fleet.odd_agent() returns bigint language plpgsql as $$ "
        "begin raise exception 'agent [/] is [link=https://evil.example]odd[/link]'; end $$"
    )
    db.execute("create or replace view fleet.agent_summary_odd as select fleet.odd_agent()")
    db.execute("alter view fleet.agent_summary rename to agent_summary_kept")
    db.execute("alter view fleet.agent_summary_odd rename to agent_summary")

    line = one_error_line(fleetcron("status", home=home, DATABASE_URL=db_url))

    assert "agent [/] is [link=https://evil.example]odd[/link]" in line


def test_a_run_the_database_stopped_answering_is_reported_with_its_deadline(db):
    # jobs.run raises DatabaseUnavailable from the QueryCanceled its deadline caused.
    db.execute("set statement_timeout = '10ms'")
    try:
        db.execute("select pg_sleep(1)")
    except psycopg.errors.QueryCanceled:
        try:
            raise jobs.DatabaseUnavailable(reason="no answer within 280 s") from None
        except jobs.DatabaseUnavailable as unavailable:
            error = unavailable

    assert explain(error) == "cannot reach the database: no answer within 280 s"
