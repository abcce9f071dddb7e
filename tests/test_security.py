"""Privileges: nothing for PUBLIC, jobs for fleet_cron, heartbeats for fleet_agent, no tables."""

import re
from datetime import timedelta

import psycopg
import pytest
from psycopg import errors, sql

from deployer import migrate
from tests.conftest import AGENT_LOGIN, CRON_LOGIN, NOBODY_LOGIN

JOB_CALLS = [
    "select * from fleet.run_check_stale()",
    "select * from fleet.mark_stale_agents()",
    "select fleet.purge_old_heartbeats(100)",
    "call fleet.purge_old_heartbeats_all()",
]
AGENT_CALLS = [
    "select fleet.register_agent('edge-1')",
    "select fleet.record_heartbeat((select id from fleet.register_agent('edge-1')))",
]


def fleet_routines(db):
    return db.execute(
        "select p.oid::regprocedure::text, p.prokind, p.prosecdef, p.proconfig "
        "from pg_proc as p where p.pronamespace = 'fleet'::regnamespace order by 1"
    ).fetchall()


def test_no_fleet_routine_is_executable_by_public(db):
    executable = db.execute(
        "select p.oid::regprocedure::text from pg_proc as p "
        "cross join lateral aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) as acl "
        "where p.pronamespace = 'fleet'::regnamespace and acl.grantee = 0"
    ).fetchall()

    assert executable == []


PROCEDURE = (
    "fleet.purge_old_heartbeats_all(integer,interval,text,bigint,text,bigint,integer,boolean)"
)
# Routines a fleet role may execute that deliberately run with the caller's rights: the
# procedure (a procedure that COMMITs cannot be SECURITY DEFINER), a pure time helper, and a
# reader of the public catalog (column types and owners) that touches no fleet table.
CALLERS_RIGHTS = {
    PROCEDURE,
    "fleet.ago(interval)",
    "fleet.registration_fingerprint(fleet.registration)",
}


def test_every_function_pins_its_search_path_so_only_the_procedure_is_left_for_the_advisor(db):
    """Supabase's Security Advisor, lint 0011: a function whose proconfig has no search_path."""
    unpinned = [
        name
        for name, kind, _, config in fleet_routines(db)
        if kind != "p" and "search_path=pg_catalog, pg_temp" not in (config or [])
    ]
    procedures = [name for name, kind, _, config in fleet_routines(db) if kind == "p"]

    assert unpinned == []
    assert procedures == [PROCEDURE]


def test_every_routine_a_fleet_role_may_run_acts_with_its_owners_rights_unless_listed(db):
    runnable = db.execute(
        "select p.oid::regprocedure::text, p.prosecdef from pg_proc as p "
        "where p.pronamespace = 'fleet'::regnamespace "
        "and (has_function_privilege('fleet_cron', p.oid, 'execute') "
        "  or has_function_privilege('fleet_agent', p.oid, 'execute')) order by 1"
    ).fetchall()

    callers_rights = {name for name, definer in runnable if not definer}
    assert callers_rights == CALLERS_RIGHTS
    assert len(runnable) > len(CALLERS_RIGHTS)
    assert "fleet.purge_run_batch(bigint,uuid)" in {name for name, _ in runnable}


# What each fleet role may run (README, "Roles and privileges"). A routine granted to a role is
# a door into the schema, so a grant is added here on purpose or not at all.
FLEET_CRON_ROUTINES = {
    "fleet.agent_counts()",
    "fleet.ago(interval)",
    "fleet.claim_purge_run(integer,interval,text)",
    "fleet.fail_purge_run(bigint,uuid,text,text)",
    "fleet.finish_purge_run(bigint,uuid)",
    "fleet.heartbeat_counts()",
    "fleet.mark_stale_agents(text,integer)",
    "fleet.prune_run_log()",
    "fleet.purge_old_heartbeats(integer)",
    PROCEDURE,
    "fleet.purge_run_batch(bigint,uuid)",
    "fleet.purge_step(integer,regclass,text,text,regclass[],boolean)",
    "fleet.record_failed_run(text,text,text,text)",
    "fleet.registration_fingerprint(fleet.registration)",
    "fleet.registration_problems()",
    "fleet.run_check_stale(text,integer)",
    "fleet.stale_agents_now()",
}
FLEET_AGENT_ROUTINES = {
    "fleet.ago(interval)",
    "fleet.record_heartbeat(uuid,jsonb)",
    "fleet.register_agent(text,interval)",
}


@pytest.mark.parametrize(
    ("role", "routines"),
    [("fleet_cron", FLEET_CRON_ROUTINES), ("fleet_agent", FLEET_AGENT_ROUTINES)],
)
def test_each_fleet_role_may_run_exactly_the_routines_listed_for_it(db, role, routines):
    runnable = db.execute(
        "select p.oid::regprocedure::text from pg_proc as p "
        "where p.pronamespace = 'fleet'::regnamespace "
        "and has_function_privilege(%s, p.oid, 'execute')",
        (role,),
    ).fetchall()

    assert {name for (name,) in runnable} == routines


def test_fleet_cron_cannot_have_a_registration_of_its_own_making_checked_as_the_owner(connect):
    """Checking a registration evaluates its casts and CHECK expressions as the routines' owner
    against the owner's tables; fleet_cron may have only the stored registration checked."""
    cron = connect(CRON_LOGIN)

    with pytest.raises(errors.InsufficientPrivilege, match="function registration_problems"):
        cron.execute("select * from fleet.registration_problems(null::fleet.registration)")


def test_fleet_cron_reads_what_is_wrong_with_the_stored_registration(db, connect):
    db.execute("update fleet.registration set heartbeat_key = 'nope'")
    cron = connect(CRON_LOGIN)

    [(problems,)] = cron.execute("select problems from fleet.registered_tables").fetchall()

    assert [p["problem"] for p in problems] == [
        "fleet.heartbeats has no column nope (the heartbeat key column)"
    ]


def test_the_cleanup_procedure_runs_with_its_callers_rights_so_it_may_commit(db):
    [procedure] = [row for row in fleet_routines(db) if row[1] == "p"]

    assert procedure[0].startswith("fleet.purge_old_heartbeats_all(")
    assert (procedure[2], procedure[3]) == (False, None)


@pytest.mark.parametrize("call", JOB_CALLS + AGENT_CALLS)
def test_a_role_without_the_grants_cannot_use_the_schema(connect, call):
    nobody = connect(NOBODY_LOGIN)

    with pytest.raises(errors.InsufficientPrivilege, match="permission denied for schema fleet"):
        nobody.execute(call)


def test_schema_usage_alone_grants_no_routine(db, connect):
    db.execute(sql.SQL("grant usage on schema fleet to {}").format(sql.Identifier(NOBODY_LOGIN)))
    nobody = connect(NOBODY_LOGIN)

    executable = [
        signature
        for signature, *_ in fleet_routines(db)
        if db.execute(
            "select has_function_privilege(%s, %s, 'execute')", (NOBODY_LOGIN, signature)
        ).fetchone()[0]
    ]

    assert executable == []
    for call in JOB_CALLS + AGENT_CALLS:
        with pytest.raises(errors.InsufficientPrivilege, match="permission denied for"):
            nobody.execute(call)


@pytest.mark.parametrize(
    ("call", "job", "rows_affected"),
    [
        ("select * from fleet.run_check_stale('vercel')", "check-stale", 1),
        ("select * from fleet.mark_stale_agents('vercel')", "check-stale", 1),
        ("call fleet.purge_old_heartbeats_all(triggered_by => 'vercel')", "cleanup-heartbeats", 20),
    ],
)
def test_a_login_with_only_fleet_cron_membership_runs_the_jobs(
    fleet, connect, call, job, rows_affected
):
    agent = fleet.online_agent("quiet", silent_for=timedelta(minutes=6))
    fleet.heartbeat_series(agent, 20, oldest=timedelta(days=40))
    cron = connect(CRON_LOGIN)

    cron.execute(call)

    [run] = fleet.runs()
    assert (run["job"], run["outcome"], run["rows_affected"]) == (job, "ok", rows_affected)


def test_a_login_with_only_fleet_cron_membership_purges_a_batch_by_hand(fleet, connect):
    agent = fleet.register("edge-1")
    fleet.heartbeat_series(agent, 20, oldest=timedelta(days=40))

    deleted = connect(CRON_LOGIN).execute("select fleet.purge_old_heartbeats(5)").fetchone()[0]

    assert deleted == 5
    assert fleet.heartbeat_count() == 15


def test_fleet_cron_marks_agents_offline_through_the_job(fleet, connect):
    agent = fleet.online_agent("quiet", silent_for=timedelta(minutes=6))

    connect(CRON_LOGIN).execute("select fleet.run_check_stale('vercel')")

    assert fleet.status(agent) == "offline"


@pytest.mark.parametrize(
    "statement",
    [
        "select * from fleet.agents",
        "select * from fleet.heartbeats",
        "select * from fleet.job_runs",
        "update fleet.config set stale_after = interval '1 hour'",
        "delete from fleet.heartbeats",
    ],
)
@pytest.mark.parametrize("login", [CRON_LOGIN, AGENT_LOGIN])
def test_the_fleet_roles_hold_no_table_privilege(connect, login, statement):
    with pytest.raises(errors.InsufficientPrivilege):
        connect(login).execute(statement)


def test_fleet_agent_registers_and_records_heartbeats(fleet, connect):
    agent_login = connect(AGENT_LOGIN)

    agent_id = agent_login.execute("select id from fleet.register_agent('edge-9')").fetchone()[0]
    agent_login.execute("select fleet.record_heartbeat(%s)", (agent_id,))

    assert fleet.status(agent_id) == "online"


@pytest.mark.parametrize("call", JOB_CALLS)
def test_fleet_agent_cannot_run_the_jobs(connect, call):
    with pytest.raises(errors.InsufficientPrivilege):
        connect(AGENT_LOGIN).execute(call)


def test_fleet_cron_cannot_write_heartbeats(connect):
    with pytest.raises(errors.InsufficientPrivilege):
        connect(CRON_LOGIN).execute("select fleet.register_agent('edge-1')")


def test_supabase_api_roles_get_nothing_even_with_default_privileges_granting_them(pg_server):
    """On Supabase, anon and authenticated exist and default privileges may hand them objects."""
    with psycopg.connect(pg_server.url("postgres"), autocommit=True) as admin:
        for role in ("anon", "authenticated"):
            admin.execute(
                sql.SQL(
                    "do $$ begin create role {} nologin; "
                    "exception when duplicate_object then null; end $$"
                ).format(sql.Identifier(role))
            )
        admin.execute("drop database if exists fleet_supabase_like")
        admin.execute("create database fleet_supabase_like")
    url = pg_server.url("fleet_supabase_like")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("alter default privileges grant execute on routines to anon, authenticated")
        conn.execute("alter default privileges grant all on tables to anon, authenticated")

        migrate.upgrade(url)

        leaked = conn.execute(
            "select count(*) from pg_proc as p where p.pronamespace = 'fleet'::regnamespace "
            "and (has_function_privilege('anon', p.oid, 'execute') "
            "  or has_function_privilege('authenticated', p.oid, 'execute'))"
        ).fetchone()[0]
        tables = conn.execute(
            "select count(*) from pg_class as c where c.relnamespace = 'fleet'::regnamespace "
            "and c.relkind = 'r' and has_table_privilege('anon', c.oid, 'select')"
        ).fetchone()[0]
        schema = conn.execute("select has_schema_privilege('anon', 'fleet', 'usage')").fetchone()[0]
    assert (leaked, tables, schema) == (0, 0, False)


@pytest.mark.parametrize(
    "function",
    ["job_trigger_source(text)", "require_read_committed()", "purge_lease()", "prune_run_log()"],
)
def test_internal_helpers_are_not_granted_to_fleet_cron(db, function):
    allowed = db.execute(
        "select has_function_privilege(%s, %s, 'execute')", (CRON_LOGIN, f"fleet.{function}")
    ).fetchone()[0]

    assert allowed is (function == "prune_run_log()")


def test_a_cleanup_run_cannot_be_advanced_or_closed_without_its_lease_token(fleet, connect):
    cron = connect(CRON_LOGIN, autocommit=False)
    run_id, outcome, token, _ = cron.execute("select * from fleet.claim_purge_run()").fetchone()
    cron.commit()
    intruder = connect(CRON_LOGIN)

    for call in (
        "select * from fleet.purge_run_batch(%s, gen_random_uuid())",
        "select * from fleet.finish_purge_run(%s, gen_random_uuid())",
    ):
        with pytest.raises(errors.LockNotAvailable, match="does not hold a lease"):
            intruder.execute(call, (run_id,))
    intruder.execute("select fleet.fail_purge_run(%s, gen_random_uuid(), 'XX000', 'x')", (run_id,))

    assert (outcome, token is not None) == ("running", True)
    assert fleet.runs()[0]["outcome"] == "running"


def test_a_session_cannot_pin_its_heartbeat_on_a_check_stale_run(fleet, connect):
    fleet.online_agent("quiet", silent_for=timedelta(minutes=6))
    victim = fleet.register("victim")
    agent_login = connect(AGENT_LOGIN)
    next_run_id = fleet.value("select coalesce(max(id), 0) + 1 from fleet.job_runs")

    agent_login.execute(
        "select set_config('fleet.transition_run_id', %s, false)", (str(next_run_id),)
    )
    agent_login.execute("select set_config('fleet.transition_reason', 'stale', false)")
    agent_login.execute("select fleet.record_heartbeat(%s)", (victim,))
    marked = fleet.conn.execute("select agent_name from fleet.mark_stale_agents()").fetchall()

    assert marked == [("quiet",)]
    [event] = fleet.events(victim)
    assert (event["reason"], event["run_id"]) == ("heartbeat", None)


# Same-signature stand-ins for built-ins, in a schema searched before pg_catalog: any of them
# that the procedure reached would raise. (Variadic built-ins such as format() cannot be
# imitated in SQL or PL/pgSQL; the source scan below covers those.)
DECOYS = """
create schema decoy;
create function decoy.hijacked() returns void language plpgsql
  as $$ begin raise exception 'hijacked: a built-in resolved to schema decoy'; end $$;
create function decoy.clock_timestamp() returns timestamptz language sql
  as $$ select decoy.hijacked(); select null::timestamptz $$;
create function decoy.now() returns timestamptz language sql
  as $$ select decoy.hijacked(); select null::timestamptz $$;
create function decoy.minus(timestamptz, timestamptz) returns interval language sql
  as $$ select decoy.hijacked(); select null::interval $$;
create operator decoy.- (leftarg = timestamptz, rightarg = timestamptz, function = decoy.minus);
create function decoy.ge(interval, interval) returns boolean language sql
  as $$ select decoy.hijacked(); select null::boolean $$;
create operator decoy.>= (leftarg = interval, rightarg = interval, function = decoy.ge);
create function decoy.plus(bigint, bigint) returns bigint language sql
  as $$ select decoy.hijacked(); select null::bigint $$;
create operator decoy.+ (leftarg = bigint, rightarg = bigint, function = decoy.plus);
create function decoy.plus4(integer, integer) returns integer language sql
  as $$ select decoy.hijacked(); select null::integer $$;
create operator decoy.+ (leftarg = integer, rightarg = integer, function = decoy.plus4);
"""


def test_the_cleanup_procedure_resolves_nothing_through_the_callers_search_path(fleet, db):
    """It runs with its caller's rights, so a built-in it named without pg_catalog could be
    replaced by an object in a schema the caller searches first: a privilege escalation when
    the caller is a superuser (a DBA, or pg_cron's job owner)."""
    agent = fleet.register("edge-1")
    fleet.heartbeat_series(agent, 25, oldest=timedelta(days=40))
    db.execute(DECOYS)
    db.execute("set search_path = decoy, pg_catalog")
    with pytest.raises(errors.RaiseException, match="hijacked"):
        db.execute("select 1::bigint + 1::bigint")

    report = db.execute("call fleet.purge_old_heartbeats_all(batch => 10)").fetchone()

    assert report[1:] == ("ok", 25, 3, False)


def test_the_cleanup_procedure_calls_only_schema_qualified_functions(db):
    source = db.execute(
        "select prosrc from pg_proc where oid = 'fleet.purge_old_heartbeats_all'::regproc"
    ).fetchone()[0]
    code = re.sub(r"--[^\n]*|'(?:[^']|'')*'", "", source)

    unqualified = re.findall(r"(?<![\w.])([a-z_][a-z0-9_]*)\s*\(", code, flags=re.IGNORECASE)

    assert unqualified == []
    assert "fleet.purge_run_batch(" in code
