"""Section 3: the check-stale job on fleets from ten thousand to a million agents.

Each size is a template of that many online agents, a share of them quiet since before the
stale cutoff (evenly spread over the table), with the free space on every page that
heartbeats leave in a live agents table (sql/scale_churn_agents.sql); a mass outage is a
template where every agent is quiet. A run clones the template, pins the clone's cutoff to
the seed's, loads the agents table and its indexes into shared_buffers (a live fleet's are
hot: every heartbeat updates them), and times one `fleet.run_check_stale()` call at the
client, round trip included.

The big outage, larger than one run's batch (fleet.config.stale_batch_size), runs the job
again and again on one clone until a run marks nobody: it must end with every quiet agent
offline within ceil(quiet / batch) runs, each of them committed.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg

from benchmarks.common import Progress, clone, median, one, read_sql
from benchmarks.scale.options import Options
from benchmarks.scale.seeds import FleetSeed, seed_fleet
from deployer.localpg import LocalPostgres

RUN = (
    "select outcome, rows_affected, extract(epoch from finished_at - started_at), detail "
    "from fleet.run_check_stale(triggered_by => 'cli', batch => %(batch)s::integer)"
)
# The agents table and every index of it: a live fleet's heartbeats keep them all in cache.
PREWARM = (
    "select pg_prewarm('fleet.agents'), count(pg_prewarm(i.indexrelid)) "
    "from pg_index as i where i.indrelid = 'fleet.agents'::regclass"
)
DEFAULT_BATCH = "select stale_batch_size from fleet.config"
# A mass outage that needs more runs than this is not "a few runs"; stop and say so.
EXTRA_RUNS = 3


@dataclass(frozen=True)
class StaleRun:
    scenario: str
    repeat: int
    agents: int
    stale: int
    seconds: float
    server_seconds: float
    marked: int
    left: int
    outcome: str
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class OutageSeries:
    """The big outage: one run after another on the same clone until one marks nobody."""

    agents: int
    stale: int
    batch: int
    runs: list[StaleRun]

    @property
    def runs_needed(self) -> int:
        return sum(1 for run in self.runs if run.marked > 0)

    @property
    def runs_allowed(self) -> int:
        return math.ceil(self.stale / self.batch)

    @property
    def left(self) -> int:
        return self.runs[-1].left if self.runs else self.stale

    @property
    def longest_run_seconds(self) -> float:
        return max((run.seconds for run in self.runs), default=0.0)


@dataclass
class StaleResult:
    fraction: float
    runs: list[StaleRun]
    outage: OutageSeries | None

    def scenarios(self) -> list[str]:
        return list(dict.fromkeys(run.scenario for run in self.runs))

    def median_ms(self, scenario: str) -> float:
        return median(run.seconds for run in self.runs if run.scenario == scenario) * 1000

    def median_server_ms(self, scenario: str) -> float:
        return median(run.server_seconds for run in self.runs if run.scenario == scenario) * 1000

    def first(self, scenario: str) -> StaleRun:
        return next(run for run in self.runs if run.scenario == scenario)

    @property
    def verified(self) -> bool:
        series = self.outage.runs if self.outage else []
        return not any(run.problems for run in (*self.runs, *series))


def fleet_scenario(agents: int, fraction: float) -> str:
    return f"{agents:,} agents, {fraction:.0%} quiet"


def outage_scenario(agents: int) -> str:
    return f"mass outage: {agents:,} of {agents:,} agents quiet"


def stale_section(
    server: LocalPostgres, admin: psycopg.Connection[Any], options: Options, progress: Progress
) -> StaleResult:
    fleets = [
        (fleet_scenario(size, options.stale_fraction), size, options.stale_fraction)
        for size in options.stale_sizes
    ]
    fleets.append((outage_scenario(options.outage_agents), options.outage_agents, 1.0))
    seeds = {
        scenario: seed_fleet(server, admin, f"stale_{index}", size, fraction, progress)
        for index, (scenario, size, fraction) in enumerate(fleets)
    }
    result = StaleResult(fraction=options.stale_fraction, runs=[], outage=None)
    for repeat in range(1, options.repeat + 1):
        for scenario, seed in seeds.items():
            with (
                clone(admin, seed.template, f"{seed.template}_r{repeat}") as name,
                psycopg.connect(server.url(name), autocommit=True) as conn,
            ):
                run = _run_once(conn, admin, seed, scenario, repeat, options.stale_batch)
            progress(
                f"stale repeat {repeat}/{options.repeat} {scenario}: {run.seconds * 1000:.0f} ms, "
                f"{run.marked:,} marked{_status(run)}"
            )
            result.runs.append(run)

    big = seed_fleet(server, admin, "stale_outage", options.big_outage_agents, 1.0, progress)
    result.outage = _outage_series(server, admin, big, options, progress)
    return result


def _run_once(
    conn: psycopg.Connection[Any],
    admin: psycopg.Connection[Any],
    seed: FleetSeed,
    scenario: str,
    repeat: int,
    batch: int | None,
) -> StaleRun:
    pinned = one(conn.execute(read_sql("pin_stale_cutoff.sql"), {"cutoff": seed.cutoff}))[0]
    conn.execute(PREWARM)
    admin.execute("checkpoint")
    before = one(conn.execute(read_sql("count_stale.sql")))[0]
    started = time.perf_counter()
    outcome, marked, server_seconds, detail = one(conn.execute(RUN, {"batch": batch}))
    seconds = time.perf_counter() - started
    left = one(conn.execute(read_sql("count_stale.sql")))[0]
    run_batch = int(detail.get("batch", 0))

    problems = []
    if pinned != seed.cutoff:
        problems.append(f"cutoff pinned at {pinned}, the seed's is {seed.cutoff}")
    if outcome != "ok":
        problems.append(f"the run ended {outcome!r}: {detail}")
    if marked != min(before, run_batch):
        problems.append(f"{marked:,} marked of {before:,} quiet agents (batch {run_batch:,})")
    if left != before - marked:
        problems.append(f"{before:,} quiet, {marked:,} marked, but {left:,} left")
    return StaleRun(
        scenario=scenario,
        repeat=repeat,
        agents=seed.agents,
        stale=before,
        seconds=seconds,
        server_seconds=float(server_seconds),
        marked=marked,
        left=left,
        outcome=outcome,
        problems=problems,
    )


def _outage_series(
    server: LocalPostgres,
    admin: psycopg.Connection[Any],
    seed: FleetSeed,
    options: Options,
    progress: Progress,
) -> OutageSeries:
    scenario = outage_scenario(seed.agents)
    with (
        clone(admin, seed.template, f"{seed.template}_series") as name,
        psycopg.connect(server.url(name), autocommit=True) as conn,
    ):
        batch = options.stale_batch or one(conn.execute(DEFAULT_BATCH))[0]
        series = OutageSeries(agents=seed.agents, stale=seed.stale, batch=batch, runs=[])
        for number in range(1, series.runs_allowed + EXTRA_RUNS + 1):
            run = _run_once(conn, admin, seed, scenario, number, batch)
            progress(
                f"mass outage run {number}: {run.seconds * 1000:.0f} ms, {run.marked:,} marked, "
                f"{run.left:,} quiet agents left online{_status(run)}"
            )
            series.runs.append(run)
            if run.marked == 0:
                break
    return series


def _status(run: StaleRun) -> str:
    return "" if not run.problems else ", FAILED: " + "; ".join(run.problems)
