"""Serve the api/ functions on localhost, routed the way Vercel routes them.

Vercel turns ``api/cron/check-stale.py`` into ``/api/cron/check-stale`` and skips files and
folders whose names start with ``_`` or ``.``; its Python runtime loads each entry file by path
(importlib, not a package import) from the project root and hands the request to the file's
``handler`` class, a BaseHTTPRequestHandler. This server does the same: it peeks at the request
line to pick the route, then lets that file's own handler read and answer the request, so
``curl`` here exercises exactly the code Vercel will run.

What Vercel's edge settles before any function runs is settled here too, in the router:

- a request line that is not ``METHOD target HTTP/1.x`` (HTTP/0.9, HTTP/2 over plain text, no
  version, junk) is answered by the router with a status line and JSON: 505 for a version it
  does not speak, 400 for the rest; Vercel never hands such a request to a function;
- a path with repeated slashes is cleaned as Vercel cleans it (vercel/vercel, ``vercel dev``'s
  server.ts, and the maintainers in vercel/vercel#3429): a GET is redirected to the path with
  single slashes (308, as production answers), any other method is routed to the clean path;
- a client that hangs up or resets the connection is nobody's error: no traceback.
"""

from __future__ import annotations

import importlib.util
import json
import re
import socket
import sys
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType

from deployer.paths import API_DIR, PROJECT_ROOT

REQUEST_LINE_LIMIT = 8192
PEEK_TIMEOUT_SECONDS = 10
# RFC 9110 method token, one request target, HTTP/1.0 or HTTP/1.1: all a function is ever given.
SERVABLE_REQUEST_LINE = re.compile(r"([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\S+) HTTP/1\.[01]")
REPEATED_SLASHES = re.compile(r"/{2,}")


def discover_routes(api_dir: Path = API_DIR) -> dict[str, Path]:
    """``/api/...`` path → entry file, for every .py file Vercel would turn into a function."""
    routes = {}
    for file in sorted(api_dir.rglob("*.py")):
        relative = file.relative_to(api_dir.parent)
        if any(part.startswith(("_", ".")) for part in relative.parts):
            continue
        routes["/" + relative.with_suffix("").as_posix()] = file
    return routes


def load_handler(entry: Path) -> type[BaseHTTPRequestHandler]:
    """Load an entry file by path, as Vercel's runtime does, and return its ``handler``."""
    name = ".".join(entry.relative_to(PROJECT_ROOT).with_suffix("").parts)
    spec = importlib.util.spec_from_file_location(name, entry)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {entry}")
    module: ModuleType = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    handler = getattr(module, "handler", None)
    if not (isinstance(handler, type) and issubclass(handler, BaseHTTPRequestHandler)):
        raise ImportError(f"{entry} defines no handler class")
    return handler


# -- what the router answers itself ---------------------------------------------------------------


class RouterResponse(BaseHTTPRequestHandler):
    """A response from the platform rather than a function: JSON, no-store, one per connection."""

    protocol_version = "HTTP/1.1"

    def respond(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(body).encode() + b"\n"
        self.close_connection = True
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Connection", "close")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


class NotFound(RouterResponse):
    """What Vercel answers for a path with no function: 404, here as JSON."""

    def _not_found(self) -> None:
        self.respond(HTTPStatus.NOT_FOUND, {"error": "not found", "path": _path_of(self.path)})

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _not_found  # noqa: N815

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        if code == HTTPStatus.NOT_IMPLEMENTED:  # an unusual method: still no function here
            self._not_found()
        else:
            self.respond(code, {"error": message or HTTPStatus(code).phrase})


class BadRequestLine(RouterResponse):
    """A request line no function could be given: a status line and JSON, never a bare body."""

    def handle(self) -> None:
        line = self.rfile.readline(REQUEST_LINE_LIMIT + 1).decode("latin-1").rstrip("\r\n")
        if not line:  # connected and said nothing: nothing to answer
            return
        self.request_version = "HTTP/1.1"  # so that a status line is written at all
        self.command, self.requestline = "", line
        status, error = _request_line_problem(line)
        self.respond(status, {"error": error})


class CleanPathRedirect(RouterResponse):
    """A GET for a path with repeated slashes: 308 to the same path with single slashes."""

    def do_GET(self) -> None:
        location = _clean_target(self.path)
        self.respond(HTTPStatus.PERMANENT_REDIRECT, {"redirect": location}, {"Location": location})


def _request_line_problem(line: str) -> tuple[int, str]:
    words = line.split()
    if len(words) == 2:
        return HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, "HTTP/0.9 is not supported"
    if len(words) == 3 and re.fullmatch(r"HTTP/\d+\.\d+", words[2]):
        return HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, f"{words[2]} is not supported"
    return HTTPStatus.BAD_REQUEST, "malformed request line"


def _path_of(target: str | None) -> str:
    """The path of a request target (no query): "//api/x" is a path here, not a host."""
    return (target or "").partition("?")[0].partition("#")[0]


def _clean_target(target: str) -> str:
    path, mark, query = target.partition("?")
    return REPEATED_SLASHES.sub("/", path) + mark + query


# -- the server -----------------------------------------------------------------------------------


class VercelLikeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], routes: dict[str, Path]) -> None:
        self.handlers = {path: load_handler(entry) for path, entry in routes.items()}
        super().__init__(address, NotFound)

    def finish_request(self, request: socket.socket, client_address: tuple) -> None:
        self._handler_for(request)(request, client_address, self)

    def _handler_for(self, request: socket.socket) -> type[BaseHTTPRequestHandler]:
        servable = SERVABLE_REQUEST_LINE.fullmatch(_peek_request_line(request))
        if not servable:
            return BadRequestLine
        method, target = servable.groups()
        path = _path_of(target)
        clean = REPEATED_SLASHES.sub("/", path)
        if clean != path and method == "GET":
            return CleanPathRedirect
        return self.handlers.get(clean.rstrip("/"), NotFound)

    def handle_error(self, request: socket.socket, client_address: tuple) -> None:
        """A client that went away is normal; anything else is one line, not a traceback."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError):
            return
        print(
            f"fleetcron serve: {type(error).__name__} answering {client_address[0]}: {error}",
            file=sys.stderr,
            flush=True,
        )


def _peek_request_line(request: socket.socket) -> str:
    """The request line, read without consuming it, so the chosen handler reads it again."""
    # MSG_PEEK returns what has arrived so far; a slow client may not have sent the whole line.
    deadline = time.monotonic() + PEEK_TIMEOUT_SECONDS
    request.settimeout(PEEK_TIMEOUT_SECONDS)
    try:
        data = request.recv(REQUEST_LINE_LIMIT, socket.MSG_PEEK)
        while data and b"\n" not in data and len(data) < REQUEST_LINE_LIMIT:
            if time.monotonic() > deadline:
                break
            time.sleep(0.005)
            data = request.recv(REQUEST_LINE_LIMIT, socket.MSG_PEEK)
    except TimeoutError:
        data = b""
    finally:
        request.settimeout(None)
    return data.split(b"\n", 1)[0].rstrip(b"\r").decode("latin-1")


def make_server(host: str = "127.0.0.1", port: int = 3000) -> VercelLikeServer:
    return VercelLikeServer((host, port), discover_routes())
