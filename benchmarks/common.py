"""What the benchmark commands share: a tuned throwaway server, clones, tables, arguments.

Both `python -m benchmarks.purge` and `python -m benchmarks.scale` start their own
PostgreSQL (deployer.localpg), configure it the same way, copy template databases for every
run and print fixed-width tables; this module is the one home of that code.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import psycopg
from psycopg import sql

from deployer.localpg import THROWAWAY_SETTINGS, LocalPostgres, LocalPostgresError

SQL_DIR = Path(__file__).resolve().parent / "sql"
WAL_POSITION = "select pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::bigint"

Progress = Callable[[str], None]


class BenchmarkError(RuntimeError):
    """A method misbehaved in a way that makes its numbers meaningless."""


# What ends a run as an error (exit 2, one line) rather than a traceback: the checks above, the
# throwaway server, the database, pgbench and the files written.
RUN_ERRORS = (
    BenchmarkError,
    LocalPostgresError,
    psycopg.Error,
    OSError,
    subprocess.SubprocessError,
)


def read_sql(name: str) -> str:
    return (SQL_DIR / name).read_text()


def one(cursor: psycopg.Cursor[Any]) -> tuple[Any, ...]:
    row = cursor.fetchone()
    if row is None:
        raise BenchmarkError("a query that always returns a row returned none")
    return tuple(row)


def wal_position(conn: psycopg.Connection[Any]) -> int:
    """Bytes of WAL inserted since the server was made; differences are the WAL in between."""
    return one(conn.execute(WAL_POSITION))[0]


# -- the server -------------------------------------------------------------------------------


@contextmanager
def throwaway_server(settings: Mapping[str, str], progress: Progress) -> Iterator[LocalPostgres]:
    """A fresh LocalPostgres with `settings` applied, removed afterwards whatever happens."""
    progress("starting a throwaway PostgreSQL")
    server = LocalPostgres.create(pg_cron_database=None)
    try:
        server.start()
        configure(server, settings)
        yield server
    finally:
        progress("removing the throwaway PostgreSQL")
        server.destroy()


def benchmark_settings(autovacuum: bool, extra: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Server settings for a benchmark, on top of localpg's throwaway ones.

    synchronous_commit goes back on: with it off, a COMMIT returns before its WAL is flushed,
    and until then no one may set the hint bits of the rows it wrote or deleted, so a VACUUM
    right after a seed leaves every page not all-visible (measured: 0 of 3,637 pages), and
    each batch of a batched purge meets the previous batch's rows without hints. Production
    runs with it on; with fsync off it costs a write() per commit. Autovacuum goes off (unless
    asked for) so that it cannot start in the middle of one method's run and not another's.
    Then whatever the caller asked for (--set).
    """
    return {
        "synchronous_commit": "on",
        "autovacuum": "on" if autovacuum else "off",
    } | dict(extra)


def configure(server: LocalPostgres, settings: Mapping[str, str]) -> None:
    """ALTER SYSTEM every setting, then restart.

    A restart (not a reload, which reaches sessions some time later) makes every setting,
    shared_buffers and shared_preload_libraries included, apply to every session from here on.
    """
    with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
        for name, value in settings.items():
            statement = sql.SQL("alter system set {} = {}").format(
                sql.Identifier(name), sql.Literal(value)
            )
            try:
                conn.execute(statement)
            except psycopg.Error as error:
                raise BenchmarkError(f"cannot set {name} = {value}: {error}") from error
    server.stop()
    server.start()


@dataclass(frozen=True)
class Machine:
    postgres: str
    server_version: str
    cpus: int | None
    architecture: str
    shared_buffers: str
    settings: dict[str, str]


def machine(admin: psycopg.Connection[Any], settings: Iterable[str]) -> Machine:
    """The server and machine a run measured, with the settings that matter for it."""

    def show(name: str) -> str:
        return one(admin.execute(sql.SQL("show {}").format(sql.Identifier(name))))[0]

    return Machine(
        postgres=one(admin.execute("select version()"))[0],
        server_version=show("server_version"),
        cpus=os.cpu_count(),
        architecture=platform.machine(),
        shared_buffers=show("shared_buffers"),
        settings={
            name: show(name)
            for name in dict.fromkeys((*THROWAWAY_SETTINGS, "autovacuum", "jit", *settings))
        },
    )


def create_database(admin: psycopg.Connection[Any], name: str) -> None:
    admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))


def mark_template(admin: psycopg.Connection[Any], name: str) -> None:
    admin.execute(sql.SQL("alter database {} is_template true").format(sql.Identifier(name)))


@contextmanager
def clone(admin: psycopg.Connection[Any], template: str, name: str) -> Iterator[str]:
    """A fresh copy of `template` named `name` for one run, dropped afterwards.

    file_copy copies the files as they are (no WAL for the copy), so a run starts from exactly
    the template's pages, hint bits and visibility map included.
    """
    admin.execute(
        sql.SQL("create database {} template {} strategy file_copy").format(
            sql.Identifier(name), sql.Identifier(template)
        )
    )
    try:
        yield name
    finally:
        admin.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
        )


# -- numbers and tables -----------------------------------------------------------------------


def ratio(value: float | None, reference: float | None) -> float | None:
    return None if value is None or not reference else value / reference


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def percentile(values: Sequence[float], share: float) -> float | None:
    """The nearest-rank percentile (share 0.99: p99); None without values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, round(share * len(ordered) + 0.5 - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


def table(header: Sequence[str], rows: Sequence[Sequence[str]], left: set[int]) -> list[str]:
    """Fixed-width columns: those in `left` left-aligned (text), the rest right (numbers)."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.ljust(width) if index in left else cell.rjust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return [line(header), line(["-" * width for width in widths]), *map(line, rows)]


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    return [line(header), line(["---"] * len(header)), *map(line, rows)]


# -- command line -----------------------------------------------------------------------------


def positive_int(text: str) -> int:
    value = int(text.replace("_", "").replace(",", ""))
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {text})")
    return value


def fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (got {text})")
    return value


def setting(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE (got {text!r})")
    return name.strip(), value.strip()


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Let `kill` clean up like Ctrl-C does (the finally that removes the server runs)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
