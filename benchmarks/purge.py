"""Benchmark the heartbeat purge: fleetcron's batching against the usual ways to delete old rows.

    python -m benchmarks.purge [--rows N] [--expired-fraction F] [--batch B] [--repeat R]
                               [--methods M ...] [--agents A] [--autovacuum]
                               [--set NAME=VALUE ...] [--json FILE]

It starts its own throwaway PostgreSQL (deployer.localpg), migrates a seed database with the
project's migrations, fills it with N heartbeats (a fraction F of them past the retention),
VACUUM ANALYZEs it and marks it a template. Then, R times over, every method gets a fresh copy
of that template, deletes the expired rows, and is timed (wall clock around the method only),
its WAL counted and its result verified: exactly the expired rows are gone and no younger row
was touched. It prints medians over the repeats, ratios against the `stateless-id-in`
baseline and the `single-delete` floor measured in the same run, and the raw per-repeat
numbers. The server runs with fsync off, so absolute numbers only compare within one run.

The methods' SQL lives in benchmarks/sql/ (one file each, with where the pattern comes from);
the fleetcron methods call the project's own routines. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from benchmarks.common import (
    RUN_ERRORS,
    BenchmarkError,
    Machine,
    benchmark_settings,
    clone,
    create_database,
    fraction,
    machine,
    mark_template,
    one,
    positive_int,
    progress,
    ratio,
    read_sql,
    setting,
    sigterm_as_interrupt,
    table,
    throwaway_server,
    wal_position,
)
from deployer import migrate
from deployer.localpg import LocalPostgres

SEED_DATABASE = "purge_seed"
# No heartbeat lies in this window after the cutoff, so a cutoff that moves on with now()
# while a method runs crosses no row (see sql/seed_heartbeats.sql).
QUIET_WINDOW = timedelta(hours=1)
JOB_TIME_BUDGET = timedelta(hours=1)

FLOOR = "single-delete"
BASELINE = "stateless-id-in"

# Trivial calls of the project's own API; everything longer is a file in benchmarks/sql/.
HAND_BATCH = "select fleet.purge_old_heartbeats(%(batch)s::integer)"
JOB = (
    "call fleet.purge_old_heartbeats_all("
    "batch => %(batch)s::integer, time_budget => %(time_budget)s::interval)"
)
SEED_CUTOFF = (
    "select fleet.ago(c.heartbeat_retention), c.heartbeat_retention from fleet.config as c"
)
QUERIES = {
    name: read_sql(name)
    for name in (
        "seed_agents.sql",
        "seed_heartbeats.sql",
        "pin_cutoff.sql",
        "count_by_cutoff.sql",
        "single_delete.sql",
        "stateless_id_in_batch.sql",
    )
}


def on_heartbeats(query: str) -> sql.Composed:
    """A query of benchmarks/sql/ that names its table {heartbeats}, on fleet.heartbeats."""
    return sql.SQL(query).format(heartbeats=sql.Identifier("fleet", "heartbeats"))


# -- the methods ------------------------------------------------------------------------------
# Each gets an autocommit connection to a fresh copy of the seed and the batch size, deletes
# every expired heartbeat, and says how many rows it deleted in how many statements/batches.


@dataclass(frozen=True)
class MethodOutcome:
    deleted: int
    batches: int


Method = Callable[["psycopg.Connection[Any]", int], MethodOutcome]


def single_delete(conn: psycopg.Connection[Any], batch: int) -> MethodOutcome:
    """One DELETE of everything expired (sql/single_delete.sql): the floor."""
    deleted = conn.execute(on_heartbeats(QUERIES["single_delete.sql"])).rowcount
    return MethodOutcome(deleted=deleted, batches=1)


def stateless_id_in(conn: psycopg.Connection[Any], batch: int) -> MethodOutcome:
    """DELETE ... WHERE id IN (SELECT ... LIMIT batch), COMMIT, repeat until 0: the baseline."""
    query = QUERIES["stateless_id_in_batch.sql"]
    deleted = batches = 0
    while True:
        step = conn.execute(query, {"batch": batch}).rowcount
        batches += 1
        deleted += step
        if step == 0:
            return MethodOutcome(deleted=deleted, batches=batches)


def fleetcron_hand_batches(conn: psycopg.Connection[Any], batch: int) -> MethodOutcome:
    """fleet.purge_old_heartbeats(batch) until it returns 0: no cursor carried between calls."""
    deleted = batches = 0
    while True:
        step = one(conn.execute(HAND_BATCH, {"batch": batch}))[0]
        batches += 1
        deleted += step
        if step == 0:
            return MethodOutcome(deleted=deleted, batches=batches)


def fleetcron_job(conn: psycopg.Connection[Any], batch: int) -> MethodOutcome:
    """CALL fleet.purge_old_heartbeats_all(...): the scheduled job, carrying the keyset cursor."""
    run_id, outcome, deleted, batches, backlog = one(
        conn.execute(JOB, {"batch": batch, "time_budget": JOB_TIME_BUDGET})
    )
    if outcome != "ok" or backlog:
        raise BenchmarkError(
            f"fleet.purge_old_heartbeats_all run {run_id} ended {outcome!r} with backlog={backlog}"
        )
    return MethodOutcome(deleted=deleted, batches=batches)


METHODS: dict[str, Method] = {
    FLOOR: single_delete,
    BASELINE: stateless_id_in,
    "fleetcron-hand-batches": fleetcron_hand_batches,
    "fleetcron-job": fleetcron_job,
}


# -- results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    rows: int = 2_000_000
    expired_fraction: float = 0.5
    batch: int = 10_000
    repeat: int = 3
    methods: tuple[str, ...] = tuple(METHODS)
    agents: int = 1_000
    autovacuum: bool = False
    settings: tuple[tuple[str, str], ...] = ()
    json_path: Path | None = None


@dataclass(frozen=True)
class Seed:
    cutoff: datetime
    retention: timedelta
    rows: int
    expired: int
    agents: int
    seconds: float

    @property
    def kept(self) -> int:
        return self.rows - self.expired


@dataclass(frozen=True)
class Counts:
    expired: int
    kept: int
    cutoff: datetime


@dataclass(frozen=True)
class Run:
    repeat: int
    method: str
    seconds: float
    deleted: int
    batches: int
    wal_bytes: int
    problems: list[str] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return not self.problems

    @property
    def rows_per_second(self) -> float:
        return self.deleted / self.seconds


@dataclass(frozen=True)
class Summary:
    method: str
    median_seconds: float
    median_rows_per_second: float
    median_wal_bytes: float
    batches: int
    vs_baseline: float | None
    vs_floor: float | None


@dataclass
class Report:
    options: Options
    machine: Machine
    seed: Seed
    runs: list[Run]
    seconds: float

    @property
    def verified(self) -> bool:
        return all(run.verified for run in self.runs)

    def summaries(self) -> list[Summary]:
        medians = {
            method: statistics.median(run.seconds for run in self.runs if run.method == method)
            for method in self.options.methods
        }
        summaries = []
        for method in self.options.methods:
            runs = [run for run in self.runs if run.method == method]
            summaries.append(
                Summary(
                    method=method,
                    median_seconds=medians[method],
                    median_rows_per_second=statistics.median(r.rows_per_second for r in runs),
                    median_wal_bytes=statistics.median(r.wal_bytes for r in runs),
                    batches=max(r.batches for r in runs),
                    vs_baseline=ratio(medians[method], medians.get(BASELINE)),
                    vs_floor=ratio(medians[method], medians.get(FLOOR)),
                )
            )
        return summaries

    def to_json(self) -> dict[str, Any]:
        return {
            "options": asdict(self.options),
            "machine": asdict(self.machine),
            "seed": asdict(self.seed) | {"kept": self.seed.kept},
            "verified": self.verified,
            "seconds": self.seconds,
            "summary": [asdict(summary) for summary in self.summaries()],
            "runs": [
                asdict(run) | {"verified": run.verified, "rows_per_second": run.rows_per_second}
                for run in self.runs
            ],
        }


# -- running ----------------------------------------------------------------------------------


def run_benchmark(options: Options, progress: Callable[[str], None]) -> Report:
    """Start a throwaway server, seed it, run every method `repeat` times, and remove it."""
    started = time.perf_counter()
    settings = benchmark_settings(options.autovacuum, options.settings)
    with (
        throwaway_server(settings, progress) as server,
        psycopg.connect(server.url("postgres"), autocommit=True) as admin,
    ):
        measured_on = machine(admin, (name for name, _ in options.settings))
        seed = _seed(server, admin, options, progress)
        runs = []
        for repeat in range(options.repeat):
            # Rotate the order so no method always runs first (or right after another).
            shift = repeat % len(options.methods)
            order = options.methods[shift:] + options.methods[:shift]
            for method in order:
                run = _run_once(server, admin, seed, method, repeat + 1, options.batch)
                status = "ok" if run.verified else "FAILED: " + "; ".join(run.problems)
                progress(
                    f"repeat {repeat + 1}/{options.repeat} {method}: {run.seconds:.2f} s, "
                    f"{run.deleted:,} rows, verification {status}"
                )
                runs.append(run)
    return Report(options, measured_on, seed, runs, time.perf_counter() - started)


def _seed(
    server: LocalPostgres,
    admin: psycopg.Connection[Any],
    options: Options,
    progress: Callable[[str], None],
) -> Seed:
    started = time.perf_counter()
    expired = round(options.rows * options.expired_fraction)
    create_database(admin, SEED_DATABASE)
    url = server.url(SEED_DATABASE)
    progress("migrating the seed database")
    migrate.upgrade(url)
    progress(f"seeding {options.agents:,} agents and {options.rows:,} heartbeats")
    # One transaction: the cutoff read here and the one the INSERT lays rows around share now().
    with psycopg.connect(url) as conn:
        conn.execute(QUERIES["seed_agents.sql"], {"agents": options.agents})
        cutoff, retention = one(conn.execute(SEED_CUTOFF))
        conn.execute(
            QUERIES["seed_heartbeats.sql"],
            {
                "rows": options.rows,
                "expired": expired,
                "quiet_seconds": QUIET_WINDOW.total_seconds(),
            },
        )
    progress("vacuum analyze")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("vacuum (analyze)")
    mark_template(admin, SEED_DATABASE)
    seconds = time.perf_counter() - started
    progress(f"seed ready in {seconds:.1f} s")
    return Seed(cutoff, retention, options.rows, expired, options.agents, seconds)


def _run_once(
    server: LocalPostgres,
    admin: psycopg.Connection[Any],
    seed: Seed,
    method: str,
    repeat: int,
    batch: int,
) -> Run:
    name = f"purge_r{repeat}_{method.replace('-', '_')}"
    with (
        clone(admin, SEED_DATABASE, name),
        psycopg.connect(server.url(name), autocommit=True) as conn,
    ):
        pinned = one(conn.execute(QUERIES["pin_cutoff.sql"], {"cutoff": seed.cutoff}))[0]
        before = _counts(conn)
        # Start every method from the same state: nothing dirty left over from the copy.
        admin.execute("checkpoint")
        wal_start = wal_position(admin)
        started = time.perf_counter()
        outcome = METHODS[method](conn, batch)
        seconds = time.perf_counter() - started
        wal_bytes = wal_position(admin) - wal_start
        after = _counts(conn)
    return Run(
        repeat=repeat,
        method=method,
        seconds=seconds,
        deleted=outcome.deleted,
        batches=outcome.batches,
        wal_bytes=wal_bytes,
        problems=_verify(seed, pinned, before, after, outcome),
    )


def _counts(conn: psycopg.Connection[Any]) -> Counts:
    expired, kept, cutoff = one(conn.execute(on_heartbeats(QUERIES["count_by_cutoff.sql"])))
    return Counts(expired=expired, kept=kept, cutoff=cutoff)


def _verify(
    seed: Seed, pinned: datetime, before: Counts, after: Counts, outcome: MethodOutcome
) -> list[str]:
    """What went wrong, if anything: exactly the expired rows gone, every younger row kept."""
    problems = []
    if pinned != seed.cutoff:
        problems.append(f"cutoff pinned at {pinned}, the seed's is {seed.cutoff}")
    if (before.expired, before.kept) != (seed.expired, seed.kept):
        problems.append(
            f"before the run {before.expired:,} rows were expired and {before.kept:,} kept; "
            f"the seed laid out {seed.expired:,} and {seed.kept:,}"
        )
    if outcome.deleted != before.expired:
        problems.append(f"reported {outcome.deleted:,} deleted, {before.expired:,} were expired")
    if after.expired:
        problems.append(f"{after.expired:,} expired rows are left")
    if after.kept != before.kept:
        problems.append(f"{before.kept - after.kept:,} rows younger than the cutoff are gone")
    if after.cutoff - seed.cutoff >= QUIET_WINDOW:
        problems.append("the run outlasted the quiet window after the cutoff; counts are unsure")
    return problems


# -- output -----------------------------------------------------------------------------------


def render(report: Report) -> str:
    options, machine, seed = report.options, report.machine, report.seed
    settings = ", ".join(f"{name}={value}" for name, value in machine.settings.items())
    days = (2 * seed.retention).total_seconds() / 86_400
    lines = [
        "fleetcron heartbeat purge benchmark",
        "Absolute numbers are for comparison within this run only: a throwaway server with",
        "fsync off, on a machine that may be shared. Compare the ratios.",
        "",
        f"machine  PostgreSQL {machine.server_version}, {machine.architecture}, "
        f"{machine.cpus} CPUs, shared_buffers {machine.shared_buffers}",
        f"server   {settings}",
        f"data     {seed.rows:,} heartbeats over {days:g} days, {seed.expired:,} of them older "
        f"than the {_days(seed.retention)} retention; {seed.agents:,} agents",
        f"runs     batch {options.batch:,}; {options.repeat} repeat(s) per method, each on a "
        "fresh copy of the seed; medians over the repeats",
        "",
    ]
    header = (
        "method",
        "median s",
        "rows/s",
        "WAL MB",
        "batches",
        f"time vs {BASELINE}",
        f"time vs {FLOOR}",
    )
    rows = [
        (
            s.method,
            f"{s.median_seconds:.3f}",
            f"{s.median_rows_per_second:,.0f}",
            f"{s.median_wal_bytes / 1e6:.1f}",
            f"{s.batches:,}",
            _times(s.vs_baseline),
            _times(s.vs_floor),
        )
        for s in report.summaries()
    ]
    lines += table(header, rows, left={0})
    lines += [
        "",
        "time vs X = this method's median time / X's median time (below 1.00x: faster than X).",
        "WAL MB = WAL written while the method ran (pg_current_wal_insert_lsn difference).",
        "",
        "raw runs (method order rotated each repeat)",
    ]
    raw_header = ("repeat", "method", "seconds", "deleted", "WAL MB", "batches", "verified")
    raw_rows = [
        (
            str(run.repeat),
            run.method,
            f"{run.seconds:.3f}",
            f"{run.deleted:,}",
            f"{run.wal_bytes / 1e6:.1f}",
            f"{run.batches:,}",
            "ok" if run.verified else "FAILED: " + "; ".join(run.problems),
        )
        for run in report.runs
    ]
    lines += table(raw_header, raw_rows, left={1, 6})
    lines += [
        "",
        f"verification: {'passed' if report.verified else 'FAILED'} "
        f"(every run: exactly the {seed.expired:,} expired rows gone, "
        f"all {seed.kept:,} younger rows kept)",
        f"seed took {seed.seconds:.1f} s; whole benchmark {report.seconds:.1f} s",
    ]
    return "\n".join(lines)


def _times(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.2f}x"


def _days(span: timedelta) -> str:
    return f"{span.total_seconds() / 86_400:g}-day"


# -- command line -----------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.purge",
        description=(
            "Time fleetcron's heartbeat purge against a stateless batched DELETE (the baseline) "
            "and a single DELETE (the floor) on the same data, in a throwaway PostgreSQL. "
            "Prints medians and ratios measured in this run."
        ),
    )
    parser.add_argument(
        "--rows",
        type=positive_int,
        default=Options.rows,
        help="heartbeats to seed (default: %(default)s)",
    )
    parser.add_argument(
        "--expired-fraction",
        type=fraction,
        default=Options.expired_fraction,
        help="share of them older than the retention (default: %(default)s)",
    )
    parser.add_argument(
        "--batch",
        type=positive_int,
        default=Options.batch,
        help="rows per batch for the batched methods (default: %(default)s)",
    )
    parser.add_argument(
        "--repeat",
        type=positive_int,
        default=Options.repeat,
        help="runs per method, each on a fresh copy (default: %(default)s)",
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        choices=tuple(METHODS),
        default=Options.methods,
        metavar="METHOD",
        help=f"methods to run, in this order (default: all: {', '.join(METHODS)})",
    )
    parser.add_argument(
        "--agents",
        type=positive_int,
        default=Options.agents,
        help="agents the heartbeats belong to (default: %(default)s)",
    )
    parser.add_argument(
        "--autovacuum",
        action="store_true",
        help="leave autovacuum on (default: off, so it cannot run mid-method)",
    )
    parser.add_argument(
        "--set",
        action="append",
        type=setting,
        default=[],
        dest="settings",
        metavar="NAME=VALUE",
        help=(
            "a server setting for this run, e.g. --set jit=off or --set shared_buffers=1GB "
            "(repeatable; applied with ALTER SYSTEM and a restart, and shown in the header)"
        ),
    )
    parser.add_argument(
        "--json",
        type=Path,
        dest="json_path",
        metavar="FILE",
        help="also write the results as JSON to FILE",
    )
    args = parser.parse_args(argv)
    return Options(
        rows=args.rows,
        expired_fraction=args.expired_fraction,
        batch=args.batch,
        repeat=args.repeat,
        methods=tuple(dict.fromkeys(args.methods)),
        agents=args.agents,
        autovacuum=args.autovacuum,
        settings=tuple(args.settings),
        json_path=args.json_path,
    )


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    try:
        with sigterm_as_interrupt():
            report = run_benchmark(options, progress)
    except KeyboardInterrupt:
        progress("interrupted; the throwaway server was removed")
        return 130
    except RUN_ERRORS as error:
        progress(f"error: {error}")
        return 2
    print(render(report), flush=True)
    if options.json_path:
        options.json_path.write_text(json.dumps(report.to_json(), indent=2, default=str) + "\n")
    return 0 if report.verified else 1


if __name__ == "__main__":
    sys.exit(main())
