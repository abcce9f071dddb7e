"""Real HTTP requests to the served api/ functions, and what came back."""

from __future__ import annotations

import http.client
import json
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: Any

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class Api:
    def __init__(self, base_url: str, secret: str) -> None:
        self.base_url = base_url
        self.secret = secret
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port

    def call(
        self,
        path: str,
        *,
        method: str = "GET",
        authorization: str | None = "valid",
        timeout: float = 60,
    ) -> Response:
        """One request; ``authorization`` "valid" sends the right header, None sends none."""
        headers = {"User-Agent": "vercel-cron/1.0"}
        if authorization == "valid":
            headers["Authorization"] = f"Bearer {self.secret}"
        elif authorization is not None:
            headers["Authorization"] = authorization
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, headers=headers)
            response = conn.getresponse()
            return _read(response)
        finally:
            conn.close()

    def call_raw(self, request: bytes, timeout: float = 30) -> Response:
        """Send bytes exactly as given (for headers http.client would refuse to write)."""
        with socket.create_connection((self.host, self.port), timeout=timeout) as sock:
            sock.sendall(request)
            response = http.client.HTTPResponse(sock)
            response.begin()
            return _read(response)


def _read(response: http.client.HTTPResponse) -> Response:
    raw = response.read()
    body = json.loads(raw) if raw else None
    return Response(response.status, {k.lower(): v for k, v in response.getheaders()}, body)
