"""fleetcron doctor: is this deployment right? Each finding says what is wrong and the fix.

The checks read the database (through the same connection settings as the endpoints), the
project's vercel.json and api/ files, and the environment the functions will get.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from psycopg.rows import dict_row

from deployer import migrate
from deployer.runtime import db, dburl, jobs
from deployer.runtime.endpoint import (
    MAX_PURGE_TIME_BUDGET_SECONDS,
    PURGE_TIME_BUDGET_VARIABLE,
    parse_purge_time_budget,
    purge_time_budget_seconds,
)
from deployer.serve import discover_routes
from deployer.status import REPEATED, repeated_failures
from deployer.vercel_config import (
    VercelConfig,
    VercelConfigError,
    is_cron_expression,
    more_than_daily,
)
from deployer.vercel_config import load as load_vercel_config

OK, WARN, FAIL = "ok", "warn", "fail"
MIN_SECRET_LENGTH = 16
CONNECT_TIMEOUT_VARIABLE = db.CONNECT_TIMEOUT_VARIABLE
RANDOM_STRING_COMMAND = 'python3 -c "import secrets; print(secrets.token_urlsafe(32))"'
# Vercel: Fluid compute defaults to 300 s; Hobby allows at most 300, Pro and Enterprise 800.
DEFAULT_MAX_DURATION = 300
HOBBY_MAX_DURATION = 300
PAID_MAX_DURATION = 800

# The routines a caller with only fleet_cron or fleet_agent membership must be able to use.
# All but the procedure act on tables as their owner; the procedure must not, to COMMIT.
PROCEDURE = (
    "fleet.purge_old_heartbeats_all(integer,interval,text,bigint,text,bigint,integer,boolean)"
)
JOB_ROUTINE = "fleet.run_check_stale(text,integer)"
DEFINER_ROUTINES = (
    JOB_ROUTINE,
    "fleet.mark_stale_agents(text,integer)",
    "fleet.purge_old_heartbeats(integer)",
    "fleet.register_agent(text,interval)",
    "fleet.record_heartbeat(uuid,jsonb)",
    "fleet.claim_purge_run(integer,interval,text)",
    "fleet.purge_run_batch(bigint,uuid)",
    "fleet.finish_purge_run(bigint,uuid)",
    "fleet.fail_purge_run(bigint,uuid,text,text)",
)
SAFE_SEARCH_PATHS = ("search_path=pg_catalog, pg_temp", 'search_path=""', "search_path=pg_catalog")
API_ROLES = ("anon", "authenticated")

# Every query names pg_catalog's functions and compares like types only (oid with oid, text
# with text), so no operator or function planted in a writable schema is a better match; the
# connection pins search_path as well (db.pinned).
DEFINERS_WITHOUT_SAFE_SEARCH_PATH = """
    select p.oid::pg_catalog.regprocedure::pg_catalog.text
    from pg_catalog.pg_proc as p
    where p.pronamespace = pg_catalog.to_regnamespace('fleet')::pg_catalog.oid
      and p.prosecdef
      and not exists (
        select from pg_catalog.unnest(p.proconfig) as c where c = any(%s::pg_catalog.text[])
      )
    order by 1
"""
EXECUTABLE_BY = """
    select distinct p.oid::pg_catalog.regprocedure::pg_catalog.text,
           case when acl.grantee = 0::pg_catalog.oid then 'public'
                else acl.grantee::pg_catalog.regrole::pg_catalog.text end
    from pg_catalog.pg_proc as p
    cross join lateral pg_catalog.aclexplode(
      coalesce(p.proacl, pg_catalog.acldefault('f'::pg_catalog."char", p.proowner))
    ) as acl
    where p.pronamespace = pg_catalog.to_regnamespace('fleet')::pg_catalog.oid
      and acl.privilege_type = 'EXECUTE'::pg_catalog.text
      and (
        acl.grantee = 0::pg_catalog.oid
        or acl.grantee::pg_catalog.regrole::pg_catalog.text = any(%s::pg_catalog.text[])
      )
    order by 1, 2
"""
ROUTINE_IS_DEFINER = """
    select p.prosecdef
    from pg_catalog.pg_proc as p
    where p.oid = pg_catalog.to_regprocedure(%s::pg_catalog.text)::pg_catalog.oid
"""
CREDENTIAL = """
    select current_user, r.rolsuper,
           pg_catalog.has_function_privilege(%s::pg_catalog.text, 'execute'::pg_catalog.text),
           (
             -- reset_val: the login's own value (role, database, connection), not the bound
             -- doctor's transaction runs under.
             select (s.reset_val || ' ' || s.unit)::pg_catalog.interval
             from pg_catalog.pg_settings as s
             where s.name = 'statement_timeout'
           )
    from pg_catalog.pg_roles as r
    where r.rolname = current_user
"""
ROLE_EXISTS = "select pg_catalog.to_regrole(%s::pg_catalog.text) is not null"
# Every fleet object (a view's rule, a column's default or type, a trigger, a constraint, a
# routine's signature) that is bound to an object outside fleet and pg_catalog: whoever owns
# that object decides what fleetcron runs. A rule, default, trigger or constraint is reported
# by its table, so "fleet.leaky depends on function public.format(text,text)".
OUTSIDE_DEPENDENCIES = """
    with dependency as (
      select d.classid, d.objid, d.objsubid, d.refclassid, d.refobjid,
             case d.classid
               when 'pg_catalog.pg_rewrite'::pg_catalog.regclass then
                 (select r.ev_class from pg_catalog.pg_rewrite as r where r.oid = d.objid)
               when 'pg_catalog.pg_attrdef'::pg_catalog.regclass then
                 (select a.adrelid from pg_catalog.pg_attrdef as a where a.oid = d.objid)
               when 'pg_catalog.pg_trigger'::pg_catalog.regclass then
                 (select t.tgrelid from pg_catalog.pg_trigger as t where t.oid = d.objid)
               when 'pg_catalog.pg_constraint'::pg_catalog.regclass then
                 (select c.conrelid from pg_catalog.pg_constraint as c where c.oid = d.objid)
             end as relation
      from pg_catalog.pg_depend as d
      where d.deptype operator(pg_catalog.=) 'n'::pg_catalog."char"
    )
    select distinct
           coalesce(dep.relation::pg_catalog.regclass::pg_catalog.text, o.identity) as dependent,
           pg_catalog.pg_describe_object(dep.refclassid, dep.refobjid, 0) as referenced
    from dependency as dep
    cross join lateral pg_catalog.pg_identify_object(dep.classid, dep.objid, dep.objsubid) as o
    cross join lateral pg_catalog.pg_identify_object(dep.refclassid, dep.refobjid, 0) as r
    where coalesce(
            (select c.relnamespace from pg_catalog.pg_class as c where c.oid = dep.relation),
            pg_catalog.to_regnamespace(o.schema)::pg_catalog.oid
          ) = pg_catalog.to_regnamespace('fleet')::pg_catalog.oid
      and r.schema is not null
      and r.schema operator(pg_catalog.<>) all (array['fleet', 'pg_catalog']::pg_catalog.text[])
    order by 1, 2
"""


# Supabase's Security Advisor, lint 0011 (function_search_path_mutable): a function in any
# schema whose proconfig sets no search_path. A procedure that COMMITs cannot carry SET, so the
# cleanup procedure is the one fleet routine it may list.
UNPINNED_ROUTINES = """
    select p.oid::pg_catalog.regprocedure::pg_catalog.text, p.prokind::pg_catalog.text
    from pg_catalog.pg_proc as p
    where p.pronamespace = pg_catalog.to_regnamespace('fleet')::pg_catalog.oid
      and not exists (
        select
        from pg_catalog.unnest(p.proconfig) as c
        where pg_catalog.starts_with(c, 'search_path='::pg_catalog.text)
      )
    order by 1
"""
# The registered tables, what is wrong with them now, and what changed since fleet.adopt
# validated them.
REGISTRATION = """
    select t.agents, t.heartbeats, t.own_tables, t.problems, t.changes
    from fleet.registered_tables as t
"""
PARTITIONS = """
    select s.partitions, s.partitioned_until, s.partition_span, pg_catalog.now()
    from fleet.heartbeat_summary as s
"""
JOBS = "select * from fleet.job_summary order by job"


@dataclass(frozen=True)
class Finding:
    level: str
    check: str
    message: str
    fix: str = ""


def ok(check: str, message: str) -> Finding:
    return Finding(OK, check, message)


def warn(check: str, message: str, fix: str) -> Finding:
    return Finding(WARN, check, message, fix)


def fail(check: str, message: str, fix: str) -> Finding:
    return Finding(FAIL, check, message, fix)


def run_checks(
    database_url: str | None, project_dir: Path, environ: Mapping[str, str] = os.environ
) -> list[Finding]:
    budget = purge_time_budget_seconds(environ)
    findings = check_secret(environ)
    findings += check_settings(environ)
    findings += check_project(project_dir, environ, budget)
    findings += check_database(database_url, budget)
    return findings


# -- environment --------------------------------------------------------------------------------
#
# The rules live in small functions that return what is wrong (or None), so the CLI applies
# exactly doctor's rule where it uses the same setting (serve's secret, run's settings).


def secret_problem(secret: str | None) -> str | None:
    """What makes CRON_SECRET unusable. Surrounding whitespace does not count: a secret that is
    blank once stripped is no secret, and one padded to length is only as strong as the rest."""
    value = (secret or "").strip()
    if not value:
        return "not set"
    if len(value) < MIN_SECRET_LENGTH:
        return f"only {len(value)} characters long"
    return None


def check_secret(environ: Mapping[str, str]) -> list[Finding]:
    secret = environ.get("CRON_SECRET", "")
    problem = secret_problem(secret)
    if problem == "not set":
        return [
            fail(
                "CRON_SECRET",
                "not set: the endpoints refuse every request",
                f"set it in the Vercel project; generate one with: {RANDOM_STRING_COMMAND}",
            )
        ]
    if problem:
        return [
            fail(
                "CRON_SECRET",
                problem,
                f"use at least {MIN_SECRET_LENGTH} random characters: {RANDOM_STRING_COMMAND}",
            )
        ]
    return [ok("CRON_SECRET", f"set, {len(secret.strip())} characters")]


def connect_timeout_problem(environ: Mapping[str, str]) -> str | None:
    """FLEETCRON_CONNECT_TIMEOUT_SECONDS that the runtime would silently replace by its default."""
    raw = environ.get(CONNECT_TIMEOUT_VARIABLE, "")
    if not raw or db.parse_connect_timeout(raw) is not None:
        return None
    return (
        f"{CONNECT_TIMEOUT_VARIABLE}={raw!r} is not a whole number of seconds above 0 "
        f"(unset, it is {db.DEFAULT_CONNECT_TIMEOUT_SECONDS})"
    )


def purge_budget_problem(environ: Mapping[str, str]) -> str | None:
    """FLEETCRON_PURGE_TIME_BUDGET_SECONDS that the endpoint would silently replace."""
    raw = environ.get(PURGE_TIME_BUDGET_VARIABLE, "")
    if not raw or parse_purge_time_budget(raw) is not None:
        return None
    return (
        f"{PURGE_TIME_BUDGET_VARIABLE}={raw!r} is not a number of seconds "
        f"above 0 and up to {MAX_PURGE_TIME_BUDGET_SECONDS}"
    )


def check_settings(environ: Mapping[str, str]) -> list[Finding]:
    if problem := connect_timeout_problem(environ):
        return [fail("connect timeout", problem, "set it to seconds, e.g. 5, or unset it")]
    return []


# -- vercel.json and api/ -----------------------------------------------------------------------


def check_project(project_dir: Path, environ: Mapping[str, str], budget: float) -> list[Finding]:
    try:
        config = load_vercel_config(project_dir / "vercel.json")
    except VercelConfigError as error:
        return [fail("vercel.json", str(error), "fix the file; see the README")]
    findings = [ok("vercel.json", "valid")]
    findings += _check_crons(config, discover_routes(project_dir / "api"))
    findings += _check_functions(config, project_dir)
    findings += _check_durations(config, environ, budget)
    return findings


def _check_crons(config: VercelConfig, routes: dict[str, Path]) -> list[Finding]:
    findings = []
    for cron in config.crons:
        route = cron.path.split("?")[0]
        if route not in routes:
            findings.append(
                fail(
                    "crons",
                    f"{cron.path} has no function under api/ (Vercel would get a 404)",
                    f"add api{route.removeprefix('/api')}.py or fix the path",
                )
            )
        if not is_cron_expression(cron.schedule):
            findings.append(
                fail(
                    "crons",
                    f'{cron.path}: "{cron.schedule}" is not a 5-field cron expression',
                    'use e.g. "*/5 * * * *"',
                )
            )
        elif more_than_daily(cron.schedule):
            findings.append(
                warn(
                    "crons",
                    f'{cron.path} runs "{cron.schedule}": more often than daily',
                    "Hobby plans allow only daily crons (the deploy fails); use a paid plan, "
                    "or run it from pg_cron: fleetcron schedule install",
                )
            )
    for job in jobs.JOBS:
        if config.schedule_of(job) is None:
            findings.append(
                warn(
                    "crons",
                    f"{job} is not scheduled in vercel.json",
                    f'add {{"path": "/api/cron/{job}", "schedule": ...}}, or use pg_cron',
                )
            )
    scheduled = {cron.path.split("?")[0] for cron in config.crons}
    for route in sorted(routes):
        if route.startswith("/api/cron/") and route not in scheduled:
            findings.append(
                warn(
                    "crons",
                    f"{route} exists but no cron calls it",
                    "schedule it in vercel.json or delete the file",
                )
            )
    if not any(finding.level != OK for finding in findings):
        findings.append(ok("crons", f"{len(config.crons)} crons, each served by a file"))
    return findings


def _matches_a_file(project_dir: Path, pattern: str) -> bool:
    """Whether a `functions` pattern names a file of the project, as Vercel resolves it."""
    if not pattern or pattern.startswith("/"):
        return False
    try:
        return any(project_dir.glob(pattern))
    except ValueError:  # not a pattern pathlib can read ("a**b"), nor one Vercel would match
        return False


def _check_functions(config: VercelConfig, project_dir: Path) -> list[Finding]:
    findings = []
    for pattern, settings in config.functions.items():
        if not _matches_a_file(project_dir, pattern):
            findings.append(
                fail(
                    "functions",
                    f'"{pattern}" matches no file (Vercel refuses the deploy)',
                    "patterns are relative to the project, e.g. api/cron/*.py",
                )
            )
        duration = settings.get("maxDuration", DEFAULT_MAX_DURATION)
        if not isinstance(duration, int) or not 1 <= duration <= PAID_MAX_DURATION:
            findings.append(
                fail(
                    "functions",
                    f"{pattern}: maxDuration {duration!r} is not 1..800 seconds",
                    "Vercel allows up to 300 s on Hobby and 800 s on Pro",
                )
            )
        elif duration > HOBBY_MAX_DURATION:
            findings.append(
                warn(
                    "functions",
                    f"{pattern}: maxDuration {duration} needs a Pro plan",
                    "Hobby allows at most 300 seconds",
                )
            )
    return findings


def _check_durations(
    config: VercelConfig, environ: Mapping[str, str], budget: float
) -> list[Finding]:
    """Each job must end in the database before Vercel stops its function."""
    findings = []
    if problem := purge_budget_problem(environ):
        findings.append(
            fail(
                "purge budget",
                f"{problem}; the default is used instead",
                "set it to seconds, e.g. 240, or unset it",
            )
        )
    # The function must outlive the client's deadline and what follows it (cancel, recording
    # a lost run), or Vercel kills it before it answers or logs anything.
    cleanup_budget = timedelta(seconds=budget)
    for job, needed, what in (
        (
            jobs.CHECK_STALE,
            jobs.seconds_a_run_may_take(jobs.CHECK_STALE),
            f"its UPDATE may run {jobs.CHECK_STALE_STATEMENT_TIMEOUT_SECONDS} s",
        ),
        (
            jobs.CLEANUP_HEARTBEATS,
            jobs.seconds_a_run_may_take(jobs.CLEANUP_HEARTBEATS, cleanup_budget),
            f"it may spend {budget:g} s deleting",
        ),
    ):
        duration = config.max_duration_of(f"api/cron/{job}.py") or DEFAULT_MAX_DURATION
        if isinstance(duration, int) and duration < needed:
            findings.append(
                fail(
                    "durations",
                    f"{job}: {what}, but the function is stopped after {duration} s",
                    f"raise its maxDuration to at least {needed:g}"
                    + (
                        " or lower FLEETCRON_PURGE_TIME_BUDGET_SECONDS"
                        if job != jobs.CHECK_STALE
                        else ""
                    ),
                )
            )
    if not findings:
        findings.append(
            ok(
                "durations",
                f"each job ends before its function's maxDuration (purge budget {budget:g} s)",
            )
        )
    return findings


# -- the database -------------------------------------------------------------------------------


def check_database(url: str | None, budget: float) -> list[Finding]:
    if not url:
        return [
            fail(
                "database",
                "neither DATABASE_URL nor POSTGRES_URL is set",
                "set DATABASE_URL to the pooled URL the functions should use",
            )
        ]
    try:
        clean, dropped = dburl.normalize(url)
    except dburl.DatabaseUrlError as error:
        return [fail("database", str(error), "fix DATABASE_URL")]
    findings = [_connection_kind(clean)]
    if dropped:
        findings.append(ok("database", f"ignoring non-libpq URL parameters: {', '.join(dropped)}"))
    try:
        with db.connect(clean) as conn:
            findings.append(ok("database", "reachable"))
            with db.pinned(conn, command=True):
                findings += _check_schema(conn, budget)
    except psycopg.Error as error:
        findings.append(_database_failure(error))
    return findings


def _database_failure(error: psycopg.Error) -> Finding:
    """Why the database checks could not finish, and what to do about it."""
    if isinstance(error, psycopg.errors.InsufficientPrivilege):
        return fail(
            "credential",
            "this login may not use fleetcron's schema",
            "grant fleet_cron to the login in DATABASE_URL",
        )
    if jobs.DatabaseUnavailable.concerns(error):
        return fail(
            "database",
            f"unreachable: {jobs.DatabaseUnavailable(error).reason}",
            "check the host, port, password and network access",
        )
    message = error.diag.message_primary or str(error)
    if isinstance(error, psycopg.errors.LockNotAvailable | psycopg.errors.QueryCanceled):
        return fail(
            "database",
            f"the checks gave up waiting: {message}",
            "another session holds fleetcron's tables (see pg_locks); run doctor again",
        )
    # The checks found something they did not expect.
    return fail(
        "database",
        f"checking the schema failed: {message}",
        "run: fleetcron db upgrade, then doctor again",
    )


def _connection_kind(url: str) -> Finding:
    parts = urlsplit(url)
    host, port = (parts.hostname or ""), (parts.port or 5432) if "," not in parts.netloc else 0
    if host.endswith(".pooler.supabase.com"):
        if port == 6543:
            return ok("pooling", "Supabase pooler, transaction mode")
        return warn(
            "pooling",
            f"Supabase pooler on port {port} (session mode)",
            "serverless functions should use transaction mode: port 6543",
        )
    if host.startswith("db.") and host.endswith(".supabase.co"):
        return warn(
            "pooling",
            "a direct Supabase connection",
            "for the functions use the pooler URL (POSTGRES_URL, port 6543); "
            "keep the direct one for migrations",
        )
    if port in (6432, 6543) or "pooler" in host or "pgbouncer" in host:
        return ok("pooling", f"looks pooled ({host}:{port})")
    if host in ("localhost", "127.0.0.1", "::1"):
        return ok("pooling", "a local database")
    return warn(
        "pooling",
        f"cannot tell whether {host}:{port} is pooled",
        "on Vercel, point the functions at a pooler in transaction mode",
    )


def _check_schema(conn: psycopg.Connection, budget: float) -> list[Finding]:
    revision, head = migrate.current(conn), migrate.head()
    if revision is None:
        return [
            fail(
                "migrations",
                "fleetcron is not installed in this database",
                "run: fleetcron db upgrade (with a direct URL, as the schema owner)",
            )
        ]
    if revision != head:
        return [
            fail(
                "migrations",
                f"at {revision}, but this checkout's head is {head}",
                "run: fleetcron db upgrade",
            )
        ]
    findings = [
        ok("migrations", f"at head ({head})"),
        *_check_routines(conn),
        *_check_advisor(conn),
        *_check_dependencies(conn),
    ]
    # Each later check needs what the one before it establishes: the summaries need a login
    # that may read them, and they need tables the jobs can use.
    for check in (
        lambda: _check_credential(conn, budget),
        lambda: _check_tables(conn),
        lambda: [*_check_partitions(conn), *_check_jobs(conn)],
    ):
        found = check()
        findings += found
        if any(finding.level == FAIL for finding in found):
            break
    return findings


def _check_routines(conn: psycopg.Connection) -> list[Finding]:
    restore = (
        "restore it from sql/ (CREATE OR REPLACE drops SECURITY DEFINER and SET unless restated)"
    )
    findings = []
    for routine in (*DEFINER_ROUTINES, PROCEDURE):
        found = conn.execute(ROUTINE_IS_DEFINER, (routine,)).fetchone()
        if found is None:
            findings.append(
                fail(
                    "routines",
                    f"{routine} is missing",
                    "run: fleetcron db upgrade, or restore it from sql/",
                )
            )
        elif found[0] != (routine != PROCEDURE):
            kind = "must not be" if routine == PROCEDURE else "is not"
            findings.append(fail("routines", f"{routine} {kind} SECURITY DEFINER", restore))
    for (name,) in conn.execute(DEFINERS_WITHOUT_SAFE_SEARCH_PATH, (list(SAFE_SEARCH_PATHS),)):
        findings.append(
            fail("routines", f"{name} is SECURITY DEFINER without a pinned search_path", restore)
        )
    grantees = ["public", *[role for role in API_ROLES if _role_exists(conn, role)]]
    for name, grantee in conn.execute(EXECUTABLE_BY, (grantees,)).fetchall():
        findings.append(
            fail(
                "privileges",
                f"{grantee} may execute {name}",
                f"revoke execute on routine {name} from {grantee};",
            )
        )
    if not findings:
        findings.append(
            ok(
                "routines",
                "present and SECURITY DEFINER where they must be, with "
                "a pinned search_path; none executable by " + "/".join(grantees),
            )
        )
    return findings


def _check_advisor(conn: psycopg.Connection) -> list[Finding]:
    unpinned = conn.execute(UNPINNED_ROUTINES).fetchall()
    functions = [name for name, kind in unpinned if kind != "p"]
    if functions:
        return [
            fail(
                "advisor",
                f"{name} has no pinned search_path (Supabase Security Advisor lint 0011)",
                "restore it from sql/ (CREATE OR REPLACE drops SET unless restated)",
            )
            for name in functions
        ]
    return [
        ok(
            "advisor",
            "Supabase's Security Advisor lists only fleet.purge_old_heartbeats_all (lint 0011): a "
            "procedure that COMMITs cannot pin search_path, so it names everything with its schema",
        )
    ]


def _check_tables(conn: psycopg.Connection) -> list[Finding]:
    agents, heartbeats, own, problems, changes = conn.execute(REGISTRATION).fetchone()
    findings = [fail("tables", problem["problem"], problem["fix"]) for problem in problems]
    findings += [
        fail("tables", change, "register the tables again: fleetcron adopt ...")
        for change in changes
    ]
    if not findings:
        which = "fleetcron's own" if own else f"adopted: {agents} and {heartbeats}"
        findings.append(ok("tables", f"the jobs work on {which}, as registered"))
    return findings


def _check_partitions(conn: psycopg.Connection) -> list[Finding]:
    partitions, until, span, now = conn.execute(PARTITIONS).fetchone()
    if not partitions or until is None:
        return []
    if until - now < 2 * span:
        return [
            fail(
                "partitions",
                f"heartbeat partitions end at {until:%Y-%m-%d %H:%M} UTC: later heartbeats "
                "land in the default partition",
                "select fleet.maintain_heartbeat_partitions(); (both jobs run it for fleetcron's "
                "own table: are they running?) For an adopted table, make its partitions ahead.",
            )
        ]
    ready = f"{partitions} heartbeat partitions, ready until {until:%Y-%m-%d} UTC"
    return [ok("partitions", ready)]


def _check_jobs(conn: psycopg.Connection) -> list[Finding]:
    findings = []
    with conn.cursor(row_factory=dict_row) as cursor:
        for job in cursor.execute(JOBS).fetchall():
            if job["errors_in_a_row"] >= REPEATED:
                findings.append(
                    fail(
                        "jobs", repeated_failures(job), "see: fleetcron status; the error says why"
                    )
                )
            elif job["skips_in_a_row"] >= REPEATED:
                findings.append(
                    warn(
                        "jobs",
                        repeated_failures(job),
                        "a run that never ends holds the job: see fleet.recent_job_runs",
                    )
                )
    return findings or [ok("jobs", "no job keeps failing or being skipped")]


def _check_dependencies(conn: psycopg.Connection) -> list[Finding]:
    outside = conn.execute(OUTSIDE_DEPENDENCIES).fetchall()
    if not outside:
        return [ok("dependencies", "fleet objects use nothing outside fleet and pg_catalog")]
    return [
        fail(
            "dependencies",
            f"{dependent} depends on {referenced}",
            "fleet objects may use only fleet and pg_catalog: drop what was added, or restore "
            "the object from sql/",
        )
        for dependent, referenced in outside
    ]


def _check_credential(conn: psycopg.Connection, budget: float) -> list[Finding]:
    user, superuser, can_run, timeout = conn.execute(CREDENTIAL, (JOB_ROUTINE,)).fetchone()
    findings = []
    if not can_run:
        findings.append(
            fail("credential", f"{user} cannot run the jobs", f"grant fleet_cron to {user};")
        )
    elif superuser:
        findings.append(
            warn(
                "credential",
                f"{user} is a superuser",
                "give Vercel a login that is only a member of fleet_cron: "
                "create role fleet_vercel login password '...' in role fleet_cron;",
            )
        )
    else:
        findings.append(ok("credential", f"{user} may run the jobs"))
    seconds = timeout.total_seconds()
    if 0 < seconds * 0.8 < budget:
        findings.append(
            warn(
                "credential",
                f"{user} has statement_timeout {seconds:g} s: cleanup runs stop "
                f"after {seconds * 0.8:g} s instead of {budget:g} s",
                f"fine if the backlog keeps up; else: alter role {user} set statement_timeout = 0;",
            )
        )
    return findings


def _role_exists(conn: psycopg.Connection, role: str) -> bool:
    return conn.execute(ROLE_EXISTS, (role,)).fetchone()[0]
