"""fleetcron demo: the whole system on the local PostgreSQL, through the real endpoints.

It deploys the schema with Alembic into a fresh ``fleetcron_demo`` database on the local
throwaway server, registers a fleet with weeks of heartbeat history, keeps most agents
heartbeating while a few go quiet, then calls both cron endpoints over HTTP exactly as Vercel
Cron would (once without the secret, to show the 401) and prints what changed. The endpoints
log in as a role that is only a member of fleet_cron, as they should in production.

To keep the wait short the demo lowers the stale threshold from 5 minutes to 4 seconds, in
the demo database's fleet.config, and says so. The agents that stay chatty keep recording
heartbeats while the endpoints run, so the demo counts them: the heartbeat totals it prints add
up (before + recorded - deleted = after). Like every fleetcron query, the demo's run in
transactions that pin search_path (db.pinned), except CREATE/DROP DATABASE, which cannot run in
one and resolve no function.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import timedelta

import psycopg
from psycopg import sql
from rich.console import Console
from rich.table import Table
from rich.text import Text

from deployer import migrate, status
from deployer.localpg import LocalPostgres
from deployer.runtime import db
from deployer.serve import make_server
from deployer.terminal import plain

DATABASE = "fleetcron_demo"
VERCEL_LOGIN = "fleetcron_demo_vercel"
AGENTS = 40
QUIET_AGENTS = 6
HISTORY_DAYS = 45
HEARTBEATS_PER_HOUR = 2
DEMO_STALE_AFTER = timedelta(seconds=4)
# Far more often than the threshold, so a busy machine cannot make a chatty agent look quiet.
HEARTBEAT_INTERVAL_SECONDS = 0.5


def run(server: LocalPostgres, console: Console) -> None:
    def step(text: str) -> None:
        console.print(f"\n▸ {text}", style="bold cyan", highlight=False, markup=False)

    step(f"Fresh database {DATABASE} on the local PostgreSQL (port {server.port})")
    url = _fresh_database(server)
    vercel_url = _vercel_login(server)

    step("Deploy the schema with Alembic (alembic upgrade head)")
    migrate.upgrade(url)
    console.print(f"  at revision {migrate.head()}: schema fleet, its tables and routines")

    with psycopg.connect(url, autocommit=True) as conn:
        step(f"Register {AGENTS} agents and import {HISTORY_DAYS} days of heartbeat history")
        with db.pinned(conn):
            _seed_fleet(conn)
        console.print(
            f"  {AGENTS} agents; heartbeats every {60 // HEARTBEATS_PER_HOUR} minutes "
            f"since {HISTORY_DAYS} days ago, so {HISTORY_DAYS - 30} days of them are past "
            "the 30-day retention"
        )
        step(f"Agents report in; {QUIET_AGENTS} of them then go quiet")
        _query(conn, "update fleet.config set stale_after = %s", (DEMO_STALE_AFTER,))
        console.print(
            f"  (the demo lowers fleet.config.stale_after from 5 minutes to "
            f"{DEMO_STALE_AFTER.seconds} seconds, so you need not wait)",
            style="dim",
        )
        heartbeats_before = _query(conn, "select count(*) from fleet.heartbeats")[0][0]
        with _ChattyAgents(url) as chatty:
            chatty.everyone_reports_in(conn)
            time.sleep(DEMO_STALE_AFTER.seconds + 1.5)
            quiet = _query(conn, "select count(*) from fleet.stale_agents")[0][0]
            console.print(f"  {quiet} agents have been silent for longer than the threshold")
            before = status.read(url)

            step("Serve api/ locally with a generated CRON_SECRET, as Vercel would run it")
            secret = secrets.token_urlsafe(24)
            with _serving(vercel_url, secret) as base:
                console.print(f"  {base}/api/cron/check-stale and /api/cron/cleanup-heartbeats")
                console.print(f"  DATABASE_URL logs in as {VERCEL_LOGIN}: only fleet_cron")

                step("A caller without the secret")
                _show_call(console, base, "/api/cron/check-stale", None)

                step("Vercel Cron calls check-stale (*/5 * * * *)")
                _show_call(console, base, "/api/cron/check-stale", secret)

                step("Vercel Cron calls cleanup-heartbeats (0 0 * * *)")
                cleanup = _show_call(console, base, "/api/cron/cleanup-heartbeats", secret)

        heartbeats_after = _query(conn, "select count(*) from fleet.heartbeats")[0][0]
        step("What changed")
        _show_changes(console, before, status.read(url))
        _show_heartbeat_arithmetic(
            console,
            before=heartbeats_before,
            recorded=chatty.recorded,
            deleted=cleanup.get("rows_affected", 0),
            after=heartbeats_after,
        )
        _show_what_the_jobs_did(console, status.read(url), conn)

    console.print("\nTry it yourself (the demo database stays until the next demo):", style="bold")
    _print_command(console, f"DATABASE_URL='{url}' fleetcron status")
    _print_command(console, f"psql '{url}'")
    _print_command(
        console,
        "then: select * from fleet.mark_stale_agents();  call fleet.purge_old_heartbeats_all();",
    )
    console.print(
        f"\nNote: the local PostgreSQL is still running (port {server.port}, files in "
        f"{server.home}), so the next command starts at once.",
        style="bold",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    _print_command(console, "fleetcron local stop      # stop it; the data stays for next time")
    _print_command(console, "fleetcron local destroy   # stop it and delete its data")


def _print_command(console: Console, command: str) -> None:
    """A line meant to be pasted: never wrapped, never read as markup."""
    console.print(f"  {command}", soft_wrap=True, highlight=False, markup=False)


def _query(conn: psycopg.Connection, query: str, params: tuple = ()) -> list[tuple]:
    with db.pinned(conn):
        cursor = conn.execute(query, params)
        return cursor.fetchall() if cursor.description else []


def _fresh_database(server: LocalPostgres) -> str:
    # CREATE and DROP DATABASE cannot run in a transaction, so not under db.pinned; they name
    # an identifier and resolve no function or operator.
    with psycopg.connect(server.url("postgres"), autocommit=True) as admin:
        name = sql.Identifier(DATABASE)
        admin.execute(sql.SQL("drop database if exists {} with (force)").format(name))
        admin.execute(sql.SQL("create database {}").format(name))
    return server.url(DATABASE)


def _vercel_login(server: LocalPostgres) -> str:
    """A login like the one Vercel should hold: a member of fleet_cron and nothing else."""
    password = secrets.token_urlsafe(18)
    role = sql.Identifier(VERCEL_LOGIN)
    with psycopg.connect(server.url("postgres"), autocommit=True) as admin, db.pinned(admin):
        exists = admin.execute(
            "select 1 from pg_roles where rolname = %s", (VERCEL_LOGIN,)
        ).fetchone()
        verb = "alter" if exists else "create"
        admin.execute(
            sql.SQL(verb + " role {} login password {}").format(role, sql.Literal(password))
        )
    return server.url(DATABASE, user=VERCEL_LOGIN, password=password)


def _seed_fleet(conn: psycopg.Connection) -> None:
    conn.execute(
        "select fleet.register_agent(format('edge-%%s', lpad(n::text, 2, '0'))) "
        "from generate_series(1, %s) as n",
        (AGENTS,),
    )
    # The role exists only once the migration has created fleet_cron.
    conn.execute(sql.SQL("grant fleet_cron to {}").format(sql.Identifier(VERCEL_LOGIN)))
    # A fleet partitioned from its first day, as one looks after its first month: a partition
    # per UTC day of the history. (In a database just migrated, heartbeats_legacy, the table as
    # it was before partitioning, would hold all of it; here it is empty and goes.)
    conn.execute("drop table fleet.heartbeats_legacy")
    conn.execute(
        "select fleet.create_heartbeat_partition(day) "
        "from generate_series(date_bin('1 day', now() - make_interval(days => %s), 'epoch'), "
        "                     now() + interval '1 day', interval '1 day') as day "
        "where not exists (select from fleet.heartbeat_partitions('fleet.heartbeats') as p "
        "                  where day >= p.lower_bound and day < p.upper_bound)",
        (HISTORY_DAYS + 1,),
    )
    # A quarter-hour off the half-hour grid, so no row sits exactly on the 30-day boundary.
    conn.execute(
        "insert into fleet.heartbeats (agent_id, created_at, payload) "
        "select a.id, now() - make_interval(mins => step * %s - 15), "
        "       jsonb_build_object('load', round(random()::numeric, 2)) "
        "from fleet.agents as a "
        "cross join generate_series(1, %s) as step",
        (60 // HEARTBEATS_PER_HOUR, HISTORY_DAYS * 24 * HEARTBEATS_PER_HOUR),
    )
    conn.execute("analyze fleet.heartbeats")


class _ChattyAgents:
    """Every agent but the quiet ones (the last QUIET_AGENTS by name) keeps heartbeating, and
    the heartbeats they record are counted, so the demo's totals add up on screen."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.recorded = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def __enter__(self) -> _ChattyAgents:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self.thread.join(5)

    def everyone_reports_in(self, conn: psycopg.Connection) -> None:
        """One heartbeat from every agent, the quiet ones included (their last)."""
        self._count(_query(conn, "select fleet.record_heartbeat(id) from fleet.agents"))

    def _beat(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stop.wait(HEARTBEAT_INTERVAL_SECONDS):
                rows = _query(
                    conn,
                    "select fleet.record_heartbeat(id) from fleet.agents order by name limit %s",
                    (AGENTS - QUIET_AGENTS,),
                )
                self._count(rows)

    def _count(self, heartbeats: list[tuple]) -> None:
        with self.lock:
            self.recorded += len(heartbeats)


@contextlib.contextmanager
def _serving(database_url: str, secret: str) -> Iterator[str]:
    saved = {name: os.environ.get(name) for name in ("DATABASE_URL", "CRON_SECRET")}
    os.environ.update({"DATABASE_URL": database_url, "CRON_SECRET": secret})
    server = make_server(port=0)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _show_call(console: Console, base: str, path: str, secret: str | None) -> dict:
    headers = {"User-Agent": "vercel-cron/1.0"}
    shown = "(no Authorization header)"
    if secret:
        headers["Authorization"] = f"Bearer {secret}"
        shown = "-H 'Authorization: Bearer $CRON_SECRET'"
    request = urllib.request.Request(base + path, headers=headers)  # noqa: S310 - our http URL
    log = io.StringIO()
    with contextlib.redirect_stdout(log):  # the endpoint's one JSON log line per request
        try:
            with urllib.request.urlopen(request, timeout=300) as response:  # noqa: S310
                code, body = response.status, response.read()
        except urllib.error.HTTPError as error:
            code, body = error.code, error.read()
    _print_command(console, f"$ curl {shown} {base}{path}")
    answer = json.loads(body)
    colour = "green" if code == 200 else "yellow"
    console.print(
        Text.assemble("  ", (f"HTTP {code}", colour), " ", plain(json.dumps(answer))),
        soft_wrap=True,
    )
    for line in log.getvalue().splitlines():
        console.print(Text.assemble("  ", plain(f"log: {line}", style="dim")), soft_wrap=True)
    return answer


def _show_changes(console: Console, before: status.Status, after: status.Status) -> None:
    table = Table(box=None, padding=(0, 2))
    table.add_column("")
    table.add_column("before", justify="right")
    table.add_column("after", justify="right")
    for label, key in (("agents online", "online"), ("agents offline", "offline")):
        table.add_row(label, f"{before.agents[key]:,}", f"{after.agents[key]:,}")
    table.add_row(
        "heartbeats past retention",
        f"{before.heartbeats['expired']:,}",
        f"{after.heartbeats['expired']:,}",
    )
    console.print(table)


def _show_what_the_jobs_did(
    console: Console, after: status.Status, conn: psycopg.Connection
) -> None:
    [(marked,)] = _query(
        conn,
        "select string_agg(a.name, ', ' order by a.name) from fleet.agent_events as e "
        "join fleet.agents as a on a.id = e.agent_id where e.reason = 'stale'",
    )
    console.print(Text.assemble("  marked offline: ", plain(marked or "none")), soft_wrap=True)
    [(dropped, dropped_rows, deleted_rows)] = _query(
        conn,
        "select jsonb_array_length(r.detail -> 'dropped_partitions'), "
        "(r.detail ->> 'dropped_rows')::bigint, (r.detail ->> 'deleted_rows')::bigint "
        "from fleet.job_runs as r where r.job = 'cleanup-heartbeats' order by r.id desc limit 1",
    )
    console.print(
        f"  cleanup-heartbeats dropped {dropped} expired day partitions ({dropped_rows:,} "
        f"heartbeats) and deleted {deleted_rows:,} one by one, from the day the 30-day cutoff "
        "cuts through",
        soft_wrap=True,
        highlight=False,
    )
    runs = Table("run", "job", "by", "outcome", "rows", box=None, padding=(0, 2))
    for run in reversed(after.recent_runs):
        runs.add_row(
            str(run["id"]),
            plain(run["job"]),
            plain(run["triggered_by"]),
            plain(run["outcome"]),
            f"{run['rows_affected']:,}",
        )
    console.print(runs)


def _show_heartbeat_arithmetic(
    console: Console, *, before: int, recorded: int, deleted: int, after: int
) -> None:
    """The heartbeat rows, counted exactly, and why the number changed."""
    table = Table(box=None, padding=(0, 2), show_header=False)
    table.add_column()
    table.add_column(justify="right")
    table.add_row("heartbeats before", f"{before:,}")
    table.add_row("recorded during the demo", f"+{recorded:,}")
    table.add_row("deleted by cleanup-heartbeats", f"-{deleted:,}")
    table.add_row("heartbeats after", f"{after:,}")
    console.print(table)
    if before + recorded - deleted != after:  # someone else wrote to the demo database
        console.print("  (the counts do not add up: something else changed the table)")
