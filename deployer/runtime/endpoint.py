"""The HTTP side of a cron function: check the method and the secret, run one job, answer JSON.

Each file under api/cron/ is a Vercel Python function whose ``handler`` subclasses
CronEndpoint and names its job; everything else is here, once. Standard library and psycopg
only, because this module is bundled into the functions.

Contract (docs/design.md, "The endpoints"):
  GET   with ``Authorization: Bearer $CRON_SECRET`` runs the job: 200 with the run's report
        (a run skipped because another holds the job is a 200 too: Vercel may deliver twice).
  HEAD  with the same header answers 200 and runs nothing: a cheap probe for monitors.
  other methods: 405 with Allow. Missing, malformed or wrong secret: 401. CRON_SECRET unset,
  empty or blank: 401 for everyone, and a log line saying so (fail closed). Database
  unreachable, connection lost, or no answer before the job's deadline: 503 with a reason. No
  fleetcron schema, or an older one: 500 saying to run `fleetcron db upgrade`. The job failing
  in SQL: 500 with its SQLSTATE and message; anything unexpected: 500 too. Every response is
  JSON with Cache-Control: no-store, and every request writes exactly one JSON line to stdout
  (Vercel's runtime log). No response or log line ever carries the secret, the database URL or
  a stack trace.
"""

from __future__ import annotations

import hmac
import json
import os
import sys
import time
from collections.abc import Mapping
from datetime import timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import ClassVar

import psycopg

from deployer.runtime import dburl, jobs

ALLOWED_METHODS = "GET, HEAD"
# Leaves a minute of the function's 300 s maxDuration (vercel.json) for connecting, the batch
# in flight when the budget runs out, and pruning the run log.
DEFAULT_PURGE_TIME_BUDGET_SECONDS = jobs.DEFAULT_PURGE_TIME_BUDGET_SECONDS
MAX_PURGE_TIME_BUDGET_SECONDS = 86_400
PURGE_TIME_BUDGET_VARIABLE = "FLEETCRON_PURGE_TIME_BUDGET_SECONDS"


class CronEndpoint(BaseHTTPRequestHandler):
    job: ClassVar[str]
    triggered_by: ClassVar[str] = "vercel"

    def do_GET(self) -> None:
        started = time.monotonic()
        if self._authorized():
            status, body = self._run_job()
            extra = {"request_ms": round((time.monotonic() - started) * 1000)}
            self._respond(status, body, event="cron.run", log_extra=extra)

    def do_HEAD(self) -> None:
        if self._authorized():
            self._respond(HTTPStatus.OK, None, event="cron.probe")

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (unknown method, bad request line) as JSON too."""
        if code == HTTPStatus.NOT_IMPLEMENTED:  # a method with no do_* handler
            self._method_not_allowed()
            return
        self.close_connection = True
        self._respond(
            HTTPStatus(code),
            {"error": message or HTTPStatus(code).phrase},
            event="cron.bad_request",
        )

    def _method_not_allowed(self) -> None:
        self._respond(
            HTTPStatus.METHOD_NOT_ALLOWED,
            {"error": "method not allowed"},
            headers={"Allow": ALLOWED_METHODS},
            event="cron.method_not_allowed",
        )

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _method_not_allowed  # noqa: N815

    # -- authentication ---------------------------------------------------------------------

    def _authorized(self) -> bool:
        # Whitespace around a secret cannot survive an HTTP header, and a secret of nothing
        # but whitespace is no secret: both count as what is left after stripping.
        secret = os.environ.get("CRON_SECRET", "").strip()
        if not secret:
            reason = "CRON_SECRET is not configured: refusing every request"
        elif not _bearer_matches(self.headers.get_all("Authorization") or [], secret):
            reason = "missing or wrong Authorization header"
        else:
            return True
        self._respond(
            HTTPStatus.UNAUTHORIZED,
            {"error": "unauthorized"},
            headers={"WWW-Authenticate": 'Bearer realm="cron"'},
            event="cron.unauthorized",
            log_extra={"reason": reason},
        )
        return False

    # -- the job ------------------------------------------------------------------------------

    def _run_job(self) -> tuple[HTTPStatus, dict]:
        """The run's report, or the status and a small body that say why there is none."""
        try:
            result = jobs.run(
                dburl.from_environment() or "",
                self.job,
                triggered_by=self.triggered_by,
                time_budget=self._time_budget(),
            )
        except jobs.DatabaseUnavailable as error:
            return HTTPStatus.SERVICE_UNAVAILABLE, {
                "error": "database unavailable",
                "reason": error.reason,
            }
        except (jobs.DatabaseNotConfigured, dburl.DatabaseUrlError) as error:
            return HTTPStatus.INTERNAL_SERVER_ERROR, {"error": str(error)}
        except jobs.SchemaMissing as error:
            return HTTPStatus.INTERNAL_SERVER_ERROR, {
                "error": str(error),
                "hint": error.hint,
                "sqlstate": error.sqlstate,
            }
        except jobs.JobFailed as error:
            return HTTPStatus.INTERNAL_SERVER_ERROR, {
                "error": "job failed",
                "sqlstate": error.sqlstate,
                "message": str(error),
                "run_id": error.run_id,
            }
        except psycopg.Error as error:
            return HTTPStatus.INTERNAL_SERVER_ERROR, {
                "error": "job failed",
                "sqlstate": error.sqlstate,
                "message": (error.diag.message_primary or "").strip()[:300],
            }
        except Exception as error:  # whatever it was, the caller gets JSON, never a traceback
            return HTTPStatus.INTERNAL_SERVER_ERROR, {
                "error": "internal error",
                "type": type(error).__name__,
            }
        return HTTPStatus.OK, result.as_dict()

    def _time_budget(self) -> timedelta | None:
        if self.job != jobs.CLEANUP_HEARTBEATS:
            return None
        return timedelta(seconds=purge_time_budget_seconds(os.environ))

    # -- responses ----------------------------------------------------------------------------

    def _respond(
        self,
        status: HTTPStatus,
        body: dict | None,
        *,
        event: str,
        headers: dict | None = None,
        log_extra: dict | None = None,
    ) -> None:
        """One JSON line to the log, then the response. Logging first: once the response is
        out, the platform may freeze the function before anything else runs."""
        _log_line(
            {"event": event, "job": self.job, "status": int(status), "method": self.command}
            | (body or {})
            | (log_extra or {})
            | _caller(self)
        )
        if body is not None and event == "cron.run":
            body = {"job": self.job} | body
        payload = b"" if body is None else json.dumps(body).encode() + b"\n"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    # http.server's access and error lines are plain text on stderr; Vercel's runtime replaces
    # log_message, so these two are silenced instead: each request already wrote its JSON line.
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def log_error(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def purge_time_budget_seconds(environ: Mapping[str, str]) -> float:
    """FLEETCRON_PURGE_TIME_BUDGET_SECONDS if it is a sensible number of seconds, else 240."""
    configured = parse_purge_time_budget(environ.get(PURGE_TIME_BUDGET_VARIABLE))
    return configured or DEFAULT_PURGE_TIME_BUDGET_SECONDS


def parse_purge_time_budget(raw: str | None) -> float | None:
    """Seconds from a little above 0 to a day, or None for anything else (nan and inf too)."""
    try:
        seconds = float(raw or "")
    except ValueError:
        return None
    return seconds if 0 < seconds <= MAX_PURGE_TIME_BUDGET_SECONDS else None


def _bearer_matches(headers: list[str], secret: str) -> bool:
    if len(headers) != 1:
        return False
    # http.server decodes header bytes as latin-1; encoding back recovers them exactly.
    given = headers[0].encode("latin-1", errors="replace")
    return hmac.compare_digest(given, f"Bearer {secret}".encode())


def _caller(request: BaseHTTPRequestHandler) -> dict[str, str]:
    """Who called, for the log: the user agent, and the cron expression Vercel Cron sends."""
    headers = getattr(request, "headers", None)  # absent when the request line was malformed
    if not headers:
        return {"user_agent": ""}
    caller = {"user_agent": headers.get("User-Agent", "")[:100]}
    if schedule := headers.get("x-vercel-cron-schedule"):
        caller["cron_schedule"] = schedule[:100]
    return caller


def _log_line(record: dict) -> None:
    print(json.dumps(record, default=str), file=sys.stdout, flush=True)
