"""fleetcron: deploy, run, inspect and schedule fleet health jobs that live in PostgreSQL."""

from __future__ import annotations

import errno
import os
import re
import secrets
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import click
import psycopg
import sqlalchemy.exc
from alembic.util import CommandError
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from deployer import demo as demo_scenario
from deployer import doctor as doctor_checks
from deployer import migrate, status, terminal, vercel_config
from deployer.localpg import LocalPostgres, LocalPostgresError, default_home
from deployer.paths import PROJECT_ROOT
from deployer.runtime import db, dburl, jobs
from deployer.runtime.endpoint import purge_time_budget_seconds
from deployer.serve import make_server
from deployer.terminal import plain

# Outside a terminal (a pipe, a CI log) these never wrap: see deployer/terminal.py.
console = terminal.console()
errors = terminal.console(stderr=True)


def print_error(message: str) -> None:
    """``error: message`` on one line of stderr; the message is shown as plain text."""
    errors.print(Text.assemble(("error:", "bold red"), " ", plain(message)), soft_wrap=True)


class UserError(click.ClickException):
    """A problem the user can fix, shown as one line without a traceback."""

    def show(self, file=None) -> None:
        print_error(self.message)


class OneLineUsageError(click.UsageError):
    """click's usage error (usage, hint, blank line, error) as the one line the README promises."""

    @classmethod
    def of(cls, error: click.UsageError) -> OneLineUsageError:
        return error if isinstance(error, cls) else cls(error.format_message(), error.ctx)

    def show(self, file=None) -> None:
        where = f" (see: {self.ctx.command_path} --help)" if self.ctx else ""
        print_error(self.format_message() + where)


# libpq reports what the server refused after "FATAL:"; without one, no server answered.
SERVER_REFUSED = re.compile(r"FATAL:\s+(.*)")
ERRNO = re.compile(r"\[Errno -?\d+\]\s*")


def explain(error: Exception) -> str:
    """One line that says what went wrong, never a URL or password."""
    if jobs.DatabaseUnavailable.concerns(error):
        text = ERRNO.sub("", str(error).strip())
        if refused := SERVER_REFUSED.findall(text):
            # Reached, and turned away: a password, a role or a database name is wrong.
            return f"the database refused the connection: {refused[-1].strip()}"
        first = text.splitlines()[0] if text else "no answer"
        return f"cannot reach the database: {first}"
    if isinstance(error, jobs.DatabaseUnavailable):
        driver = error.__context__
        if jobs.DatabaseUnavailable.concerns(driver):
            return explain(driver)  # the driver's words: refused, or unreachable
        return str(error)  # e.g. the deadline: the cancel it sent is not the story
    if isinstance(error, psycopg.errors.InvalidSchemaName | psycopg.errors.UndefinedTable) or (
        isinstance(error, jobs.SchemaMissing) and error.sqlstate == "3F000"
    ):
        return "this database has no fleetcron schema yet; run: fleetcron db upgrade"
    if isinstance(error, psycopg.errors.UndefinedFunction | jobs.SchemaMissing):
        return "this database's fleetcron schema is out of date; run: fleetcron db upgrade"
    if isinstance(error, jobs.JobFailed):
        return f"{error.job} failed (run {error.run_id}, SQLSTATE {error.sqlstate}): {error}"
    if isinstance(error, psycopg.Error):
        diag = error.diag
        text = diag.message_primary or str(error).strip().splitlines()[0]
        hint = f" (hint: {diag.message_hint})" if diag.message_hint else ""
        return f"database error {diag.sqlstate or ''}: {text}{hint}".replace("error :", "error:")
    return str(error)


class FleetcronGroup(click.Group):
    """Turns the errors a user can meet into one clear line and a non-zero exit."""

    def make_context(self, info_name, args, parent=None, **extra) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.exceptions.NoArgsIsHelpError:
            raise  # "fleetcron" alone prints the help
        except click.UsageError as error:
            raise OneLineUsageError.of(error) from None

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.UsageError as error:  # from a subcommand's arguments and options
            raise OneLineUsageError.of(error) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except (
            psycopg.Error,
            dburl.DatabaseUrlError,
            LocalPostgresError,
            jobs.UnknownJob,
            jobs.DatabaseUnavailable,
            jobs.DatabaseNotConfigured,
            jobs.SchemaMissing,
            jobs.JobFailed,
            vercel_config.VercelConfigError,
            CommandError,
            OSError,
        ) as error:
            raise UserError(explain(error)) from None
        except sqlalchemy.exc.DBAPIError as error:
            # Alembic talks through SQLAlchemy, which wraps the driver's error (and would print
            # the statement it ran); the driver's own error says what a user needs.
            raise UserError(explain(error.orig)) from None


@dataclass
class Settings:
    database_url: str | None

    def url(self) -> str:
        """The database to work on: --database-url, DATABASE_URL, POSTGRES_URL, or the local one."""
        # The runtime would quietly use its default for a bad value; here it is an error.
        if problem := doctor_checks.connect_timeout_problem(os.environ):
            raise UserError(problem)
        url = self.database_url or dburl.from_environment()
        if url:
            dburl.normalize(url)  # refuse a malformed URL before anything else happens
            return url
        server = local_server()
        errors.print(
            f"no DATABASE_URL: using the local PostgreSQL on port {server.port}", style="dim"
        )
        return server.url()


def local_server() -> LocalPostgres:
    """The local server, created on first use and started; says so if it had to move."""
    home = default_home()
    server = LocalPostgres.load(home) or LocalPostgres.create(home)
    port = server.port
    server.start()
    if server.port != port:
        errors.print(
            f"port {port} is taken: the local PostgreSQL moved to port {server.port}; "
            "a DATABASE_URL exported before needs: export DATABASE_URL=$(fleetcron local url)",
            style="yellow",
            soft_wrap=True,
        )
    return server


def _remember_database_url(ctx: click.Context, _param, value: str | None) -> None:
    if value is not None:
        ctx.find_object(Settings).database_url = value


# Accepted after any command that uses a database too (fleetcron status --database-url URL).
database_url_option = click.option(
    "--database-url",
    metavar="URL",
    expose_value=False,
    callback=_remember_database_url,
    help="PostgreSQL URL. Default: $DATABASE_URL, else $POSTGRES_URL, else the local server.",
)


@click.group(cls=FleetcronGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--database-url",
    metavar="URL",
    help="PostgreSQL URL. Default: $DATABASE_URL, else $POSTGRES_URL, else the local server.",
)
@click.version_option(package_name="fleetcron")
@click.pass_context
def main(ctx: click.Context, database_url: str | None) -> None:
    """fleetcron: fleet health and heartbeat hygiene inside PostgreSQL.

    Agents send heartbeats; the check-stale job marks quiet agents offline and the
    cleanup-heartbeats job deletes old heartbeats. Vercel Cron, pg_cron and a DBA in psql
    all call the same SQL. Without a database URL, commands use a throwaway local PostgreSQL.
    """
    ctx.obj = Settings(database_url=database_url)


# -- db ---------------------------------------------------------------------------------------


@main.group("db")
def database() -> None:
    """Deploy the schema with Alembic (same as running alembic in this folder)."""


@database.command()
@click.argument("revision", default="head")
@database_url_option
@click.pass_obj
def upgrade(settings: Settings, revision: str) -> None:
    """Apply migrations up to REVISION (default: head)."""
    url = settings.url()
    migrate.upgrade(url, revision)
    console.print(f"database at revision [bold]{_current(url) or 'base'}[/]")


# ignore_unknown_options: a relative revision such as -1 is an argument, not an option.
@database.command(
    short_help="Undo migrations down to REVISION.",
    context_settings={"ignore_unknown_options": True},
)
@click.argument("revision")
@database_url_option
@click.pass_obj
def downgrade(settings: Settings, revision: str) -> None:
    """Undo migrations down to REVISION (e.g. -1, or base to remove everything)."""
    url = settings.url()
    migrate.downgrade(url, revision)
    console.print(f"database at revision [bold]{_current(url) or 'base'}[/]")


@database.command()
@database_url_option
@click.pass_obj
def current(settings: Settings) -> None:
    """Show the database's revision and whether it is at head."""
    revision = _current(settings.url())
    head = migrate.head()
    state = "at head" if revision == head else f"behind head ({head})"
    console.print(f"{revision or 'base (fleetcron not installed)'}  {state}")


@database.command("sql")
@click.argument("revisions", default="head")
@click.option(
    "--downgrade", "downgrade_", is_flag=True, help="Emit downgrade SQL (e.g. head:base)."
)
def offline_sql(revisions: str, downgrade_: bool) -> None:
    """Print the SQL a migration would run, for review or for a DBA to apply with psql."""
    click.echo(migrate.offline_sql(revisions, downgrade=downgrade_), nl=False)


def _current(url: str) -> str | None:
    with db.connect(url) as conn, db.pinned(conn, command=True):
        return migrate.current(conn)


# -- run --------------------------------------------------------------------------------------


def positive_seconds(_ctx, _param, value: float | None) -> timedelta | None:
    if value is None:
        return None
    if value <= 0:
        raise click.BadParameter("must be more than 0 seconds")
    return timedelta(seconds=value)


@main.command()
@click.argument("job", type=click.Choice(jobs.JOBS))
@click.option(
    "--batch",
    type=click.IntRange(1, 1_000_000),
    help="Rows per batch (cleanup-heartbeats), or at most this many agents marked "
    "(check-stale); 1 to 1,000,000.",
)
@click.option(
    "--time-budget",
    type=float,
    callback=positive_seconds,
    metavar="SECONDS",
    help="Stop starting new batches after this long (cleanup). "
    f"Default: ${doctor_checks.PURGE_TIME_BUDGET_VARIABLE}, as the endpoint uses it.",
)
@database_url_option
@click.pass_obj
def run(settings: Settings, job: str, batch: int | None, time_budget: timedelta | None) -> None:
    """Run JOB once, by the same path the Vercel endpoints take."""
    url = settings.url()
    if job == jobs.CHECK_STALE:
        _refuse_what_check_stale_would_ignore(url, batch, time_budget)
        result = jobs.run(url, job, triggered_by="cli", batch=batch)
    else:
        result = _run_cleanup_with_progress(url, batch, time_budget or _purge_budget_setting())
    _print_result(result)
    if result.outcome == "error":
        sys.exit(1)


def _refuse_what_check_stale_would_ignore(
    url: str, batch: int | None, time_budget: timedelta | None
) -> None:
    """An option the job would not use is refused, not silently dropped."""
    if time_budget is not None:
        raise UserError(
            "--time-budget is for cleanup-heartbeats; check-stale is one statement, bounded by "
            f"a {jobs.CHECK_STALE_STATEMENT_TIMEOUT_SECONDS} s statement_timeout"
        )
    if batch is not None and not _check_stale_takes_a_batch(url):
        raise UserError(
            "--batch is for cleanup-heartbeats here: this database's check-stale marks every "
            "stale agent in one run (fleet.run_check_stale has no batch argument; "
            "fleetcron db upgrade adds it)"
        )


def _check_stale_takes_a_batch(url: str) -> bool:
    """Whether the schema's check-stale can mark at most a batch of agents per run."""
    with db.connect(url) as conn, db.pinned(conn, command=True):
        return conn.execute(
            "select exists (select from pg_catalog.pg_proc "
            "where pronamespace = pg_catalog.to_regnamespace('fleet')::pg_catalog.oid "
            "and proname = 'run_check_stale' and 'batch' = any (proargnames))"
        ).fetchone()[0]


def _purge_budget_setting() -> timedelta:
    """The endpoint's budget: FLEETCRON_PURGE_TIME_BUDGET_SECONDS, else 240 s. A bad value is an
    error here, where the endpoint would quietly fall back to its default."""
    if problem := doctor_checks.purge_budget_problem(os.environ):
        raise UserError(f"{problem}; set it to seconds, e.g. 240, or unset it")
    return timedelta(seconds=purge_time_budget_seconds(os.environ))


def _run_cleanup_with_progress(
    url: str, batch: int | None, time_budget: timedelta | None
) -> jobs.JobResult:
    expired, exact = status.expired_heartbeats(url)
    progress = Progress(
        TextColumn("cleanup-heartbeats"),
        BarColumn(bar_width=None),
        TextColumn("{task.completed:,.0f} deleted"),
        TextColumn("{task.fields[rate]} rows/s"),
        TextColumn("backlog left {task.fields[left]}"),
        TimeElapsedColumn(),
        console=errors,
        transient=True,
    )
    started = time.monotonic()
    with progress:
        # Counting stops at a million rows: past that the bar shows no total.
        task = progress.add_task(
            "purge", total=expired if exact else None, rate="-", left=_backlog(expired, exact, 0)
        )

        def update(report: dict) -> None:
            deleted = report["deleted"]
            rate = deleted / max(time.monotonic() - started, 1e-6)
            left = _backlog(expired, exact, deleted) if report["backlog"] else "0"
            progress.update(task, completed=deleted, rate=f"{rate:,.0f}", left=left)

        try:
            return jobs.run(
                url,
                jobs.CLEANUP_HEARTBEATS,
                triggered_by="cli",
                batch=batch,
                time_budget=time_budget,
                on_progress=update,
            )
        except (KeyboardInterrupt, psycopg.errors.QueryCanceled):
            deleted = int(progress.tasks[0].completed)
            raise UserError(
                f"interrupted after {deleted:,} rows: the batches that committed stay deleted, "
                "the run is recorded as error, and the next run picks up the rest"
            ) from None


def _backlog(expired: int, exact: bool, deleted: int) -> str:
    """Expired rows still to delete, as far as the count taken at the start knows."""
    left = expired - deleted
    if not exact:  # the count stopped at a million
        return f"over {left:,}" if left > 0 else "unknown"
    return f"~{max(left, 0):,}"


def _print_result(result: jobs.JobResult) -> None:
    table = Table(show_header=False, box=None)
    for key, value in result.as_dict().items():
        number = isinstance(value, int) and not isinstance(value, bool)
        table.add_row(key.replace("_", " "), f"{value:,}" if number else plain(value))
    console.print(table)


# -- local ------------------------------------------------------------------------------------


@main.group()
def local() -> None:
    """The throwaway local PostgreSQL used when no DATABASE_URL is given."""


@local.command("start")
def local_start() -> None:
    """Start it (creating it on first use) and print its URL.

    It keeps its port from one start to the next, so an exported URL stays valid; only if
    another program took the port does it move, and say so.
    """
    server = local_server()
    click.echo(server.url())


@local.command("stop")
def local_stop() -> None:
    """Stop it; its data stays for the next start."""
    server = LocalPostgres.load(default_home())
    if server:
        server.stop()
    console.print("local PostgreSQL stopped")


@local.command("url")
def local_url() -> None:
    """Print its URL (for DATABASE_URL=... or psql); fails while it is stopped."""
    server = LocalPostgres.load(default_home())
    if not server:
        raise UserError("no local PostgreSQL yet; create one with: fleetcron local start")
    if not server.is_running():
        raise UserError(
            "the local PostgreSQL is stopped (its URL would be refused); "
            "start it with: fleetcron local start"
        )
    click.echo(server.url())


@local.command("status")
def local_status() -> None:
    """Say whether it runs, where, and whether pg_cron is loaded."""
    server = LocalPostgres.load(default_home())
    if not server:
        console.print("no local PostgreSQL yet (fleetcron local start creates one)")
        return
    table = Table(show_header=False, box=None)
    table.add_row("running", "yes" if server.is_running() else "no")
    table.add_row("port", str(server.port))
    table.add_row("folder", str(server.home))
    table.add_row(
        "pg_cron",
        (server.pg_cron_database and f"in database {server.pg_cron_database}") or "not installed",
    )
    console.print(table)


@local.command("destroy")
@click.confirmation_option(prompt="Stop the local PostgreSQL and delete all its data?")
def local_destroy() -> None:
    """Stop it and delete its data."""
    LocalPostgres.discard(default_home())
    console.print("local PostgreSQL removed")


# -- serve ------------------------------------------------------------------------------------


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=3000, show_default=True, type=click.IntRange(0, 65535))
@database_url_option
@click.pass_obj
def serve(settings: Settings, host: str, port: int) -> None:
    """Serve the api/ functions locally, routed the way Vercel routes them.

    Uses DATABASE_URL (or the local PostgreSQL) and CRON_SECRET from the environment; without
    a CRON_SECRET it makes one up for this server and prints it. A CRON_SECRET that doctor
    would fail (under 16 characters) is refused: what is rehearsed here is what gets deployed.
    """
    secret = os.environ.get("CRON_SECRET", "")
    invented = not secret.strip()  # blank counts as unset, as in doctor and the endpoint
    if invented:
        secret = os.environ["CRON_SECRET"] = secrets.token_urlsafe(32)
    elif problem := doctor_checks.secret_problem(secret):
        raise UserError(
            f"CRON_SECRET is {problem}: doctor fails a secret under "
            f"{doctor_checks.MIN_SECRET_LENGTH} characters and so does serve; unset it to get "
            f"a generated one, or make one with: {doctor_checks.RANDOM_STRING_COMMAND}"
        )
    os.environ["DATABASE_URL"] = settings.url()
    try:
        server = make_server(host, port)
    except OSError as error:
        reason = (error.strerror or str(error)).lower()
        hint = "; choose another with --port" if error.errno == errno.EADDRINUSE else ""
        raise UserError(f"cannot listen on {host}:{port}: {reason}{hint}") from None
    base = f"http://{host}:{server.server_address[1]}"
    for route in sorted(server.handlers):
        console.print(f"GET {base}{route}", highlight=False, markup=False, soft_wrap=True)
    if invented:
        errors.print(f"CRON_SECRET was not set; this server uses: {secret}", soft_wrap=True)
    # The user's shell has no $CRON_SECRET when this server made its own: print the value.
    header = "Authorization: Bearer " + (secret if invented else "$CRON_SECRET")
    console.print(
        f'try: curl -H "{header}" {base}/api/cron/check-stale',
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


# -- status -----------------------------------------------------------------------------------


@main.command("status")
@database_url_option
@click.pass_obj
def show_status(settings: Settings) -> None:
    """Agents by status, the stale ones, the heartbeat backlog, and the jobs' recent runs."""
    status.render(status.read(settings.url()), console)


# -- doctor -----------------------------------------------------------------------------------


project_option = click.option(
    "--project",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=PROJECT_ROOT,
    show_default="this checkout, else the current directory",
    help="The folder holding vercel.json and api/.",
)


@main.command()
@project_option
@database_url_option
@click.pass_obj
def doctor(settings: Settings, project: Path) -> None:
    """Check a deployment: database, migrations, grants, vercel.json, api/, secret.

    Reads DATABASE_URL (or POSTGRES_URL) and CRON_SECRET as the Vercel functions will see
    them. Exits non-zero when anything fails; each finding says how to fix it.
    """
    findings = doctor_checks.run_checks(settings.database_url or dburl.from_environment(), project)
    marks = {"ok": ("✓", "green"), "warn": ("!", "yellow"), "fail": ("✗", "red")}
    for finding in findings:
        line = Text.assemble(marks[finding.level], " ", plain(finding.check), ": ")
        console.print(line + plain(finding.message), soft_wrap=True)
        if finding.fix:  # a command to paste: never wrapped
            console.print(Text("    fix: ") + plain(finding.fix), style="dim", soft_wrap=True)
    failed = sum(finding.level == "fail" for finding in findings)
    warned = sum(finding.level == "warn" for finding in findings)
    console.print(f"{failed} failed, {warned} warnings")
    if failed:
        sys.exit(1)


# -- schedule (pg_cron) -----------------------------------------------------------------------


@main.group()
def schedule() -> None:
    """Run the jobs from pg_cron (Supabase Cron) with the schedules in vercel.json."""


@schedule.command("install")
@project_option
@database_url_option
@click.pass_obj
def schedule_install(settings: Settings, project: Path) -> None:
    """Create or update the pg_cron jobs (idempotent), plus one that prunes cron history."""
    schedules = vercel_config.load(project / "vercel.json").job_schedules()
    rows = _query(
        settings.url(),
        "select jobname, schedule, jobid, command from fleet.pg_cron_install(%s, %s)",
        (schedules[jobs.CHECK_STALE], schedules[jobs.CLEANUP_HEARTBEATS]),
    )
    _print_rows(("job", "schedule (UTC)", "jobid"), [row[:3] for row in rows])
    for jobname, _, _, command in rows:
        console.print(Text("  ") + plain(f"{jobname}: {command}"), style="dim", soft_wrap=True)


@schedule.command("list")
@database_url_option
@click.pass_obj
def schedule_list(settings: Settings) -> None:
    """Show fleetcron's pg_cron jobs and how each one's last run went."""
    rows = _query(
        settings.url(),
        "select jobname, schedule, active, last_status, last_start, last_message "
        "from fleet.pg_cron_jobs()",
    )
    if not rows:
        console.print("no fleetcron jobs in pg_cron (fleetcron schedule install adds them)")
        return
    _print_rows(("job", "schedule (UTC)", "active", "last run", "started", "message"), rows)


@schedule.command("remove")
@database_url_option
@click.pass_obj
def schedule_remove(settings: Settings) -> None:
    """Remove fleetcron's pg_cron jobs (those that exist)."""
    removed = _query(settings.url(), "select jobname from fleet.pg_cron_remove()")
    console.print(f"removed {len(removed)} job(s)")
    for (name,) in removed:
        console.print(Text("  ") + plain(name), soft_wrap=True)


def _query(url: str, query: str, params: tuple = ()) -> list[tuple]:
    with db.connect(url) as conn, db.pinned(conn, command=True):
        return conn.execute(query, params).fetchall()


def _print_rows(headers: tuple[str, ...], rows: list[tuple]) -> None:
    """Database rows as a table: text as plain text, and a long value folds, never cut."""
    table = Table(box=None)
    for header in headers:
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(
            *(status.when(value) if isinstance(value, datetime) else plain(value) for value in row)
        )
    console.print(table)


# -- adopt ------------------------------------------------------------------------------------

ADOPT = """
    select r.agents::text, r.heartbeats::text, r.agent_id, r.agent_status, r.online_value,
           r.offline_value, r.agent_last_heartbeat, r.agent_stale_after, r.agent_name,
           r.heartbeat_time, r.heartbeat_agent, r.heartbeat_key, r.time_zone,
           r.records_transitions, r.touches_agents
    from fleet.adopt(
      agents => %(agents)s, agent_id => %(agent_id)s, status => %(status)s,
      last_heartbeat => %(last_heartbeat)s, heartbeats => %(heartbeats)s,
      heartbeat_time => %(heartbeat_time)s, heartbeat_agent => %(heartbeat_agent)s,
      online => %(online)s, offline => %(offline)s, stale_after => %(stale_after)s,
      agent_name => %(agent_name)s, heartbeat_key => %(heartbeat_key)s,
      time_zone => %(time_zone)s, record_transitions => %(record_transitions)s,
      touch_agents => %(touch_agents)s
    ) as r
"""


class DryRun(Exception):
    """Raised inside the adoption's transaction to roll it back after it was validated."""


@main.command()
@click.argument("agents", required=False)
@click.argument("heartbeats", required=False)
@click.option("--agent-id", default="id", show_default=True, metavar="COLUMN")
@click.option("--status", default="status", show_default=True, metavar="COLUMN")
@click.option("--online", default="online", show_default=True, help="The status meaning online.")
@click.option("--offline", default="offline", show_default=True, help="The status meaning offline.")
@click.option("--last-heartbeat", default="last_seen", show_default=True, metavar="COLUMN")
@click.option("--stale-after", metavar="COLUMN", help="A per-agent threshold (interval) column.")
@click.option("--name", metavar="COLUMN", help="A column naming the agent, for status.")
@click.option("--heartbeat-time", default="created_at", show_default=True, metavar="COLUMN")
@click.option("--heartbeat-agent", default="agent_id", show_default=True, metavar="COLUMN")
@click.option(
    "--heartbeat-key", metavar="COLUMN", help="Breaks ties of the time. Default: the primary key."
)
@click.option(
    "--time-zone",
    metavar="ZONE",
    help="The zone timestamp-without-time-zone columns hold (required for such columns).",
)
@click.option(
    "--record-transitions", is_flag=True, help="Record status changes the app makes itself."
)
@click.option(
    "--touch-agents", is_flag=True, help="Keep the last heartbeat current from heartbeat inserts."
)
@click.option("--own-tables", is_flag=True, help="Switch back to fleetcron's own tables.")
@click.option("--dry-run", is_flag=True, help="Validate and show the registration; change nothing.")
@database_url_option
@click.pass_obj
def adopt(settings: Settings, agents: str | None, heartbeats: str | None, **options) -> None:
    """Run fleetcron on the app's own AGENTS and HEARTBEATS tables (schema-qualified names).

    For the seed's schema (agents.status online/offline, agents.last_seen, heartbeats.created_at
    and heartbeats.agent_id) one call does it: fleetcron adopt public.agents public.heartbeats.
    The tables are validated first and nothing changes on a problem. --own-tables goes back.
    """
    own, dry_run = options.pop("own_tables"), options.pop("dry_run")
    if own == bool(agents or heartbeats) or (not own and not (agents and heartbeats)):
        raise UserError(
            "give AGENTS and HEARTBEATS (e.g. public.agents public.heartbeats), or --own-tables"
        )
    with db.connect(settings.url()) as conn:
        try:
            with db.pinned(conn, command=True):
                if own:
                    conn.execute("select fleet.adopt_own_tables()")
                    registered = None
                else:
                    registered = conn.execute(
                        ADOPT, _adoption_arguments(conn, agents, heartbeats, options)
                    ).fetchone()
                if dry_run:
                    raise DryRun
        except DryRun:
            pass
    verb = "would work" if dry_run else "now works"
    if registered is None:
        console.print(f"fleetcron {verb} on its own tables (fleet.agents, fleet.heartbeats)")
        return
    console.print(plain(f"fleetcron {verb} on {registered[0]} and {registered[1]}"))
    _print_rows(("setting", "value"), list(zip(ADOPTION_LABELS, registered[2:], strict=True)))


ADOPTION_LABELS = (
    "agent id",
    "status",
    "online",
    "offline",
    "last heartbeat",
    "stale after",
    "name",
    "heartbeat time",
    "heartbeat agent",
    "heartbeat key",
    "time zone",
    "records transitions",
    "touches agents",
)


def _adoption_arguments(
    conn: psycopg.Connection, agents: str, heartbeats: str, options: dict
) -> dict:
    """fleet.adopt's arguments, the tables resolved to regclass here, so that a name that is
    not a table is one clear line (and search_path, pinned, never picks a table for it)."""
    arguments = {"agent_name": options.pop("name"), **options}
    for role, name in (("agents", agents), ("heartbeats", heartbeats)):
        found = conn.execute("select pg_catalog.to_regclass(%s)", (name,)).fetchone()[0]
        if found is None:
            raise UserError(
                f"no table {name} (name it with its schema, e.g. public.{role}; "
                'quote what needs quoting: \'"My Schema"."Agents"\')'
            )
        arguments[role] = found
    return arguments


# -- demo -------------------------------------------------------------------------------------


@main.command()
def demo() -> None:
    """Show the whole system working, on the local PostgreSQL, with nothing configured.

    Starts the local server, deploys the schema into a fresh fleetcron_demo database,
    registers a fleet with weeks of history, lets some agents go quiet, then calls both cron
    endpoints over HTTP with a generated secret (and once without) and prints what changed.
    DATABASE_URL is ignored: the demo only ever touches its own throwaway database.
    """
    server = local_server()
    demo_scenario.run(server, console)
