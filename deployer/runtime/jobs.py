"""Run a fleetcron job: one call into the database, and its report.

The HTTP endpoints (api/cron/*.py) and the CLI's ``run`` command share this module, so a job
started by hand takes exactly the path Vercel's cron takes. It depends on psycopg and the
standard library only: it is bundled into the Vercel functions.

Every job is bounded on both sides. The server bounds check-stale with a statement_timeout and
an idle_in_transaction_session_timeout (a client that vanishes mid-transaction cannot hold the
job's row locks), and the cleanup procedure with its time budget. The client bounds both with a
deadline below the function's maxDuration: past it, the query is cancelled and, if even the
cancel gets no answer (a frozen pooler), the socket is shut, so the caller always gets an
answer. A failure the database could not record itself (connection lost, deadline) is recorded
through a fresh connection, best effort, so no failed run is invisible in fleet.job_runs.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import ClassVar

import psycopg

from deployer.runtime import db

CHECK_STALE = "check-stale"
CLEANUP_HEARTBEATS = "cleanup-heartbeats"
JOBS = (CHECK_STALE, CLEANUP_HEARTBEATS)

# check-stale is one bounded UPDATE; if it takes this long, something is wrong and waiting is
# worse. Below the function's 60 s maxDuration (vercel.json) with room to connect and answer,
# so the database gives up before Vercel kills the function mid-statement.
CHECK_STALE_STATEMENT_TIMEOUT_SECONDS = 45
# A check-stale transaction left idle (its client gone, or a pooler frozen between the result
# and the COMMIT) is ended by the server after this long, releasing the agents it locked.
CHECK_STALE_IDLE_TIMEOUT_SECONDS = 10
# The client gives up waiting at a deadline below the function's maxDuration and above what
# the server-side bounds allow a healthy run. check-stale: 48 s leaves the server's own 45 s
# statement_timeout room to fire and record the run.
CHECK_STALE_DEADLINE_SECONDS = 48
# cleanup: the budget only stops new batches; the batch in flight, partition upkeep and pruning
# get this long past it.
CLEANUP_DEADLINE_MARGIN_SECONDS = 40
# What the endpoint gives cleanup when FLEETCRON_PURGE_TIME_BUDGET_SECONDS is unset: with its
# deadline and what may follow one, 292 s of the function's 300 s maxDuration.
DEFAULT_PURGE_TIME_BUDGET_SECONDS = 240
# After the deadline: how long the cancel request may take, then how long the cancelled query
# may take to come back, before the socket is shut.
CANCEL_GRACE_SECONDS = 2
# Recording a lost run: 2 s to connect, 2 s for its statements, then the same cancel and grace.
RECORD_FAILURE_STEP_SECONDS = 2
RECORD_FAILURE_SECONDS = 2 * RECORD_FAILURE_STEP_SECONDS + 2 * CANCEL_GRACE_SECONDS

CHECK_STALE_CALL = (
    "select id, outcome, rows_affected, detail from fleet.run_check_stale(triggered_by => %s)"
)
CHECK_STALE_CALL_WITH_BATCH = (
    "select id, outcome, rows_affected, detail "
    "from fleet.run_check_stale(triggered_by => %s, batch => %s)"
)

Progress = Callable[[dict], None]


class UnknownJob(ValueError):
    pass


class DatabaseNotConfigured(RuntimeError):
    def __init__(self) -> None:
        super().__init__("database not configured: set DATABASE_URL or POSTGRES_URL")


class DatabaseUnavailable(RuntimeError):
    """The database could not be reached, or stopped answering. ``reason`` is a short category,
    never the URL. It comes from what kind of failure it was: psycopg's own connect timeout, the
    SQLSTATE of an error inside a session, the server's FATAL message when it turned the
    connection down (libpq reports no SQLSTATE for those), or libpq's message when no server
    answered at all. Only the server's own words after "FATAL:" are read for the server's
    reasons, so a refused setting whose name contains "timeout" is not taken for a timeout."""

    SQLSTATES: ClassVar[dict[str, str]] = {
        "28P01": "authentication failed",
        "28000": "authentication failed",
        "3D000": "database does not exist",
        "53300": "too many connections",
        "57P01": "server shutting down",
        "57P02": "server shutting down",
        "57P03": "server starting up",
    }
    # What the server says after "FATAL:" when it turns a connection down.
    SERVER_REFUSALS = (
        ("password authentication failed", "authentication failed"),
        ("no pg_hba.conf entry", "authentication failed"),
        ("role ", "authentication failed"),
        ("database ", "database does not exist"),
        ("too many", "too many connections"),
        ("remaining connection slots", "too many connections"),
        ("the database system is starting up", "server starting up"),
        ("the database system is shutting down", "server shutting down"),
    )
    # libpq's own messages for failures that never reached a server.
    CLIENT_FAILURES = (
        ("connection refused", "connection refused"),
        ("could not translate host name", "unknown host"),
        ("name or service not known", "unknown host"),
        ("no route to host", "no route to host"),
        ("network is unreachable", "network unreachable"),
        ("ssl", "TLS negotiation failed"),
    )

    def __init__(self, error: psycopg.OperationalError | None = None, reason: str = "") -> None:
        self.reason = reason or self.classify(error)
        super().__init__(f"cannot reach the database: {self.reason}")

    @staticmethod
    def concerns(error: BaseException | None) -> bool:
        """Whether ``error`` is about reaching the server at all, as opposed to an error a
        statement raised (psycopg files both under OperationalError: a lock timeout, a cancel
        or a refused registration is one too)."""
        return isinstance(error, psycopg.OperationalError) and (
            error.sqlstate is None
            or error.sqlstate[:2] in ("08", "28", "3D", "53")
            or error.sqlstate in ("57P01", "57P02", "57P03")
        )

    @classmethod
    def classify(cls, error: psycopg.OperationalError | None) -> str:
        if error is None:
            return "connection failed"
        if isinstance(error, psycopg.errors.ConnectionTimeout):
            return "timeout"
        if error.sqlstate:
            return cls.SQLSTATES.get(error.sqlstate, f"server refused ({error.sqlstate})")
        text = str(error).lower()
        if "fatal:" in text:
            server_says = text.split("fatal:", 1)[1].strip()
            return next(
                (reason for start, reason in cls.SERVER_REFUSALS if server_says.startswith(start)),
                "server refused the connection",
            )
        return next(
            (reason for needle, reason in cls.CLIENT_FAILURES if needle in text),
            "connection failed",
        )


class SchemaMissing(RuntimeError):
    """The database has no fleetcron schema, or an older one without what this code calls."""

    def __init__(self, error: psycopg.Error) -> None:
        self.sqlstate = error.sqlstate
        missing = error.sqlstate == "3F000"
        self.hint = "run: fleetcron db upgrade (as the schema owner, on a direct connection)"
        super().__init__(
            "this database has no fleetcron schema"
            if missing
            else "this database's fleetcron schema is out of date"
        )


class JobFailed(RuntimeError):
    """The job ran and failed; the database recorded the run as 'error'."""

    def __init__(self, job: str, run_id: int | None, sqlstate: str | None, message: str) -> None:
        self.job, self.run_id, self.sqlstate = job, run_id, sqlstate
        super().__init__(message)


@dataclass(frozen=True)
class JobResult:
    job: str
    outcome: str
    run_id: int
    rows_affected: int
    duration_ms: int
    backlog: bool | None = None
    batches: int | None = None
    reason: str | None = None

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
    """Run ``job`` once against the database at ``url``, within its deadline (deadline_for)."""
    if job not in JOBS:
        raise UnknownJob(f"unknown job {job!r}; the jobs are {', '.join(JOBS)}")
    if not url:
        raise DatabaseNotConfigured
    started = time.monotonic()
    try:
        conn = db.connect(url, application_name=f"fleetcron-{triggered_by}", autocommit=True)
    except psycopg.OperationalError as error:
        raise DatabaseUnavailable(error) from None
    deadline = deadline_for(job, time_budget)
    try:
        with conn, _deadline(conn, deadline) as expired:
            if job == CHECK_STALE:
                row = _check_stale(conn, triggered_by, batch)
            else:
                row = _cleanup_heartbeats(conn, triggered_by, batch, time_budget, on_progress)
    except (psycopg.errors.UndefinedFunction, psycopg.errors.InvalidSchemaName) as error:
        raise SchemaMissing(error) from None
    except psycopg.Error as error:
        unavailable = _lost(error, conn, expired, deadline)
        if unavailable is None:
            raise
        record_failure(url, job, triggered_by, unavailable)
        raise unavailable from None
    return JobResult(job=job, duration_ms=round((time.monotonic() - started) * 1000), **row)


def deadline_for(job: str, time_budget: timedelta | None = None) -> float:
    """When the client stops waiting for ``job`` (cleanup: for a run with ``time_budget``)."""
    if job == CHECK_STALE:
        return CHECK_STALE_DEADLINE_SECONDS
    budget = time_budget.total_seconds() if time_budget else DEFAULT_PURGE_TIME_BUDGET_SECONDS
    return budget + CLEANUP_DEADLINE_MARGIN_SECONDS


def seconds_a_run_may_take(job: str, time_budget: timedelta | None = None) -> float:
    """The longest a run may keep its caller: its deadline, the cancel, recording it as lost.

    A function's maxDuration must be at least this, or Vercel kills it before it answers.
    """
    return deadline_for(job, time_budget) + 2 * CANCEL_GRACE_SECONDS + RECORD_FAILURE_SECONDS


def _lost(
    error: psycopg.Error, conn: psycopg.Connection, expired: threading.Event, deadline: float
) -> DatabaseUnavailable | None:
    """The database stopped answering (deadline, lost connection), or None for a SQL error."""
    if expired.is_set():
        return DatabaseUnavailable(reason=f"no answer within {deadline:g} s")
    if isinstance(error, psycopg.OperationalError) and (conn.closed or error.sqlstate is None):
        return DatabaseUnavailable(reason="connection lost")
    if error.sqlstate in ("57P01", "57P02", "57P03"):
        return DatabaseUnavailable(error)  # type: ignore[arg-type]
    return None


def record_failure(url: str, job: str, triggered_by: str, failure: DatabaseUnavailable) -> None:
    """Record a run that failed outside the database's reach, through a fresh connection.

    Best effort: when the database is still unreachable there is nowhere to record it, and the
    caller's log line is all there is.
    """
    try:
        conn = db.connect(url, connect_timeout=RECORD_FAILURE_STEP_SECONDS)
    except psycopg.Error:
        return
    # Behind a pooler with no server to hand out, even a statement_timeout never starts.
    try:
        with conn, _deadline(conn, RECORD_FAILURE_STEP_SECONDS), db.pinned(conn):
            conn.execute("select set_config('statement_timeout', '2s', true)")
            conn.execute(
                "select fleet.record_failed_run(%s, %s, null, %s)",
                (job, triggered_by, str(failure)),
            )
    except psycopg.Error:
        pass


@contextmanager
def _deadline(conn: psycopg.Connection, seconds: float) -> Iterator[threading.Event]:
    """Cancel the running query after ``seconds``; shut the socket if even that is not heard.

    The event tells the caller that an error it sees came from the deadline.
    """
    finished, expired = threading.Event(), threading.Event()

    def watch() -> None:
        if finished.wait(seconds):
            return
        expired.set()
        with suppress(psycopg.Error):
            conn.cancel_safe(timeout=CANCEL_GRACE_SECONDS)
        if not finished.wait(CANCEL_GRACE_SECONDS):
            _shut(conn)

    watcher = threading.Thread(target=watch, name="fleetcron-deadline", daemon=True)
    watcher.start()
    try:
        yield expired
    finally:
        finished.set()


def _shut(conn: psycopg.Connection) -> None:
    """Shut the connection's socket down under the blocked reader, which then fails at once."""
    try:
        with socket.socket(fileno=socket.dup(conn.fileno())) as sock:
            sock.shutdown(socket.SHUT_RDWR)
    except (OSError, psycopg.Error):
        pass


def _check_stale(conn: psycopg.Connection, triggered_by: str, batch: int | None) -> dict:
    with db.pinned(conn):
        # Transaction-local settings, because a pooler in transaction mode ignores startup
        # options and would hand session settings to the next client.
        conn.execute(
            "select set_config('statement_timeout', %s, true), "
            "set_config('idle_in_transaction_session_timeout', %s, true)",
            (f"{CHECK_STALE_STATEMENT_TIMEOUT_SECONDS}s", f"{CHECK_STALE_IDLE_TIMEOUT_SECONDS}s"),
        )
        # batch only when given, so this code also runs against a schema older than the
        # batch argument (the functions and the database deploy separately).
        if batch is None:
            query, params = CHECK_STALE_CALL, (triggered_by,)
        else:
            query, params = CHECK_STALE_CALL_WITH_BATCH, (triggered_by, batch)
        run_id, outcome, rows, detail = conn.execute(query, params).fetchone()
    if outcome == "error":
        raise JobFailed(CHECK_STALE, run_id, detail.get("sqlstate"), detail.get("error", ""))
    return {
        "run_id": run_id,
        "outcome": outcome,
        "rows_affected": rows,
        "backlog": detail.get("backlog"),
        "reason": detail.get("reason"),
    }


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
    # The procedure COMMITs between steps, so it runs outside a transaction block (autocommit)
    # and nothing can pin search_path around it; nothing in it resolves through search_path.
    # Its time budget, not a statement_timeout, bounds it.
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
