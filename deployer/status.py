"""What `fleetcron status` shows, read from the summary views (readable by fleet_cron).

Every name and word read from the database is rendered with ``terminal.plain``: agents name
themselves, and a name is text to show, not markup or escape sequences to obey.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row
from rich.console import Console
from rich.table import Table
from rich.text import Text

from deployer.runtime import db
from deployer.terminal import plain

STALE_AGENTS_SHOWN = 20
RECENT_RUNS_SHOWN = 10
# Which tables the jobs work on: fleetcron's own, or the application's (fleet.adopt).
TABLES = """
    select t.agents, t.heartbeats, t.own_tables as own, t.agent_status, t.online_value,
           t.offline_value, t.problems
    from fleet.registered_tables as t
"""


@dataclass
class Status:
    tables: dict[str, Any]
    agents: dict[str, Any]
    stale_agents: list[dict[str, Any]]
    heartbeats: dict[str, Any]
    jobs: list[dict[str, Any]]
    recent_runs: list[dict[str, Any]]


def read(url: str) -> Status:
    with (
        db.connect(url) as conn,
        db.pinned(conn, command=True),
        conn.cursor(row_factory=dict_row) as cur,
    ):
        return Status(
            tables=_one(cur, TABLES),
            agents=_one(cur, "select * from fleet.agent_summary"),
            stale_agents=_all(
                cur,
                "select agent_id, name, last_heartbeat, silent_for, stale_after "
                "from fleet.stale_agents order by silent_for desc limit %s",
                (STALE_AGENTS_SHOWN,),
            ),
            heartbeats=_one(cur, "select * from fleet.heartbeat_summary"),
            jobs=_all(cur, "select * from fleet.job_summary"),
            recent_runs=_all(
                cur, "select * from fleet.recent_job_runs limit %s", (RECENT_RUNS_SHOWN,)
            ),
        )


def expired_heartbeats(url: str) -> tuple[int, bool]:
    """The cleanup backlog: expired rows (counted up to a million) and whether that is exact."""
    with db.connect(url) as conn, db.pinned(conn, command=True):
        return conn.execute("select expired, expired_exact from fleet.heartbeat_summary").fetchone()


def _one(cur: psycopg.Cursor, query: str) -> dict[str, Any]:
    return cur.execute(query).fetchone()


def _all(cur: psycopg.Cursor, query: str, params: tuple = ()) -> list[dict[str, Any]]:
    return cur.execute(query, params).fetchall()


def render(current: Status, console: Console) -> None:
    agents, beats = current.agents, current.heartbeats

    tables = current.tables
    overview = Table(title="fleet", show_header=False, box=None, title_justify="left")
    overview.add_column(overflow="fold")
    overview.add_column(overflow="fold")
    if tables["own"]:
        overview.add_row("tables", "fleetcron's own (fleet.agents, fleet.heartbeats)")
    else:
        overview.add_row(
            "tables",
            plain(
                f"adopted: {tables['agents']} ({tables['agent_status']}: "
                f"{tables['online_value']!r} online, {tables['offline_value']!r} offline), "
                f"{tables['heartbeats']}"
            ),
        )
    overview.add_row("agents", f"{agents['agents']:,}")
    overview.add_row("  online", f"{agents['online']:,}")
    overview.add_row("  offline", f"{agents['offline']:,}")
    overview.add_row("  never seen", f"{agents['never_seen']:,}")
    overview.add_row("  stale now", _flag(agents["stale_now"]))
    overview.add_row(
        "heartbeats", f"{beats['rows']:,}" + ("" if beats["rows_exact"] else " (est.)")
    )
    overview.add_row("  size", _bytes(beats["total_bytes"]))
    overview.add_row("  oldest", when(beats["oldest"]) + (" UTC" if beats["oldest"] else ""))
    overview.add_row(
        "  expired backlog", f"{beats['expired']:,}" + ("" if beats["expired_exact"] else "+")
    )
    if beats["partitions"]:
        overview.add_row(
            "  partitions",
            f"{beats['partitions']:,}"
            + (
                f", ready until {when(beats['partitioned_until'])} UTC"
                if beats["partitioned_until"]
                else ""
            ),
        )
    console.print(overview)

    if current.stale_agents:
        stale = Table(title="stale right now", title_justify="left", box=None)
        stale.add_column("stale agent", overflow="fold")  # a name is never cut short
        for heading in ("last heartbeat", "silent for", "threshold"):
            stale.add_column(heading, no_wrap=True)
        for agent in current.stale_agents:
            stale.add_row(
                plain(agent["name"] if agent["name"] is not None else agent["agent_id"]),
                when(agent["last_heartbeat"]),
                _duration(agent["silent_for"]),
                _duration(agent["stale_after"]),
            )
        console.print(stale)

    summary = Table(
        title="jobs (times in UTC)",
        title_justify="left",
        box=None,
        pad_edge=False,
        collapse_padding=True,
    )
    summary.add_column("job", overflow="fold")
    for heading in (
        "last run",
        "outcome",
        "rows",
        "took",
        "24h runs",
        "errors",
        "failing",
        "stuck",
    ):
        summary.add_column(heading, no_wrap=True)
    for job in current.jobs:
        summary.add_row(
            plain(job["job"]),
            when(job["last_started_at"]),
            _outcome(job["last_outcome"]),
            _count(job["last_rows_affected"]),
            _duration(job["last_duration"]),
            f"{job['runs_24h']:,}",
            _flag(job["errors_24h"]),
            _flag(job["errors_in_a_row"]),
            _flag(job["stuck"]),
        )
    console.print(summary)
    for job in current.jobs:
        if job["errors_in_a_row"] or job["skips_in_a_row"] >= REPEATED:
            console.print(plain(repeated_failures(job), style="yellow"))
    if any(job["stuck"] for job in current.jobs):
        console.print(
            "stuck runs lost their caller; the next cleanup run retires them", style="yellow"
        )

    if current.recent_runs:
        runs = Table(title="recent runs", title_justify="left", box=None)
        runs.add_column("run", no_wrap=True)
        for heading in ("job", "by"):
            runs.add_column(heading, overflow="fold")
        for heading in ("started", "outcome", "rows", "took"):
            runs.add_column(heading, no_wrap=True)
        for run in current.recent_runs:
            runs.add_row(
                str(run["id"]),
                plain(run["job"]),
                plain(run["triggered_by"]),
                when(run["started_at"]),
                _outcome(run["outcome"]),
                _count(run["rows_affected"]),
                _duration(run["duration"]),
            )
        console.print(runs)


# From this many runs in a row without an ok one, a job's trouble is a pattern, not a blip.
REPEATED = 3


def repeated_failures(job: dict[str, Any]) -> str:
    """What status and doctor say about a job that keeps failing or being skipped."""
    since = when(job["last_ok_at"]) + " UTC" if job["last_ok_at"] else "it first ran"
    if job["errors_in_a_row"]:
        return (
            f"{job['job']} failed {job['errors_in_a_row']} time(s) in a row since {since} "
            f"(last error: {job['last_error'] or 'unknown'})"
        )
    return f"{job['job']} was skipped {job['skips_in_a_row']} times in a row since {since}"


def when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%m-%d %H:%M:%S") if moment else "-"


def _duration(span: timedelta | None) -> str:
    if span is None:
        return "-"
    seconds = span.total_seconds()
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


def _bytes(size: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1024:
            return f"{size:.0f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _flag(value: int) -> Text:
    return Text(f"{value:,}", style="yellow") if value else Text("0")


def _outcome(outcome: str | None) -> Text:
    colour = {"ok": "green", "skipped": "blue", "error": "red", "running": "yellow"}
    return plain(outcome, style=colour.get(outcome or "", ""))
