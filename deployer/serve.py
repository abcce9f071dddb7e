"""Serve the api/ functions on localhost, routed the way Vercel routes them.

Vercel turns ``api/cron/check-stale.py`` into ``/api/cron/check-stale`` and skips files and
folders whose names start with ``_`` or ``.``; its Python runtime loads each entry file by path
(importlib, not a package import) from the project root and hands the request to the file's
``handler`` class, a BaseHTTPRequestHandler. This server does the same: it peeks at the request
line to pick the route, then lets that file's own handler read and answer the request, so
``curl`` here exercises exactly the code Vercel will run.
"""

from __future__ import annotations

import importlib.util
import json
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from urllib.parse import urlsplit

from deployer.paths import API_DIR, PROJECT_ROOT

REQUEST_LINE_LIMIT = 8192
PEEK_TIMEOUT_SECONDS = 10


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


class NotFound(BaseHTTPRequestHandler):
    """What Vercel answers for a path with no function: 404, here as JSON."""

    def _not_found(self) -> None:
        body = json.dumps({"error": "not found", "path": urlsplit(self.path).path}).encode()
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        self._not_found()

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _not_found  # noqa: N815

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


class VercelLikeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], routes: dict[str, Path]) -> None:
        self.handlers = {path: load_handler(entry) for path, entry in routes.items()}
        super().__init__(address, NotFound)

    def finish_request(self, request: socket.socket, client_address: tuple) -> None:
        self._handler_for(request)(request, client_address, self)

    def _handler_for(self, request: socket.socket) -> type[BaseHTTPRequestHandler]:
        line = _peek_request_line(request)
        parts = line.split()
        path = urlsplit(parts[1]).path.rstrip("/") if len(parts) >= 2 else ""
        return self.handlers.get(path, NotFound)


def _peek_request_line(request: socket.socket) -> str:
    """The request line, read without consuming it, so the chosen handler reads it again."""
    # MSG_PEEK returns what has arrived so far; a slow client may not have sent the whole line.
    deadline = time.monotonic() + PEEK_TIMEOUT_SECONDS
    request.settimeout(PEEK_TIMEOUT_SECONDS)
    try:
        data = request.recv(REQUEST_LINE_LIMIT, socket.MSG_PEEK)
        while data and b"\r\n" not in data and len(data) < REQUEST_LINE_LIMIT:
            if time.monotonic() > deadline:
                break
            time.sleep(0.005)
            data = request.recv(REQUEST_LINE_LIMIT, socket.MSG_PEEK)
    except TimeoutError:
        data = b""
    finally:
        request.settimeout(None)
    return data.split(b"\r\n", 1)[0].decode("latin-1")


def make_server(host: str = "127.0.0.1", port: int = 3000) -> VercelLikeServer:
    return VercelLikeServer((host, port), discover_routes())
