"""Run a fleetcron job: one call into the database, and its report.

The HTTP endpoints (api/cron/*.py) and the CLI's ``run`` command share this module, so a job
started by hand takes exactly the path Vercel's cron takes. It depends on psycopg and the
standard library only: it is bundled into the Vercel functions.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import timedelta

import psycopg

from deployer.runtime import db

CHECK_STALE = "check-stale"
CLEANUP_HEARTBEATS = "cleanup-heartbeats"
JOBS = (CHECK_STALE, CLEANUP_HEARTBEATS)

# check-stale is one UPDATE; if it takes this long, something is wrong and waiting is worse.
# Below the function's 60 s maxDuration (vercel.json) with room to connect and answer, so the
# database gives up before Vercel kills the function mid-statement.
CHECK_STALE_STATEMENT_TIMEOUT_SECONDS = 45

Progress = Callable[[dict], None]


class UnknownJob(ValueError):
    pass


class DatabaseNotConfigured(RuntimeError):
    def __init__(self) -> None:
        super().__init__("database not configured: set DATABASE_URL or POSTGRES_URL")


class DatabaseUnavailable(RuntimeError):
    """The database could not be reached. ``reason`` is a short category, never the URL."""

    REASONS = (
        ("timeout", "timeout"),
        ("password authentication failed", "authentication failed"),
        ("sasl authentication failed", "authentication failed"),
        ("connection refused", "connection refused"),
        ("could not translate host name", "unknown host"),
        ("does not exist", "database or role does not exist"),
        ("too many", "too many connections"),
    )

    def __init__(self, error: psycopg.OperationalError) -> None:
        text = str(error).lower()
        self.reason = next(
            (reason for needle, reason in self.REASONS if needle in text), "connection failed"
        )
        super().__init__(f"cannot reach the database: {self.reason}")


@dataclass(frozen=True)
class JobResult:
    job: str
    outcome: str
    run_id: int
    rows_affected: int
    duration_ms: int
    backlog: bool | None = None
    batches: int | None = None

    def as_dict(self) -> dict:
        return {key: value for key, value in asdict(self).items() if value is not None}


def run(
    url: str,
    job: str,
    *,
    triggered_by: str,
    batch: int | None = None,
    time_budget: timedelta | None = None,
    on_progress: Progress | None = None,
) -> JobResult:
    """Run ``job`` once against the database at ``url``."""
    if job not in JOBS:
        raise UnknownJob(f"unknown job {job!r}; the jobs are {', '.join(JOBS)}")
    if not url:
        raise DatabaseNotConfigured
    started = time.monotonic()
    try:
        conn = db.connect(url, application_name=f"fleetcron-{triggered_by}", autocommit=True)
    except psycopg.OperationalError as error:
        raise DatabaseUnavailable(error) from None
    with conn:
        if job == CHECK_STALE:
            row = _check_stale(conn, triggered_by)
        else:
            row = _cleanup_heartbeats(conn, triggered_by, batch, time_budget, on_progress)
    return JobResult(job=job, duration_ms=round((time.monotonic() - started) * 1000), **row)


def _check_stale(conn: psycopg.Connection, triggered_by: str) -> dict:
    with conn.transaction():
        # SET LOCAL, because a pooler in transaction mode ignores startup options.
        conn.execute(
            "select set_config('statement_timeout', %s, true)",
            (f"{CHECK_STALE_STATEMENT_TIMEOUT_SECONDS}s",),
        )
        run_id, outcome, rows = conn.execute(
            "select id, outcome, rows_affected from fleet.run_check_stale(%s)", (triggered_by,)
        ).fetchone()
    return {"run_id": run_id, "outcome": outcome, "rows_affected": rows}


def _cleanup_heartbeats(
    conn: psycopg.Connection,
    triggered_by: str,
    batch: int | None,
    time_budget: timedelta | None,
    on_progress: Progress | None,
) -> dict:
    interrupted = False
    if on_progress:

        def report(notice: psycopg.errors.Diagnostic) -> None:
            nonlocal interrupted
            try:
                _report_progress(notice, on_progress)
            except KeyboardInterrupt:
                # Raised inside libpq's notice callback it would be swallowed: cancel the
                # query instead, and raise it again once the procedure has recorded the stop.
                interrupted = True
                conn.cancel_safe()

        conn.add_notice_handler(report)
    # The procedure COMMITs between batches, so it runs outside a transaction block
    # (autocommit); its time budget, not a statement_timeout, bounds it.
    try:
        run_id, outcome, deleted, batches, backlog = conn.execute(
            "call fleet.purge_old_heartbeats_all(batch => %s, time_budget => %s, "
            "triggered_by => %s)",
            (batch, time_budget, triggered_by),
        ).fetchone()
    except psycopg.errors.QueryCanceled:
        if interrupted:
            raise KeyboardInterrupt from None
        raise
    return {
        "run_id": run_id,
        "outcome": outcome,
        "rows_affected": deleted,
        "batches": batches,
        "backlog": backlog,
    }


def _report_progress(notice: psycopg.errors.Diagnostic, on_progress: Progress) -> None:
    try:
        progress = json.loads(notice.message_detail or "")
    except ValueError:
        return
    if isinstance(progress, dict):
        on_progress(progress)
