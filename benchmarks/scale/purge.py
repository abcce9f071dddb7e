"""Sections 1 and 2: the heartbeat purge on a partitioned and an unpartitioned table.

1. purge: `purge_days` expired days of heartbeats and one kept, the cutoff five minutes past a
   UTC midnight (the cleanup job runs at 00:00 UTC, so the partition the cutoff cuts through
   holds a few minutes of expired rows). Three methods on identical rows: one plain DELETE and
   fleetcron's cleanup job on the unpartitioned copy, the cleanup job on the partitioned table.
2. night: 31 days of heartbeats, the oldest one expired, the cutoff at a UTC midnight: the
   nightly run at steady state, the same three methods.

Every method runs twice per repeat, each time on a fresh clone: once alone (its time, WAL and
longest transaction) and once with heartbeats inserted at a steady rate beside it (their p99
latency before and during the purge). Measuring the WAL in a run of its own keeps the
writers' WAL out of it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from benchmarks.common import (
    BenchmarkError,
    Progress,
    clone,
    median,
    one,
    ratio,
    read_sql,
    wal_position,
)
from benchmarks.scale.options import Options
from benchmarks.scale.probes import Ingestion, LongestTransaction
from benchmarks.scale.seeds import (
    DAY,
    PARTITIONED,
    PLAIN,
    QUIET,
    TABLES,
    HeartbeatSeed,
    agent_id,
    on_tables,
    seed_heartbeats,
    utc_midnight,
)
from deployer.localpg import LocalPostgres

# The cleanup job runs at 00:00 UTC; a run that starts a few minutes late finds that many
# minutes of expired rows in the partition the cutoff cuts through.
STRADDLE = timedelta(minutes=5)
PLAIN_DELETE = "plain DELETE"
UNPARTITIONED = "unpartitioned"
PARTITIONED_JOB = "partitioned"
# Heartbeats inserted before the purge starts: half a second to warm the session up, not
# recorded, then the writers' latency without a purge.
INGEST_WARM_UP_SECONDS = 0.5
INGEST_BASELINE_SECONDS = 2.0
JOB = (
    "call fleet.purge_old_heartbeats_all("
    "batch => %(batch)s::integer, time_budget => interval '1 hour')"
)
JOB_DETAIL = "select detail from fleet.job_runs where id = %s"


@dataclass(frozen=True)
class Outcome:
    """What a method did: statements (or job steps), rows deleted by DELETE, partitions dropped."""

    steps: int
    one_by_one: int
    dropped_partitions: int


def plain_delete(conn: psycopg.Connection[Any], layout: str, batch: int | None) -> Outcome:
    """One DELETE of everything expired (sql/single_delete.sql): the reference."""
    deleted = conn.execute(on_tables(layout, read_sql("single_delete.sql"))).rowcount
    return Outcome(steps=1, one_by_one=deleted, dropped_partitions=0)


def cleanup_job(conn: psycopg.Connection[Any], layout: str, batch: int | None) -> Outcome:
    """CALL fleet.purge_old_heartbeats_all(): drops what it can, batch-deletes the rest."""
    run_id, outcome, _deleted, steps, backlog = one(conn.execute(JOB, {"batch": batch}))
    if outcome != "ok" or backlog:
        raise BenchmarkError(f"cleanup run {run_id} ended {outcome!r} with backlog={backlog}")
    detail = one(conn.execute(JOB_DETAIL, (run_id,)))[0]
    return Outcome(
        steps=steps,
        one_by_one=int(detail.get("deleted_rows", 0)),
        dropped_partitions=len(detail.get("dropped_partitions", [])),
    )


@dataclass(frozen=True)
class Method:
    layout: str
    run: Callable[[psycopg.Connection[Any], str, int | None], Outcome]


METHODS = {
    PLAIN_DELETE: Method(PLAIN, plain_delete),
    UNPARTITIONED: Method(PLAIN, cleanup_job),
    PARTITIONED_JOB: Method(PARTITIONED, cleanup_job),
}
PURGE_METHODS = (PLAIN_DELETE, UNPARTITIONED, PARTITIONED_JOB)
NIGHT_METHODS = (PLAIN_DELETE, UNPARTITIONED, PARTITIONED_JOB)


@dataclass(frozen=True)
class PurgeRun:
    scenario: str
    method: str
    repeat: int
    with_ingestion: bool
    seconds: float
    deleted: int
    one_by_one: int
    dropped_partitions: int
    steps: int
    wal_bytes: int
    longest_transaction_seconds: float
    transactions_seen: int
    inserted: int
    ingest_p99_before_ms: float | None
    ingest_p99_during_ms: float | None
    problems: list[str] = field(default_factory=list)

    @property
    def rows_per_second(self) -> float:
        return self.deleted / self.seconds


@dataclass(frozen=True)
class PurgeSummary:
    """Medians over the repeats: time, WAL, longest transaction alone; p99 with writers."""

    method: str
    seconds: float
    rows_per_second: float
    wal_bytes: float
    longest_transaction_seconds: float
    one_by_one: int
    dropped_partitions: int
    steps: int
    seconds_with_ingestion: float
    ingest_p99_before_ms: float | None
    ingest_p99_during_ms: float | None


@dataclass
class PurgeResult:
    scenario: str
    seed: HeartbeatSeed
    methods: tuple[str, ...]
    runs: list[PurgeRun]

    def summary(self, method: str) -> PurgeSummary:
        alone = [r for r in self.runs if r.method == method and not r.with_ingestion]
        loaded = [r for r in self.runs if r.method == method and r.with_ingestion]
        return PurgeSummary(
            method=method,
            seconds=median(r.seconds for r in alone),
            rows_per_second=median(r.rows_per_second for r in alone),
            wal_bytes=median(r.wal_bytes for r in alone),
            longest_transaction_seconds=median(r.longest_transaction_seconds for r in alone),
            one_by_one=max(r.one_by_one for r in alone),
            dropped_partitions=max(r.dropped_partitions for r in alone),
            steps=max(r.steps for r in alone),
            seconds_with_ingestion=median(r.seconds for r in loaded),
            ingest_p99_before_ms=_median_of(r.ingest_p99_before_ms for r in loaded),
            ingest_p99_during_ms=_median_of(r.ingest_p99_during_ms for r in loaded),
        )

    def summaries(self) -> list[PurgeSummary]:
        return [self.summary(method) for method in self.methods]

    def speed(self, method: str, reference: str) -> float | None:
        """How many times faster than `reference` (median rows/s over median rows/s)."""
        return ratio(self.summary(method).rows_per_second, self.summary(reference).rows_per_second)

    def wal_share(self, method: str, reference: str) -> float | None:
        return ratio(self.summary(method).wal_bytes, self.summary(reference).wal_bytes)

    @property
    def verified(self) -> bool:
        return not any(run.problems for run in self.runs)


def _median_of(values: Iterable[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return median(present) if present else None


# -- the two scenarios ------------------------------------------------------------------------


def purge_section(
    server: LocalPostgres, admin: psycopg.Connection[Any], options: Options, progress: Progress
) -> PurgeResult:
    """A catch-up purge of `purge_days` days, the cutoff 5 minutes into a UTC day.

    One day is kept after the cutoff: enough for the plain DELETE to have young rows to pass
    over, and the partition the cutoff cuts through. (A real table keeps 30 days; the kept
    rows' count matters little to any method, and seeding them would take minutes.)
    """
    cutoff = utc_midnight(datetime.now(UTC) - DAY - STRADDLE) + STRADDLE
    per_day = options.purge_rows_per_day
    seed = seed_heartbeats(
        server,
        "purge",
        expired_from=cutoff - options.purge_days * DAY,
        cutoff=cutoff,
        kept_until=cutoff + DAY,
        expired=per_day * options.purge_days,
        kept=per_day - round(per_day * QUIET / DAY),
        agents=options.agents,
        progress=progress,
    )
    return _measure(server, admin, seed, "purge", PURGE_METHODS, options, progress)


def night_section(
    server: LocalPostgres, admin: psycopg.Connection[Any], options: Options, progress: Progress
) -> PurgeResult:
    """The nightly run at steady state: 31 days kept, the oldest day past the retention."""
    midnight = utc_midnight(datetime.now(UTC))
    cutoff = midnight - 30 * DAY
    per_day = options.night_rows_per_day
    seed = seed_heartbeats(
        server,
        "night",
        expired_from=cutoff - DAY,
        cutoff=cutoff,
        kept_until=midnight,
        expired=per_day,
        kept=30 * per_day - round(per_day * QUIET / DAY),
        agents=options.agents,
        progress=progress,
    )
    return _measure(server, admin, seed, "night", NIGHT_METHODS, options, progress)


def _measure(
    server: LocalPostgres,
    admin: psycopg.Connection[Any],
    seed: HeartbeatSeed,
    scenario: str,
    methods: Sequence[str],
    options: Options,
    progress: Progress,
) -> PurgeResult:
    result = PurgeResult(scenario=scenario, seed=seed, methods=tuple(methods), runs=[])
    agents = [agent_id(n) for n in range(1, options.agents + 1)]
    for repeat in range(1, options.repeat + 1):
        # Rotate the order so no method always runs first (or right after another).
        shift = (repeat - 1) % len(methods)
        for method in (*methods[shift:], *methods[:shift]):
            for with_ingestion in (False, True):
                run = _run_once(
                    server, admin, seed, scenario, method, repeat, with_ingestion, agents, options
                )
                status = "ok" if not run.problems else "FAILED: " + "; ".join(run.problems)
                progress(
                    f"{scenario} repeat {repeat}/{options.repeat} {method}"
                    f"{' with ingestion' if with_ingestion else ''}: {run.seconds:.3f} s, "
                    f"{run.deleted:,} rows, WAL {run.wal_bytes / 1e6:.1f} MB, longest "
                    f"transaction {run.longest_transaction_seconds:.3f} s, {status}"
                )
                result.runs.append(run)
    return result


def _run_once(
    server: LocalPostgres,
    admin: psycopg.Connection[Any],
    seed: HeartbeatSeed,
    scenario: str,
    method: str,
    repeat: int,
    with_ingestion: bool,
    agents: list[Any],
    options: Options,
) -> PurgeRun:
    layout = METHODS[method].layout
    name = f"{scenario}_r{repeat}_{method.replace(' ', '_').lower()}_{int(with_ingestion)}"
    with (
        clone(admin, seed.template(layout), name),
        psycopg.connect(server.url(name), autocommit=True) as conn,
    ):
        # The clone holds the template's rows, counted when it was seeded.
        pinned = one(conn.execute(read_sql("pin_cutoff.sql"), {"cutoff": seed.cutoff}))[0]
        # Start every method from the same state: nothing dirty left over from the copy.
        admin.execute("checkpoint")
        watcher = LongestTransaction(server.url("postgres"), conn.info.backend_pid)
        watcher.start()
        ingestion, baseline_from = None, 0.0
        if with_ingestion:
            ingestion = Ingestion(server.url(name), TABLES[layout][1], agents, options.ingest_rate)
            ingestion.start()
            time.sleep(INGEST_WARM_UP_SECONDS)
            baseline_from = time.perf_counter()
            time.sleep(INGEST_BASELINE_SECONDS)
        try:
            wal_start = wal_position(admin)
            started = time.perf_counter()
            outcome = METHODS[method].run(conn, layout, options.batch)
            finished = time.perf_counter()
            wal_bytes = wal_position(admin) - wal_start
        finally:
            if ingestion:
                ingestion.stop()
            watcher.stop()
        seconds = finished - started
        after = _counts(conn, layout)

    inserted = ingestion.inserted if ingestion else 0
    problems = _verify(seed, pinned, after, inserted)
    if ingestion and ingestion.errors:
        problems.append(f"{len(ingestion.errors)} heartbeat inserts failed: {ingestion.errors[0]}")
    return PurgeRun(
        scenario=scenario,
        method=method,
        repeat=repeat,
        with_ingestion=with_ingestion,
        seconds=seconds,
        deleted=seed.expired,
        one_by_one=outcome.one_by_one,
        dropped_partitions=outcome.dropped_partitions,
        steps=outcome.steps,
        wal_bytes=wal_bytes,
        # One DELETE in autocommit is one transaction: its own time, which the sampler can
        # only under-read; the job's transactions are known from the sampler alone.
        longest_transaction_seconds=seconds if method == PLAIN_DELETE else watcher.longest_seconds,
        transactions_seen=watcher.transactions,
        inserted=inserted,
        ingest_p99_before_ms=ingestion.p99_before_ms(baseline_from, started) if ingestion else None,
        ingest_p99_during_ms=ingestion.p99_ms(started, finished) if ingestion else None,
        problems=problems,
    )


def _counts(conn: psycopg.Connection[Any], layout: str) -> tuple[int, int, datetime]:
    expired, kept, cutoff = one(conn.execute(on_tables(layout, read_sql("count_by_cutoff.sql"))))
    return expired, kept, cutoff


def _verify(
    seed: HeartbeatSeed, pinned: datetime, after: tuple[int, int, datetime], inserted: int
) -> list[str]:
    """Exactly the expired rows gone; every younger row kept, and every heartbeat inserted."""
    problems = []
    if pinned != seed.cutoff:
        problems.append(f"cutoff pinned at {pinned}, the seed's is {seed.cutoff}")
    if after[0]:
        problems.append(f"{after[0]:,} expired rows are left")
    if after[1] != seed.kept + inserted:
        problems.append(
            f"{seed.kept:,} younger rows + {inserted:,} inserted, but {after[1]:,} are there"
        )
    if after[2] - seed.cutoff >= QUIET:
        problems.append("the run outlasted the quiet window after the cutoff; counts are unsure")
    return problems
