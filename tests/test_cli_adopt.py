"""`fleetcron adopt`: the app's own tables in one call, and what status and doctor make of them."""

from datetime import timedelta

import pytest

from tests.cli import fleetcron, one_error_line
from tests.conftest import CRON_LOGIN, ROLE_PASSWORD, TEST_DATABASE

QUIET = timedelta(minutes=6)
EXPIRED = timedelta(days=40)
# The seed plan's tables: agents with status online/offline and last_seen, heartbeats with
# created_at and agent_id.
SEED_SCHEMA = """
create table public.agents (
  id uuid primary key default gen_random_uuid(),
  name text not null,
  status text not null default 'offline' check (status in ('online', 'offline')),
  last_seen timestamptz
);
create table public.heartbeats (
  id bigint generated always as identity primary key,
  agent_id uuid not null references public.agents,
  created_at timestamptz not null default now()
);
create index heartbeats_created_at_id_idx on public.heartbeats (created_at, id);
"""


@pytest.fixture
def app(db):
    """The seed's app: one agent quiet for six minutes, one chatty, 40-day-old heartbeats."""
    db.execute(SEED_SCHEMA)
    db.execute(
        "insert into public.agents (name, status, last_seen) values "
        "('quiet', 'online', now() - interval '6 minutes'), "
        "('chatty', 'online', now() - interval '10 seconds')"
    )
    db.execute(
        "insert into public.heartbeats (agent_id, created_at) "
        "select id, now() - interval '40 days' from public.agents"
    )
    return db


def registered_tables(db) -> tuple:
    return db.execute("select agents::text, heartbeats::text from fleet.registration").fetchone()


def test_one_call_adopts_the_seeds_tables_and_the_jobs_work_on_them(app, db_url, tmp_path):
    adopted = fleetcron(
        "adopt", "public.agents", "public.heartbeats", home=tmp_path, DATABASE_URL=db_url
    )

    checked = fleetcron("run", "check-stale", home=tmp_path, DATABASE_URL=db_url)
    cleaned = fleetcron("run", "cleanup-heartbeats", home=tmp_path, DATABASE_URL=db_url)

    assert adopted.returncode == 0, adopted.stderr
    assert "fleetcron now works on public.agents and public.heartbeats" in adopted.stdout
    assert (checked.returncode, cleaned.returncode) == (0, 0), checked.stderr + cleaned.stderr
    assert app.execute("select name from public.agents where status = 'offline'").fetchall() == [
        ("quiet",)
    ]
    assert app.execute("select count(*) from public.heartbeats").fetchone() == (0,)


def test_a_dry_run_validates_and_changes_nothing(app, db_url, tmp_path):
    result = fleetcron(
        "adopt",
        "public.agents",
        "public.heartbeats",
        "--record-transitions",
        "--dry-run",
        home=tmp_path,
        DATABASE_URL=db_url,
    )

    assert result.returncode == 0, result.stderr
    assert "fleetcron would work on public.agents and public.heartbeats" in result.stdout
    assert registered_tables(app) == ("fleet.agents", "fleet.heartbeats")
    assert app.execute(
        "select count(*) from pg_trigger where tgrelid = 'public.agents'::regclass "
        "and not tgisinternal"
    ).fetchone() == (0,)


def test_a_registration_with_a_problem_is_one_line_with_the_fix_and_changes_nothing(
    app, db_url, tmp_path
):
    app.execute("drop index public.heartbeats_created_at_id_idx")

    line = one_error_line(
        fleetcron("adopt", "public.agents", "public.heartbeats", home=tmp_path, DATABASE_URL=db_url)
    )

    assert "public.heartbeats has no index leading with created_at" in line
    assert "create index concurrently on public.heartbeats (created_at, id);" in line
    assert registered_tables(app) == ("fleet.agents", "fleet.heartbeats")


def test_a_name_that_is_no_table_is_one_line_saying_to_qualify_it(app, db_url, tmp_path):
    line = one_error_line(
        fleetcron("adopt", "agents", "public.heartbeats", home=tmp_path, DATABASE_URL=db_url)
    )

    assert "no table agents (name it with its schema, e.g. public.agents" in line


def test_own_tables_switches_back_and_takes_fleetcrons_triggers_off_the_app(app, db_url, tmp_path):
    fleetcron(
        "adopt",
        "public.agents",
        "public.heartbeats",
        "--record-transitions",
        "--touch-agents",
        home=tmp_path,
        DATABASE_URL=db_url,
    )

    result = fleetcron("adopt", "--own-tables", home=tmp_path, DATABASE_URL=db_url)

    assert result.returncode == 0, result.stderr
    assert registered_tables(app) == ("fleet.agents", "fleet.heartbeats")
    assert app.execute(
        "select count(*) from pg_trigger where tgrelid in "
        "('public.agents'::regclass, 'public.heartbeats'::regclass) and not tgisinternal"
    ).fetchone() == (0,)


def test_status_shows_the_adopted_tables_and_their_stale_agents(app, db_url, tmp_path):
    fleetcron(
        "adopt",
        "public.agents",
        "public.heartbeats",
        "--name",
        "name",
        home=tmp_path,
        DATABASE_URL=db_url,
    )

    result = fleetcron("status", home=tmp_path, DATABASE_URL=db_url)

    assert result.returncode == 0, result.stderr
    assert "adopted: public.agents" in result.stdout
    assert "quiet" in result.stdout


def test_doctor_says_what_changed_in_the_adopted_tables_since_they_were_registered(
    app, db_url, pg_server, tmp_path
):
    fleetcron("adopt", "public.agents", "public.heartbeats", home=tmp_path, DATABASE_URL=db_url)
    app.execute("alter table public.agents alter column last_seen type timestamp")
    cron_url = pg_server.url(TEST_DATABASE, user=CRON_LOGIN, password=ROLE_PASSWORD)

    result = fleetcron("doctor", home=tmp_path, DATABASE_URL=cron_url, CRON_SECRET="x" * 32)

    assert result.returncode == 1
    assert (
        "column public.agents.last_seen was timestamp with time zone when registered and is "
        "timestamp without time zone now" in result.stdout
    )
