"""Database URLs as users and providers actually write them.

DATABASE_URL wins, else POSTGRES_URL (what Vercel's Supabase integration sets). Both
``postgres://`` and ``postgresql://`` are accepted. Providers append query parameters that are
meant for other clients (Supabase: ``supa=base-pooler.x``; Prisma: ``pgbouncer=true``), which
libpq rejects outright, so every parameter libpq does not know is dropped before connecting.
"""

from __future__ import annotations

import os
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from psycopg.pq import Conninfo

ENVIRONMENT_VARIABLES = ("DATABASE_URL", "POSTGRES_URL")
SCHEMES = ("postgresql", "postgres")


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
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise DatabaseUrlError("the database URL is malformed") from None
    if parts.scheme not in SCHEMES:
        raise DatabaseUrlError("the database URL must start with postgresql:// or postgres://")
    if not parts.hostname and "host=" not in parts.query:
        raise DatabaseUrlError("the database URL names no host")
    known = libpq_keywords()
    kept, dropped = [], []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        (kept if key in known else dropped).append((key, value))
    clean = parts._replace(scheme="postgresql", query=urlencode(kept))
    return urlunsplit(clean), [key for key, _ in dropped]


def redact(url: str) -> str:
    """The URL with its password replaced, for messages a person reads."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
