"""The HTTP side of a cron function: check the method and the secret, run one job, answer JSON.

Each file under api/cron/ is a Vercel Python function whose ``handler`` subclasses
CronEndpoint and names its job; everything else is here, once. Standard library and psycopg
only, because this module is bundled into the functions.

Contract (DESIGN.md §4):
  GET   with ``Authorization: Bearer $CRON_SECRET`` runs the job: 200 with the run's report
        (a run skipped because another holds the job is a 200 too: Vercel may deliver twice).
  HEAD  with the same header answers 200 and runs nothing: a cheap probe for monitors.
  other methods: 405 with Allow. Missing, malformed or wrong secret: 401. CRON_SECRET unset or
  empty: 401 for everyone, and a log line saying so (fail closed). Database unreachable: 503.
  The job failing in SQL: 500. Every response is JSON with Cache-Control: no-store, and each
  request writes one JSON line to stdout (Vercel's runtime log). No response or log line ever
  carries the secret, the database URL or a stack trace.
"""

from __future__ import annotations

import hmac
import json
import os
import sys
import time
from datetime import timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import ClassVar

import psycopg

from deployer import dburl, jobs

ALLOWED_METHODS = "GET, HEAD"
# Leaves a minute of the function's 300 s maxDuration (vercel.json) for connecting, the batch
# in flight when the budget runs out, and pruning the run log.
DEFAULT_PURGE_TIME_BUDGET_SECONDS = 240


class CronEndpoint(BaseHTTPRequestHandler):
    job: ClassVar[str]
    triggered_by: ClassVar[str] = "vercel"

    def do_GET(self) -> None:
        started = time.monotonic()
        if not self._authorized():
            return
        status, body = self._run_job()
        # Log first: once the response is out, the platform may freeze the function.
        self._log(status, body, started)
        self._send(status, {"job": self.job} | body)

    def do_HEAD(self) -> None:
        if self._authorized():
            self._send(HTTPStatus.OK, None)

    def _method_not_allowed(self) -> None:
        self._send(
            HTTPStatus.METHOD_NOT_ALLOWED,
            {"error": "method not allowed"},
            {"Allow": ALLOWED_METHODS},
        )

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _method_not_allowed  # noqa: N815

    # -- authentication ---------------------------------------------------------------------

    def _authorized(self) -> bool:
        secret = os.environ.get("CRON_SECRET", "")
        reason = None
        if not secret:
            reason = "CRON_SECRET is not configured: refusing every request"
        elif not _bearer_matches(self.headers.get_all("Authorization") or [], secret):
            reason = "missing or wrong Authorization header"
        if reason is None:
            return True
        _log_line({"event": "cron.unauthorized", "job": self.job, "status": 401, "reason": reason})
        self._send(
            HTTPStatus.UNAUTHORIZED,
            {"error": "unauthorized"},
            {"WWW-Authenticate": 'Bearer realm="cron"'},
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
        except psycopg.Error as error:
            return HTTPStatus.INTERNAL_SERVER_ERROR, {
                "error": "job failed",
                "sqlstate": error.sqlstate,
            }
        return HTTPStatus.OK, result.as_dict()

    def _time_budget(self) -> timedelta | None:
        if self.job != jobs.CLEANUP_HEARTBEATS:
            return None
        seconds = _number_from_environment(
            "FLEETCRON_PURGE_TIME_BUDGET_SECONDS", DEFAULT_PURGE_TIME_BUDGET_SECONDS
        )
        return timedelta(seconds=seconds)

    # -- responses ----------------------------------------------------------------------------

    def _send(self, status: HTTPStatus, body: dict | None, headers: dict | None = None) -> None:
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

    def _log(self, status: HTTPStatus, body: dict, started: float) -> None:
        _log_line(
            {"event": "cron.run", "job": self.job, "status": int(status)}
            | body
            | {
                "request_ms": round((time.monotonic() - started) * 1000),
                "user_agent": self.headers.get("User-Agent", "")[:100],
            }
        )

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Silence http.server's access log: each request already writes one JSON line."""


def _bearer_matches(headers: list[str], secret: str) -> bool:
    if len(headers) != 1:
        return False
    # http.server decodes header bytes as latin-1; encoding back recovers them exactly.
    given = headers[0].encode("latin-1", errors="replace")
    return hmac.compare_digest(given, f"Bearer {secret}".encode())


def _number_from_environment(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name) or default)
    except ValueError:
        value = default
    return value if value > 0 else default


def _log_line(record: dict) -> None:
    print(json.dumps(record, default=str), file=sys.stdout, flush=True)
