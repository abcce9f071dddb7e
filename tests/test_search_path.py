"""A database shared with someone hostile: nothing fleetcron runs may resolve to their objects.

The fixture builds what an adversarial review used against the landed code: Supabase's anon and
authenticated roles present, schema public writable by everyone (PostgreSQL 14 and older, or a
database owned by another role), and a low-privilege login that plants better-matching
functions, operators and domains there and in a schema of its own. Every planted object raises
when called, so any migration, view, job or CLI command that resolved a name through the
caller's search_path would fail here.
"""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
from psycopg import sql

from deployer import migrate
from tests.cli import fleetcron
from tests.conftest import CRON_LOGIN, ROLE_PASSWORD
from tests.fleet import Fleet

ATTACKER = "fleet_test_attacker"

# Run as the attacker: a login with nothing but CREATE on public. Each object raises when used.
PLANTED = """
create function public.hijacked(what text) returns boolean language plpgsql as $$
begin
  raise exception 'hijacked: % resolved to a planted object', what;
end $$;

create function public.format(text, text) returns text language sql
  as $$ select null::text where public.hijacked('format(text, text)') $$;
create function public.pg_total_relation_size(oid) returns bigint language sql
  as $$ select null::bigint where public.hijacked('pg_total_relation_size(oid)') $$;
create function public.acldefault(text, oid) returns aclitem[] language sql
  as $$ select null::aclitem[] where public.hijacked('acldefault(text, oid)') $$;
create function public.eq_regclass(oid, regclass) returns boolean language sql
  as $$ select public.hijacked('=(oid, regclass)') $$;
create operator public.= (leftarg = oid, rightarg = regclass, function = public.eq_regclass);
create function public.eq_regprocedure(oid, regprocedure) returns boolean language sql
  as $$ select public.hijacked('=(oid, regprocedure)') $$;
create operator public.= (
  leftarg = oid, rightarg = regprocedure, function = public.eq_regprocedure
);
create function public.eq_regtype(oid, regtype) returns boolean language sql
  as $$ select public.hijacked('=(oid, regtype)') $$;
create operator public.= (leftarg = oid, rightarg = regtype, function = public.eq_regtype);
create function public.eq_regnamespace(oid, regnamespace) returns boolean language sql
  as $$ select public.hijacked('=(oid, regnamespace)') $$;
create operator public.= (
  leftarg = oid, rightarg = regnamespace, function = public.eq_regnamespace
);

create schema attacker;
create domain attacker.text as pg_catalog.text
  check (public.hijacked('the domain attacker.text'));
create domain attacker.timestamptz as pg_catalog.timestamptz
  check (public.hijacked('the domain attacker.timestamptz'));
create domain attacker.int8 as pg_catalog.int8
  check (public.hijacked('the domain attacker.int8'));
create domain attacker.bool as pg_catalog.bool
  check (public.hijacked('the domain attacker.bool'));
create function attacker.now() returns timestamptz language sql
  as $$ select null::timestamptz where public.hijacked('now()') $$;
create function attacker.clock_timestamp() returns timestamptz language sql
  as $$ select null::timestamptz where public.hijacked('clock_timestamp()') $$;
create function attacker.format(text, text) returns text language sql
  as $$ select null::text where public.hijacked('format(text, text)') $$;
grant usage on schema attacker to public;
"""
# Whoever puts attacker's schema first on their path meets its exact matches before pg_catalog.
HOSTILE_PATH = "attacker, public, pg_catalog"
VIEWS = ("agent_summary", "stale_agents", "heartbeat_summary", "job_summary", "recent_job_runs")


@pytest.fixture(scope="module")
def attacker_login(pg_server):
    with psycopg.connect(pg_server.url("postgres"), autocommit=True) as admin:
        for role in ("anon", "authenticated"):
            admin.execute(
                sql.SQL(
                    "do $$ begin create role {} nologin; "
                    "exception when duplicate_object then null; end $$"
                ).format(sql.Identifier(role))
            )
        admin.execute(
            sql.SQL(
                "do $$ begin create role {} login password {}; "
                "exception when duplicate_object then null; end $$"
            ).format(sql.Identifier(ATTACKER), sql.Literal(ROLE_PASSWORD))
        )
    return ATTACKER


@pytest.fixture
def hostile_database(new_database, pg_server, attacker_login):
    """A fleetcron-less database whose public schema an attacker has booby-trapped."""
    url = new_database()
    dbname = url.rsplit("/", 1)[1]
    with psycopg.connect(url, autocommit=True) as owner:
        owner.execute("grant create on schema public to public")
        owner.execute(
            sql.SQL("grant create on database {} to {}").format(
                sql.Identifier(dbname), sql.Identifier(ATTACKER)
            )
        )
    attacker_url = pg_server.url(dbname, user=ATTACKER, password=ROLE_PASSWORD)
    with psycopg.connect(attacker_url, autocommit=True) as attacker:
        attacker.execute(PLANTED)
    return url


def test_the_planted_objects_do_fire_for_a_careless_query(hostile_database):
    """The fixture itself: an unqualified query through public meets the traps."""
    with (
        psycopg.connect(hostile_database) as conn,
        pytest.raises(psycopg.errors.RaiseException, match="hijacked"),
    ):
        conn.execute("select format('%I', 'x'::text)")


def test_the_migration_runs_without_calling_a_planted_object(hostile_database):
    migrate.upgrade(hostile_database)

    with psycopg.connect(hostile_database) as conn:
        assert migrate.current(conn) == migrate.head()


@pytest.fixture
def hostile_fleet(hostile_database):
    """The hostile database with fleetcron deployed and a small fleet in it."""
    migrate.upgrade(hostile_database)
    conn = psycopg.connect(hostile_database, autocommit=True)
    fleet = Fleet(conn)
    conn.execute("set search_path = pg_catalog, pg_temp")
    fleet.online_agent("quiet", silent_for=timedelta(minutes=6))
    fleet.heartbeat_series(fleet.register("edge-1"), 25, oldest=timedelta(days=40))
    conn.execute("reset search_path")
    yield conn
    conn.close()


@pytest.mark.parametrize("view", VIEWS)
def test_every_view_reads_without_calling_a_planted_object(hostile_fleet, view):
    hostile_fleet.execute(f"set search_path = {HOSTILE_PATH}")

    rows = hostile_fleet.execute(
        sql.SQL("select * from fleet.{}").format(sql.Identifier(view))
    ).fetchall()

    assert isinstance(rows, list)


def test_check_stale_runs_without_calling_a_planted_object(hostile_fleet):
    hostile_fleet.execute(f"set search_path = {HOSTILE_PATH}")

    marked = hostile_fleet.execute("select agent_name from fleet.mark_stale_agents()").fetchall()

    assert marked == [("quiet",)]


def test_the_cleanup_procedure_runs_without_calling_a_planted_object_or_domain(hostile_fleet):
    hostile_fleet.execute(f"set search_path = {HOSTILE_PATH}")

    report = hostile_fleet.execute("call fleet.purge_old_heartbeats_all(batch => 10)").fetchone()

    assert report[1:] == ("ok", 25, 3, False)


def test_a_hand_purge_runs_without_calling_a_planted_object(hostile_fleet):
    hostile_fleet.execute(f"set search_path = {HOSTILE_PATH}")

    deleted = hostile_fleet.execute("select fleet.purge_old_heartbeats(10)").fetchone()[0]

    assert deleted == 10


def test_the_least_privileged_login_runs_both_jobs_with_public_on_its_path(
    hostile_fleet, pg_server, hostile_database, fleet_template
):
    dbname = hostile_database.rsplit("/", 1)[1]
    url = pg_server.url(dbname, user=CRON_LOGIN, password=ROLE_PASSWORD)
    with psycopg.connect(url, autocommit=True) as cron:
        checked = cron.execute("select outcome from fleet.run_check_stale()").fetchone()
        purged = cron.execute("call fleet.purge_old_heartbeats_all()").fetchone()
        summary = cron.execute("select * from fleet.heartbeat_summary").fetchone()

    assert (checked, purged[1], summary[0]) == (("ok",), "ok", 1)


@pytest.mark.parametrize(
    "command",
    [
        ["status"],
        ["run", "check-stale"],
        ["run", "cleanup-heartbeats", "--batch", "10"],
        ["db", "current"],
        ["db", "upgrade"],
    ],
)
def test_cli_commands_run_without_calling_a_planted_object(
    hostile_fleet, hostile_database, tmp_path, command
):
    result = fleetcron(*command, home=tmp_path, DATABASE_URL=hostile_database)

    assert result.returncode == 0, result.stderr
    assert "hijacked" not in result.stdout + result.stderr


def test_doctor_checks_the_catalog_without_calling_a_planted_object(
    hostile_fleet, hostile_database, tmp_path
):
    result = fleetcron("doctor", home=tmp_path, DATABASE_URL=hostile_database, CRON_SECRET="x" * 32)

    assert "hijacked" not in result.stdout + result.stderr
    assert "depends on" not in result.stdout


def test_doctor_reports_a_fleet_object_bound_to_an_object_outside_fleet_and_pg_catalog(
    hostile_fleet, hostile_database, tmp_path
):
    hostile_fleet.execute(
        "create view fleet.leaky as select public.format('%s', 'x'::text) as x where false"
    )

    result = fleetcron("doctor", home=tmp_path, DATABASE_URL=hostile_database, CRON_SECRET="x" * 32)

    assert result.returncode == 1
    assert "fleet.leaky depends on function public.format(text,text)" in result.stdout
