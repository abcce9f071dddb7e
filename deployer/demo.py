"""fleetcron demo: the whole system on the local PostgreSQL, through the real endpoints.

It deploys the schema with Alembic into a fresh ``fleetcron_demo`` database on the local
throwaway server, registers a fleet with weeks of heartbeat history, keeps most agents
heartbeating while a few go quiet, then calls both cron endpoints over HTTP exactly as Vercel
Cron would (once without the secret, to show the 401) and prints what changed. The endpoints
log in as a role that is only a member of fleet_cron, as they should in production.

To keep the wait short the demo lowers the stale threshold from 5 minutes to 3 seconds, in
the demo database's fleet.config, and says so.
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

from deployer import migrate, status
from deployer.localpg import LocalPostgres
from deployer.serve import make_server

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
        console.print(f"\n[bold cyan]▸ {text}[/]")

    step(f"Fresh database {DATABASE} on the local PostgreSQL (port {server.port})")
    url = _fresh_database(server)
    vercel_url = _vercel_login(server)

    step("Deploy the schema with Alembic (alembic upgrade head)")
    migrate.upgrade(url)
    console.print(f"  at revision {migrate.head()}: schema fleet, its tables and routines")

    with psycopg.connect(url, autocommit=True) as conn:
        step(f"Register {AGENTS} agents and import {HISTORY_DAYS} days of heartbeat history")
        _seed_fleet(conn)
        console.print(
            f"  {AGENTS} agents; heartbeats every {60 // HEARTBEATS_PER_HOUR} minutes "
            f"since {HISTORY_DAYS} days ago, so {HISTORY_DAYS - 30} days of them are past "
            "the 30-day retention"
        )
        step(f"Agents report in; {QUIET_AGENTS} of them then go quiet")
        conn.execute("update fleet.config set stale_after = %s", (DEMO_STALE_AFTER,))
        console.print(
            f"  [dim](the demo lowers fleet.config.stale_after from 5 minutes to "
            f"{DEMO_STALE_AFTER.seconds} seconds, so you need not wait)[/]"
        )
        with _heartbeats_from_chatty_agents(url):
            conn.execute("select fleet.record_heartbeat(id) from fleet.agents")
            time.sleep(DEMO_STALE_AFTER.seconds + 1.5)
            quiet = conn.execute("select count(*) from fleet.stale_agents").fetchone()[0]
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
                _show_call(console, base, "/api/cron/cleanup-heartbeats", secret)

        step("What changed")
        _show_changes(console, before, status.read(url), conn)

    console.print("\n[bold]Try it yourself[/] (the demo database stays until the next demo):")
    console.print(f"  DATABASE_URL='{url}' fleetcron status", soft_wrap=True, highlight=False)
    console.print(f"  psql '{url}'", soft_wrap=True, highlight=False)
    console.print(
        "  then: select * from fleet.mark_stale_agents();  call fleet.purge_old_heartbeats_all();",
        soft_wrap=True,
        highlight=False,
    )


def _fresh_database(server: LocalPostgres) -> str:
    with psycopg.connect(server.url("postgres"), autocommit=True) as admin:
        name = sql.Identifier(DATABASE)
        admin.execute(sql.SQL("drop database if exists {} with (force)").format(name))
        admin.execute(sql.SQL("create database {}").format(name))
    return server.url(DATABASE)


def _vercel_login(server: LocalPostgres) -> str:
    """A login like the one Vercel should hold: a member of fleet_cron and nothing else."""
    password = secrets.token_urlsafe(18)
    role = sql.Identifier(VERCEL_LOGIN)
    with psycopg.connect(server.url("postgres"), autocommit=True) as admin:
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


@contextlib.contextmanager
def _heartbeats_from_chatty_agents(url: str) -> Iterator[None]:
    """Every agent but the quiet ones (the last QUIET_AGENTS by name) keeps heartbeating."""
    stop = threading.Event()

    def beat() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            while not stop.wait(HEARTBEAT_INTERVAL_SECONDS):
                conn.execute(
                    "select fleet.record_heartbeat(id) from fleet.agents order by name limit %s",
                    (AGENTS - QUIET_AGENTS,),
                )

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)


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


def _show_call(console: Console, base: str, path: str, secret: str | None) -> None:
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
    console.print(f"  $ curl {shown} {base}{path}", soft_wrap=True, highlight=False)
    colour = "green" if code == 200 else "yellow"
    console.print(
        f"  [{colour}]HTTP {code}[/] {json.dumps(json.loads(body))}",
        soft_wrap=True,
        highlight=False,
    )
    for line in log.getvalue().splitlines():
        console.print(f"  [dim]log: {line}[/]", soft_wrap=True, highlight=False)


def _show_changes(
    console: Console, before: status.Status, after: status.Status, conn: psycopg.Connection
) -> None:
    table = Table(box=None, padding=(0, 2))
    table.add_column("")
    table.add_column("before", justify="right")
    table.add_column("after", justify="right")
    for label, key in (("agents online", "online"), ("agents offline", "offline")):
        table.add_row(label, f"{before.agents[key]:,}", f"{after.agents[key]:,}")
    for label, key in (("heartbeats", "rows"), ("  past retention", "expired")):
        table.add_row(label, f"{before.heartbeats[key]:,}", f"{after.heartbeats[key]:,}")
    console.print(table)
    marked = conn.execute(
        "select string_agg(a.name, ', ' order by a.name) from fleet.agent_events as e "
        "join fleet.agents as a on a.id = e.agent_id where e.reason = 'stale'"
    ).fetchone()[0]
    console.print(f"  marked offline: {marked or 'none'}")
    runs = Table("run", "job", "by", "outcome", "rows", box=None, padding=(0, 2))
    for run in reversed(after.recent_runs):
        runs.add_row(
            str(run["id"]),
            run["job"],
            run["triggered_by"],
            run["outcome"],
            f"{run['rows_affected']:,}",
        )
    console.print(runs)
