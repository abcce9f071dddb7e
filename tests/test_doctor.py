"""fleetcron doctor catches each misconfiguration, and says how to fix it."""

import json
import shutil

import pytest

from deployer import doctor
from deployer.paths import API_DIR, VERCEL_JSON
from tests.cli import fleetcron
from tests.conftest import CRON_LOGIN, NOBODY_LOGIN, ROLE_PASSWORD, TEST_DATABASE

GOOD_SECRET = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def project(tmp_path):
    """A copy of this project's vercel.json and api/ that a test may break."""
    shutil.copytree(API_DIR, tmp_path / "api")
    shutil.copy(VERCEL_JSON, tmp_path / "vercel.json")
    return tmp_path


@pytest.fixture
def cron_url(pg_server, db):
    return pg_server.url(TEST_DATABASE, user=CRON_LOGIN, password=ROLE_PASSWORD)


def findings(url, project, **environ):
    return doctor.run_checks(url, project, {"CRON_SECRET": GOOD_SECRET, **environ})


def failures(found):
    return [(f.check, f.message) for f in found if f.level == doctor.FAIL]


def warnings(found):
    return [(f.check, f.message) for f in found if f.level == doctor.WARN]


def edit_vercel_json(project, change):
    path = project / "vercel.json"
    config = json.loads(path.read_text())
    change(config)
    path.write_text(json.dumps(config))


def test_a_correct_deployment_has_no_failures(cron_url, project):
    found = findings(cron_url, project)

    assert failures(found) == []
    assert all(f.fix for f in found if f.level != doctor.OK)


def test_the_only_warning_of_this_projects_setup_is_the_hobby_plan(cron_url, project):
    assert warnings(findings(cron_url, project)) == [
        ("crons", '/api/cron/check-stale runs "*/5 * * * *": more often than daily')
    ]


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        (None, "not set: the endpoints refuse every request"),
        ("", "not set"),
        ("too-short", "only 9 characters long"),
    ],
)
def test_a_missing_or_short_cron_secret_fails(cron_url, project, secret, message):
    environ = {} if secret is None else {"CRON_SECRET": secret}

    found = doctor.run_checks(cron_url, project, environ)

    [(check, text)] = failures(found)
    assert check == "CRON_SECRET" and message in text


@pytest.mark.parametrize(("length", "failed"), [(15, ["only 15 characters long"]), (16, [])])
def test_a_cron_secret_needs_sixteen_characters(cron_url, project, length, failed):
    found = doctor.run_checks(cron_url, project, {"CRON_SECRET": "s" * length})

    assert [text for check, text in failures(found) if check == "CRON_SECRET"] == failed


def test_a_cron_secret_of_only_whitespace_is_not_set(cron_url, project):
    found = doctor.run_checks(cron_url, project, {"CRON_SECRET": " " * 20})

    [(check, text)] = failures(found)
    assert check == "CRON_SECRET" and "not set" in text


def test_a_cron_secret_is_judged_without_its_surrounding_whitespace(cron_url, project):
    found = doctor.run_checks(cron_url, project, {"CRON_SECRET": "  hunter2-secret  "})

    [(check, text)] = failures(found)
    assert check == "CRON_SECRET" and "only 14 characters long" in text


@pytest.mark.parametrize("value", ["abc", "0", "-3", "2.5"])
def test_a_connect_timeout_the_functions_would_ignore_fails(cron_url, project, value):
    found = findings(cron_url, project, FLEETCRON_CONNECT_TIMEOUT_SECONDS=value)

    assert [(check, text.split(" is ")[0]) for check, text in failures(found)] == [
        ("connect timeout", f"FLEETCRON_CONNECT_TIMEOUT_SECONDS={value!r}")
    ]


def test_a_vercel_json_that_is_not_json_fails(cron_url, project):
    (project / "vercel.json").write_text("{ crons: [] }")

    [(check, text)] = failures(findings(cron_url, project))

    assert check == "vercel.json" and "is not valid JSON" in text


def test_a_cron_without_a_function_file_fails(cron_url, project):
    (project / "api" / "cron" / "check-stale.py").unlink()

    found = failures(findings(cron_url, project))

    assert (
        "crons",
        "/api/cron/check-stale has no function under api/ (Vercel would get a 404)",
    ) in found
    assert any("matches no file" in text for _, text in found)


def test_a_cron_pointing_at_a_misspelled_path_fails(cron_url, project):
    edit_vercel_json(project, lambda c: c["crons"][1].update(path="/api/cron/cleanup-heartbeat"))

    found = findings(cron_url, project)

    assert (
        "crons",
        "/api/cron/cleanup-heartbeat has no function under api/ (Vercel would get a 404)",
    ) in failures(found)
    assert ("crons", "cleanup-heartbeats is not scheduled in vercel.json") in warnings(found)


def test_a_malformed_schedule_fails(cron_url, project):
    edit_vercel_json(project, lambda c: c["crons"][1].update(schedule="every night"))

    assert (
        "crons",
        '/api/cron/cleanup-heartbeats: "every night" is not a 5-field cron expression',
    ) in failures(findings(cron_url, project))


def test_a_function_pattern_that_matches_no_file_fails(cron_url, project):
    edit_vercel_json(
        project, lambda c: c["functions"].update({"api/cron/purge.py": {"maxDuration": 60}})
    )

    assert ("functions", '"api/cron/purge.py" matches no file (Vercel refuses the deploy)') in (
        failures(findings(cron_url, project))
    )


def test_a_purge_budget_that_does_not_fit_max_duration_fails(cron_url, project):
    edit_vercel_json(
        project,
        lambda c: c["functions"]["api/cron/cleanup-heartbeats.py"].update(maxDuration=120),
    )

    [(check, text)] = failures(findings(cron_url, project))

    assert check == "durations"
    assert text == (
        "cleanup-heartbeats: it may spend 240 s deleting, but the function is stopped after 120 s"
    )


def test_a_purge_budget_set_too_high_in_the_environment_fails(cron_url, project):
    found = findings(cron_url, project, FLEETCRON_PURGE_TIME_BUDGET_SECONDS="295")

    assert [check for check, _ in failures(found)] == ["durations"]


@pytest.mark.parametrize("pattern", ["", "api/**cron.py"])
def test_a_functions_pattern_pathlib_cannot_read_is_a_finding(cron_url, project, pattern):
    edit_vercel_json(project, lambda c: c["functions"].update({pattern: {"maxDuration": 60}}))

    assert (
        "functions",
        f'"{pattern}" matches no file (Vercel refuses the deploy)',
    ) in failures(findings(cron_url, project))


def test_a_purge_budget_that_leaves_no_room_for_the_clients_deadline_fails(cron_url, project):
    found = findings(cron_url, project, FLEETCRON_PURGE_TIME_BUDGET_SECONDS="270")

    [(check, text)] = failures(found)
    assert check == "durations"
    assert text == (
        "cleanup-heartbeats: it may spend 270 s deleting, but the function is stopped after 300 s"
    )


@pytest.mark.parametrize("value", ["four minutes", "0", "-5", "inf", "1e20"])
def test_a_purge_budget_that_is_not_a_sensible_number_fails(cron_url, project, value):
    found = findings(cron_url, project, FLEETCRON_PURGE_TIME_BUDGET_SECONDS=value)

    assert (
        "purge budget",
        f"FLEETCRON_PURGE_TIME_BUDGET_SECONDS={value!r} is not a number of seconds above 0 and "
        "up to 86400; the default is used instead",
    ) in failures(found)


def test_a_check_stale_function_stopped_before_its_statement_timeout_fails(cron_url, project):
    edit_vercel_json(
        project, lambda c: c["functions"]["api/cron/check-stale.py"].update(maxDuration=30)
    )

    assert (
        "durations",
        "check-stale: its UPDATE may run 45 s, but the function is stopped after 30 s",
    ) in failures(findings(cron_url, project))


def test_functions_settings_that_are_not_objects_fail(cron_url, project):
    edit_vercel_json(project, lambda c: c["functions"].update({"api/cron/check-stale.py": 60}))

    [(check, text)] = failures(findings(cron_url, project))

    assert check == "vercel.json" and '"functions" must map patterns to objects' in text


def test_an_absolute_function_pattern_fails(cron_url, project):
    edit_vercel_json(
        project, lambda c: c["functions"].update({"/api/cron/*.py": {"maxDuration": 60}})
    )

    assert ("functions", '"/api/cron/*.py" matches no file (Vercel refuses the deploy)') in (
        failures(findings(cron_url, project))
    )


def test_a_vercel_json_that_is_not_utf8_fails(cron_url, project):
    (project / "vercel.json").write_bytes(b'{"crons": [], "x": "\xff"}')

    [(check, text)] = failures(findings(cron_url, project))

    assert check == "vercel.json" and "cannot be read" in text


def test_a_function_file_that_no_cron_calls_warns(cron_url, project):
    (project / "api" / "cron" / "reboot.py").write_text("class handler: ...\n")

    assert ("crons", "/api/cron/reboot exists but no cron calls it") in warnings(
        findings(cron_url, project)
    )


def test_a_max_duration_beyond_vercels_limit_fails_and_beyond_hobby_warns(cron_url, project):
    edit_vercel_json(
        project,
        lambda c: c["functions"].update(
            {
                "api/cron/check-stale.py": {"maxDuration": 900},
                "api/cron/cleanup-heartbeats.py": {"maxDuration": 600},
            }
        ),
    )

    found = findings(cron_url, project)

    assert ("functions", "api/cron/check-stale.py: maxDuration 900 is not 1..800 seconds") in (
        failures(found)
    )
    assert ("functions", "api/cron/cleanup-heartbeats.py: maxDuration 600 needs a Pro plan") in (
        warnings(found)
    )


def test_no_database_url_fails(project):
    assert ("database", "neither DATABASE_URL nor POSTGRES_URL is set") in failures(
        findings(None, project)
    )


def test_an_unreachable_database_fails(project):
    assert ("database", "unreachable: connection refused") in failures(
        findings("postgresql://fleet:pw@127.0.0.1:1/fleet", project)
    )


def test_a_database_without_fleetcron_fails(pg_server, project):
    found = failures(findings(pg_server.url("postgres"), project))

    assert ("migrations", "fleetcron is not installed in this database") in found


def test_a_missing_routine_fails(db, db_url, project):
    db.execute("drop function fleet.mark_stale_agents(text, integer)")

    assert ("routines", "fleet.mark_stale_agents(text,integer) is missing") in failures(
        findings(db_url, project)
    )


def test_a_security_definer_routine_without_its_search_path_fails(db, db_url, project):
    db.execute("alter function fleet.run_check_stale(text, integer) reset search_path")

    assert (
        "routines",
        "fleet.run_check_stale(text,integer) is SECURITY DEFINER without a pinned search_path",
    ) in failures(findings(db_url, project))


@pytest.mark.parametrize("grantee", ["public", "anon", "authenticated"])
def test_a_routine_executable_by_public_or_supabase_api_roles_fails(
    db, db_url, project, pg_server, grantee
):
    if grantee != "public":
        db.execute(
            f"do $$ begin create role {grantee} nologin; "
            "exception when duplicate_object then null; end $$"
        )
    db.execute(f"grant execute on function fleet.run_check_stale(text, integer) to {grantee}")

    assert ("privileges", f"{grantee} may execute fleet.run_check_stale(text,integer)") in failures(
        findings(db_url, project)
    )


def test_a_routine_that_lost_security_definer_fails(db, db_url, project):
    db.execute("alter function fleet.record_heartbeat(uuid, jsonb) security invoker")

    assert ("routines", "fleet.record_heartbeat(uuid,jsonb) is not SECURITY DEFINER") in failures(
        findings(db_url, project)
    )


def test_an_empty_search_path_counts_as_pinned(db, db_url, project):
    db.execute("alter function fleet.run_check_stale(text, integer) set search_path = ''")

    assert [check for check, _ in failures(findings(db_url, project))] == []


def test_a_statement_timeout_shorter_than_the_purge_budget_warns(db, cron_url, project):
    db.execute(
        f"alter role {CRON_LOGIN} in database {TEST_DATABASE} set statement_timeout = '2min'"
    )

    found = warnings(findings(cron_url, project))

    db.execute(f"alter role {CRON_LOGIN} in database {TEST_DATABASE} reset statement_timeout")
    assert (
        "credential",
        f"{CRON_LOGIN} has statement_timeout 120 s: cleanup runs stop after 96 s instead of 240 s",
    ) in found


def test_a_superuser_credential_warns(db_url, project):
    assert ("credential", "postgres is a superuser") in warnings(findings(db_url, project))


def test_a_credential_without_fleet_cron_fails(pg_server, db, project):
    url = pg_server.url(TEST_DATABASE, user=NOBODY_LOGIN, password=ROLE_PASSWORD)

    found = failures(findings(url, project))

    assert ("credential", "this login may not use fleetcron's schema") in found


def test_a_credential_that_sees_the_schema_but_cannot_run_the_jobs_fails(pg_server, db, project):
    url = pg_server.url(TEST_DATABASE, user=NOBODY_LOGIN, password=ROLE_PASSWORD)
    db.execute(f"grant usage on schema fleet to {NOBODY_LOGIN}")
    db.execute(f"grant select on fleet.alembic_version to {NOBODY_LOGIN}")

    found = failures(findings(url, project))

    assert ("credential", f"{NOBODY_LOGIN} cannot run the jobs") in found


@pytest.mark.parametrize(
    ("url", "level", "message"),
    [
        (
            "postgresql://u:p@db.abcd.supabase.co:5432/postgres",
            doctor.WARN,
            "a direct Supabase connection",
        ),
        (
            "postgres://u:p@aws-0-eu-west-1.pooler.supabase.com:5432/postgres",
            doctor.WARN,
            "Supabase pooler on port 5432 (session mode)",
        ),
        (
            "postgres://u:p@aws-0-eu-west-1.pooler.supabase.com:6543/postgres",
            doctor.OK,
            "Supabase pooler, transaction mode",
        ),
        ("postgresql://u:p@pg.internal:6432/app", doctor.OK, "looks pooled (pg.internal:6432)"),
        (
            "postgresql://u:p@pg.example.com:5432/app",
            doctor.WARN,
            "cannot tell whether pg.example.com:5432 is pooled",
        ),
    ],
)
def test_a_direct_connection_where_a_pooler_is_expected_is_hinted(url, level, message):
    finding = doctor._connection_kind(url)

    assert (finding.level, finding.message) == (level, message)


def test_the_command_exits_non_zero_on_failure_and_zero_when_all_is_well(
    cron_url, project, tmp_path
):
    home = tmp_path / "home"
    broken = fleetcron("doctor", "--project", str(project), home=home, DATABASE_URL=cron_url)
    healthy = fleetcron(
        "doctor",
        "--project",
        str(project),
        home=home,
        DATABASE_URL=cron_url,
        CRON_SECRET=GOOD_SECRET,
    )

    assert broken.returncode == 1
    assert "✗ CRON_SECRET: not set" in broken.stdout
    assert "fix: set it in the Vercel project" in broken.stdout
    assert healthy.returncode == 0, healthy.stdout
    assert "0 failed, 1 warnings" in healthy.stdout
