"""fleetcron doctor: is this deployment right? Each finding says what is wrong and the fix.

The checks read the database (through the same connection settings as the endpoints), the
project's vercel.json and api/ files, and the environment the functions will get.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

from deployer import db, dburl, jobs, migrate
from deployer.endpoint import DEFAULT_PURGE_TIME_BUDGET_SECONDS
from deployer.serve import discover_routes
from deployer.vercel_config import VercelConfig, VercelConfigError
from deployer.vercel_config import load as load_vercel_config

OK, WARN, FAIL = "ok", "warn", "fail"
MIN_SECRET_LENGTH = 16
# Vercel: Fluid compute defaults to 300 s; Hobby allows at most 300, Pro and Enterprise 800.
DEFAULT_MAX_DURATION = 300
HOBBY_MAX_DURATION = 300
PAID_MAX_DURATION = 800
BUDGET_MARGIN_SECONDS = 30

PUBLIC_ROUTINES = (
    "fleet.run_check_stale(text)",
    "fleet.mark_stale_agents(text)",
    "fleet.purge_old_heartbeats(integer)",
    "fleet.purge_old_heartbeats_all(integer,interval,text,bigint,text,bigint,integer,boolean)",
    "fleet.register_agent(text,interval)",
    "fleet.record_heartbeat(uuid,jsonb)",
)
API_ROLES = ("anon", "authenticated")
CRON_FIELD = re.compile(r"^[\d*/,\-]+$")


@dataclass(frozen=True)
class Finding:
    level: str
    check: str
    message: str
    fix: str = ""


def run_checks(
    database_url: str | None, project_dir: Path, environ: Mapping[str, str] = os.environ
) -> list[Finding]:
    findings = check_secret(environ)
    findings += check_project(project_dir, environ)
    findings += check_database(database_url)
    return findings


# -- environment --------------------------------------------------------------------------------


def check_secret(environ: Mapping[str, str]) -> list[Finding]:
    secret = environ.get("CRON_SECRET", "")
    generate = 'python3 -c "import secrets; print(secrets.token_urlsafe(32))"'
    if not secret:
        return [
            Finding(
                FAIL,
                "CRON_SECRET",
                "not set: the endpoints refuse every request",
                f"set it in the Vercel project; generate one with: {generate}",
            )
        ]
    if len(secret) < MIN_SECRET_LENGTH:
        return [
            Finding(
                FAIL,
                "CRON_SECRET",
                f"only {len(secret)} characters long",
                f"use at least {MIN_SECRET_LENGTH} random characters: {generate}",
            )
        ]
    return [Finding(OK, "CRON_SECRET", f"set, {len(secret)} characters")]


# -- vercel.json and api/ -----------------------------------------------------------------------


def check_project(project_dir: Path, environ: Mapping[str, str]) -> list[Finding]:
    try:
        config = load_vercel_config(project_dir / "vercel.json")
    except VercelConfigError as error:
        return [Finding(FAIL, "vercel.json", str(error), "fix the file; see the README")]
    findings = [Finding(OK, "vercel.json", "valid JSON")]
    findings += _check_crons(config, discover_routes(project_dir / "api"))
    findings += _check_functions(config, project_dir)
    findings += _check_purge_budget(config, environ)
    return findings


def _check_crons(config: VercelConfig, routes: dict[str, Path]) -> list[Finding]:
    findings = []
    for cron in config.crons:
        route = cron.path.split("?")[0]
        if route not in routes:
            findings.append(
                Finding(
                    FAIL,
                    "crons",
                    f"{cron.path} has no function under api/ (Vercel would get a 404)",
                    f"add api{route.removeprefix('/api')}.py or fix the path",
                )
            )
        if not _valid_cron_expression(cron.schedule):
            findings.append(
                Finding(
                    FAIL,
                    "crons",
                    f'{cron.path}: "{cron.schedule}" is not a 5-field cron expression',
                    'use e.g. "*/5 * * * *"',
                )
            )
        elif _more_than_daily(cron.schedule):
            findings.append(
                Finding(
                    WARN,
                    "crons",
                    f'{cron.path} runs "{cron.schedule}": more often than daily',
                    "Hobby plans allow only daily crons (the deploy fails); use a paid plan, "
                    "or run it from pg_cron: fleetcron schedule install",
                )
            )
    for job in jobs.JOBS:
        if config.schedule_of(job) is None:
            findings.append(
                Finding(
                    WARN,
                    "crons",
                    f"{job} is not scheduled in vercel.json",
                    f'add {{"path": "/api/cron/{job}", "schedule": ...}}, or use pg_cron',
                )
            )
    scheduled = {cron.path.split("?")[0] for cron in config.crons}
    for route in sorted(routes):
        if route.startswith("/api/cron/") and route not in scheduled:
            findings.append(
                Finding(
                    WARN,
                    "crons",
                    f"{route} exists but no cron calls it",
                    "schedule it in vercel.json or delete the file",
                )
            )
    if not any(finding.level != OK for finding in findings):
        findings.append(Finding(OK, "crons", f"{len(config.crons)} crons, each served by a file"))
    return findings


def _check_functions(config: VercelConfig, project_dir: Path) -> list[Finding]:
    findings = []
    for pattern, settings in config.functions.items():
        if not any(project_dir.glob(pattern)):
            findings.append(
                Finding(
                    FAIL,
                    "functions",
                    f'"{pattern}" matches no file (Vercel refuses the deploy)',
                    "fix the pattern in vercel.json",
                )
            )
        duration = settings.get("maxDuration", DEFAULT_MAX_DURATION)
        if not isinstance(duration, int) or duration < 1 or duration > PAID_MAX_DURATION:
            findings.append(
                Finding(
                    FAIL,
                    "functions",
                    f"{pattern}: maxDuration {duration!r} is not 1..800 seconds",
                    "Vercel allows up to 300 s on Hobby and 800 s on Pro",
                )
            )
        elif duration > HOBBY_MAX_DURATION:
            findings.append(
                Finding(
                    WARN,
                    "functions",
                    f"{pattern}: maxDuration {duration} needs a Pro plan",
                    "Hobby allows at most 300 seconds",
                )
            )
    return findings


def _check_purge_budget(config: VercelConfig, environ: Mapping[str, str]) -> list[Finding]:
    raw = environ.get("FLEETCRON_PURGE_TIME_BUDGET_SECONDS", "")
    try:
        budget = float(raw) if raw else DEFAULT_PURGE_TIME_BUDGET_SECONDS
    except ValueError:
        budget = -1
    if budget <= 0:
        return [
            Finding(
                FAIL,
                "purge budget",
                f"FLEETCRON_PURGE_TIME_BUDGET_SECONDS={raw!r} is not a positive number",
                "set it to seconds, e.g. 240, or unset it",
            )
        ]
    duration = config.max_duration_of("api/cron/cleanup-heartbeats.py") or DEFAULT_MAX_DURATION
    if budget + BUDGET_MARGIN_SECONDS > duration:
        return [
            Finding(
                FAIL,
                "purge budget",
                f"cleanup-heartbeats may spend {budget:g} s deleting, but the function is stopped "
                f"after {duration} s (maxDuration)",
                "keep FLEETCRON_PURGE_TIME_BUDGET_SECONDS at most "
                f"{duration - BUDGET_MARGIN_SECONDS}, or raise maxDuration",
            )
        ]
    return [Finding(OK, "purge budget", f"{budget:g} s of the function's {duration} s")]


def _valid_cron_expression(expression: str) -> bool:
    fields = expression.split()
    return len(fields) == 5 and all(CRON_FIELD.match(field) for field in fields)


def _more_than_daily(expression: str) -> bool:
    minute, hour = expression.split()[:2]
    return not (minute.isdigit() and hour.isdigit())


# -- the database -------------------------------------------------------------------------------


def check_database(url: str | None) -> list[Finding]:
    if not url:
        return [
            Finding(
                FAIL,
                "database",
                "neither DATABASE_URL nor POSTGRES_URL is set",
                "set DATABASE_URL to the pooled URL the functions should use",
            )
        ]
    try:
        clean, dropped = dburl.normalize(url)
    except dburl.DatabaseUrlError as error:
        return [Finding(FAIL, "database", str(error), "fix DATABASE_URL")]
    findings = [_connection_kind(clean)]
    if dropped:
        findings.append(
            Finding(OK, "database", f"ignoring non-libpq URL parameters: {', '.join(dropped)}")
        )
    try:
        with db.connect(clean) as conn:
            findings.append(Finding(OK, "database", "reachable"))
            findings += _check_schema(conn)
    except psycopg.errors.InsufficientPrivilege:
        findings.append(
            Finding(
                FAIL,
                "credential",
                "this login may not use fleetcron's schema",
                "grant fleet_cron to the login in DATABASE_URL",
            )
        )
    except psycopg.OperationalError as error:
        reason = jobs.DatabaseUnavailable(error).reason
        findings.append(
            Finding(
                FAIL,
                "database",
                f"unreachable: {reason}",
                "check the host, port, password and network access",
            )
        )
    return findings


def _connection_kind(url: str) -> Finding:
    parts = urlsplit(url)
    host, port = (parts.hostname or ""), (parts.port or 5432)
    if host.endswith(".pooler.supabase.com"):
        if port == 6543:
            return Finding(OK, "pooling", "Supabase pooler, transaction mode")
        return Finding(
            WARN,
            "pooling",
            f"Supabase pooler on port {port} (session mode)",
            "serverless functions should use transaction mode: port 6543",
        )
    if host.startswith("db.") and host.endswith(".supabase.co"):
        return Finding(
            WARN,
            "pooling",
            "a direct Supabase connection",
            "for the functions use the pooler URL (POSTGRES_URL, port 6543); "
            "keep the direct one for migrations",
        )
    if port in (6432, 6543) or "pooler" in host or "pgbouncer" in host:
        return Finding(OK, "pooling", f"looks pooled ({host}:{port})")
    if host in ("localhost", "127.0.0.1", "::1"):
        return Finding(OK, "pooling", "a local database")
    return Finding(
        WARN,
        "pooling",
        f"cannot tell whether {host}:{port} is pooled",
        "on Vercel, point the functions at a pooler in transaction mode",
    )


def _check_schema(conn: psycopg.Connection) -> list[Finding]:
    revision, head = migrate.current(conn), migrate.head()
    if revision is None:
        return [
            Finding(
                FAIL,
                "migrations",
                "fleetcron is not installed in this database",
                "run: fleetcron db upgrade (with a direct URL, as the schema owner)",
            )
        ]
    if revision != head:
        return [
            Finding(
                FAIL,
                "migrations",
                f"at {revision}, but this checkout's head is {head}",
                "run: fleetcron db upgrade",
            )
        ]
    findings = [Finding(OK, "migrations", f"at head ({head})")]
    findings += _check_routines(conn)
    findings += _check_credential(conn)
    return findings


def _check_routines(conn: psycopg.Connection) -> list[Finding]:
    findings = []
    for routine in PUBLIC_ROUTINES:
        if conn.execute("select to_regprocedure(%s)", (routine,)).fetchone()[0] is None:
            findings.append(
                Finding(
                    FAIL,
                    "routines",
                    f"{routine} is missing",
                    "run: fleetcron db upgrade, or restore it from sql/",
                )
            )
    unpinned = [
        name
        for (name,) in conn.execute(
            "select p.oid::regprocedure::text from pg_proc as p "
            "where p.pronamespace = 'fleet'::regnamespace and p.prosecdef "
            "and not coalesce(p.proconfig, '{}') @> array['search_path=pg_catalog, pg_temp'] "
            "order by 1"
        ).fetchall()
    ]
    for name in unpinned:
        findings.append(
            Finding(
                FAIL,
                "routines",
                f"{name} is SECURITY DEFINER without a pinned search_path",
                "restore it from sql/ (CREATE OR REPLACE drops SET unless restated)",
            )
        )
    grantees = ["public", *[role for role in API_ROLES if _role_exists(conn, role)]]
    exposed = conn.execute(
        "select distinct p.oid::regprocedure::text, "
        "  case when acl.grantee = 0 then 'public' else acl.grantee::regrole::text end "
        "from pg_proc as p "
        "cross join lateral aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) as acl "
        "where p.pronamespace = 'fleet'::regnamespace and acl.privilege_type = 'EXECUTE' "
        "  and (acl.grantee = 0 or acl.grantee::regrole::text = any(%s)) order by 1, 2",
        (grantees,),
    ).fetchall()
    for name, grantee in exposed:
        findings.append(
            Finding(
                FAIL,
                "privileges",
                f"{grantee} may execute {name}",
                f"revoke execute on routine {name} from {grantee};",
            )
        )
    if not findings:
        findings.append(
            Finding(
                OK,
                "routines",
                "present, SECURITY DEFINER ones pin search_path, "
                "none executable by " + "/".join(grantees),
            )
        )
    return findings


def _check_credential(conn: psycopg.Connection) -> list[Finding]:
    user, superuser, can_run = conn.execute(
        "select current_user, r.rolsuper, "
        "has_function_privilege('fleet.run_check_stale(text)', 'execute') "
        "from pg_roles as r where r.rolname = current_user"
    ).fetchone()
    if not can_run:
        return [
            Finding(
                FAIL, "credential", f"{user} cannot run the jobs", f"grant fleet_cron to {user};"
            )
        ]
    if superuser:
        return [
            Finding(
                WARN,
                "credential",
                f"{user} is a superuser",
                "give Vercel a login that is only a member of fleet_cron: "
                "create role fleet_vercel login password '...' in role fleet_cron;",
            )
        ]
    return [Finding(OK, "credential", f"{user} may run the jobs")]


def _role_exists(conn: psycopg.Connection, role: str) -> bool:
    return conn.execute("select to_regrole(%s) is not null", (role,)).fetchone()[0]
