"""Database URLs as users and providers actually write them.

DATABASE_URL wins, else POSTGRES_URL (what Vercel's Supabase integration sets). Both
``postgres://`` and ``postgresql://`` are accepted. Providers append query parameters that are
meant for other clients (Supabase: ``supa=base-pooler.x``; Prisma: ``pgbouncer=true``), which
libpq rejects outright, so every parameter libpq does not know is dropped before connecting.
Everything else (multiple hosts, ``host=`` in the query, socket paths) is left to libpq.
"""

from __future__ import annotations

import os
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.pq import Conninfo

ENVIRONMENT_VARIABLES = ("DATABASE_URL", "POSTGRES_URL")
SCHEMES = ("postgresql", "postgres")
MAX_PORT = 65535


class DatabaseUrlError(ValueError):
    """The URL cannot be used. The message never repeats the URL: it may hold a password."""


def from_environment() -> str | None:
    for name in ENVIRONMENT_VARIABLES:
        if value := os.environ.get(name, "").strip():
            return value
    return None


def libpq_keywords() -> frozenset[str]:
    return frozenset(option.keyword.decode() for option in Conninfo.get_defaults())


def normalize(url: str) -> tuple[str, list[str]]:
    """A URL libpq accepts, and the names of the query parameters dropped on the way."""
    parts = urlsplit(url.strip())
    if parts.scheme not in SCHEMES:
        raise DatabaseUrlError("the database URL must start with postgresql:// or postgres://")
    if "," not in parts.netloc:  # libpq takes "h1:5432,h2:5433"; urllib cannot parse it
        port = parts.netloc.rpartition("@")[2].rpartition(":")[2]
        if port.isdigit() and int(port) > MAX_PORT:
            raise DatabaseUrlError(
                f"the database URL's port {port} is out of range: ports go up to {MAX_PORT}"
            )
        try:
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError:
            raise DatabaseUrlError("the database URL's port is not a number") from None
    known = libpq_keywords()
    kept, dropped = [], []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        (kept if key in known else dropped).append((key, value))
    # Rebuilt by hand: urlunsplit drops the "//" of a host-less URL, and urlencode's "+" for a
    # space is not something libpq decodes.
    query = f"?{urlencode(kept, quote_via=quote)}" if kept else ""
    clean = f"postgresql://{parts.netloc}{parts.path}{query}"
    try:
        conninfo_to_dict(clean)
    except psycopg.ProgrammingError:
        # libpq's own message quotes the offending part, which may be the password.
        raise DatabaseUrlError("the database URL is malformed") from None
    return clean, [key for key, _ in dropped]
