"""Alembic: upgrade, downgrade, offline SQL, and the URLs deploy pipelines actually hold."""

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from deployer import migrate
from deployer.paths import PROJECT_ROOT
from tests.catalog import catalog


def fleet_objects(url):
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select relname from pg_class where relnamespace = 'fleet'::regnamespace "
            "and relkind in ('r', 'v', 'S') "
            "union all select proname from pg_proc where pronamespace = 'fleet'::regnamespace "
            "order by 1"
        ).fetchall()


def run_alembic(*args, env):
    return subprocess.run(
        [str(Path(sys.executable).parent / "alembic"), *args],
        cwd=PROJECT_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )


def test_up_down_up_leaves_the_catalog_exactly_as_a_straight_upgrade(
    straight_upgrade, empty_database
):
    straight = catalog(straight_upgrade)

    migrate.upgrade(empty_database)
    migrate.downgrade(empty_database, "base")
    migrate.upgrade(empty_database)

    assert catalog(empty_database) == straight


def test_the_catalog_covers_every_kind_of_object(db_url):
    kinds = {row[0] for row in catalog(db_url)}

    assert kinds >= {
        "schema",
        "routine",
        "relation",
        "view",
        "column",
        "constraint",
        "index",
        "trigger",
    }


def test_downgrading_to_base_removes_everything_but_the_version_table(empty_database):
    migrate.upgrade(empty_database)

    migrate.downgrade(empty_database, "base")

    assert fleet_objects(empty_database) == [("alembic_version",)]


def test_the_database_reports_its_revision(empty_database):
    migrate.upgrade(empty_database)

    with psycopg.connect(empty_database) as conn:
        assert migrate.current(conn) == migrate.head()


def test_offline_sql_names_every_file_it_copies(db_url):
    script = migrate.offline_sql()

    assert script.lstrip().startswith("BEGIN;")
    assert "-- sql/functions/run_check_stale.v1.sql" in script
    assert "create or replace procedure fleet.purge_old_heartbeats_all(" in script
    assert script.rstrip().endswith("COMMIT;")


def test_offline_sql_applied_with_psql_builds_the_same_catalog(
    straight_upgrade, empty_database, tmp_path
):
    script = tmp_path / "upgrade.sql"
    script.write_text(migrate.offline_sql())

    result = subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", empty_database, "-f", str(script)],
        capture_output=True,
        text=True,
    )

    assert result.returncode == 0, result.stderr
    assert catalog(empty_database) == catalog(straight_upgrade)


def test_offline_downgrade_sql_applied_with_psql_returns_to_base(empty_database, tmp_path):
    migrate.upgrade(empty_database)
    script = tmp_path / "downgrade.sql"
    script.write_text(migrate.offline_sql("head:base", downgrade=True))

    result = subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", empty_database, "-f", str(script)],
        capture_output=True,
        text=True,
    )

    assert result.returncode == 0, result.stderr
    assert fleet_objects(empty_database) == [("alembic_version",)]


@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
def test_the_alembic_command_takes_database_url_in_either_scheme(empty_database, scheme):
    url = empty_database.replace("postgresql://", f"{scheme}://", 1)

    result = run_alembic("upgrade", "head", env={"DATABASE_URL": url, "POSTGRES_URL": ""})

    assert result.returncode == 0, result.stderr
    assert "Running upgrade  -> 0001" in result.stderr


def test_the_alembic_command_falls_back_to_postgres_url_and_ignores_provider_parameters(
    empty_database,
):
    url = f"{empty_database}?sslmode=disable&supa=base-pooler.x&pgbouncer=true"

    result = run_alembic("upgrade", "head", env={"DATABASE_URL": "", "POSTGRES_URL": url})

    assert result.returncode == 0, result.stderr
    assert ("alembic_version",) in fleet_objects(empty_database)


def test_the_alembic_command_without_a_database_says_what_fleetcron_db_would_use(tmp_path):
    # fleetcron db falls back to the local throwaway PostgreSQL; alembic, what deploy pipelines
    # run, must not: it stops, creates no local server, and prints the command that uses one.
    home = tmp_path / "fleetcron-home"
    env = {"DATABASE_URL": "", "POSTGRES_URL": "", "FLEETCRON_HOME": str(home)}

    result = run_alembic("upgrade", "head", env=env)

    assert result.returncode != 0
    assert "no database: set DATABASE_URL (or POSTGRES_URL)" in result.stderr
    assert "fleetcron db would use its local throwaway PostgreSQL instead" in result.stderr
    assert (
        '  fleetcron local start && alembic -x url="$(fleetcron local url)" upgrade head\n'
        in result.stderr
    )
    assert not home.exists()


def test_the_alembic_command_takes_the_database_from_x_url(empty_database):
    result = run_alembic(
        "-x",
        f"url={empty_database}",
        "upgrade",
        "head",
        env={"DATABASE_URL": "", "POSTGRES_URL": ""},
    )

    assert result.returncode == 0, result.stderr
    assert ("alembic_version",) in fleet_objects(empty_database)


def test_upgrading_twice_is_a_no_op(db_url):
    before = catalog(db_url)

    migrate.upgrade(db_url)

    assert catalog(db_url) == before


# -- comments: what psql's \df+ and \d+ say ------------------------------------------------


def test_the_status_stamp_trigger_function_says_when_it_leaves_the_stamp_alone(db_url):
    with psycopg.connect(db_url) as conn:
        [(comment,)] = conn.execute(
            "select obj_description('fleet.agents_stamp_status_change()'::regprocedure)"
        ).fetchall()

    assert "unless the UPDATE sets status_changed_at itself" in comment


def test_the_legacy_partitions_range_proof_says_what_it_is_for(db_url):
    with psycopg.connect(db_url) as conn:
        [(comment,)] = conn.execute(
            "select obj_description(oid, 'pg_constraint') from pg_constraint "
            "where conname = 'heartbeats_legacy_before_partitions'"
        ).fetchall()

    assert comment is not None and "ATTACH" in comment
