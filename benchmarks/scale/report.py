"""The scale benchmark's results: every figure next to its target, as JSON and Markdown.

The targets are issue 9's. Ratios compare medians measured in the same run, on the same
server and data; absolute numbers only compare within one run (fsync is off).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from benchmarks.common import Machine, markdown_table, median
from benchmarks.scale import ingest as ingest_section
from benchmarks.scale import purge as purge_section
from benchmarks.scale.ingest import IngestResult
from benchmarks.scale.options import Options
from benchmarks.scale.purge import PurgeResult
from benchmarks.scale.stale import StaleResult, fleet_scenario, outage_scenario

# The endpoint runs check-stale under statement_timeout 45 s (deployer.runtime.jobs).
STALE_STATEMENT_TIMEOUT_MS = 45_000
SLUGS = {
    purge_section.PLAIN_DELETE: "plain_delete",
    purge_section.UNPARTITIONED: "unpartitioned",
    purge_section.PARTITIONED_JOB: "partitioned",
}


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    value: float | None
    unit: str
    target: str | None = None
    met: bool | None = None


@dataclass
class Report:
    options: Options
    machine: Machine
    purge: PurgeResult | None
    night: PurgeResult | None
    stale: StaleResult | None
    ingest: IngestResult | None
    seconds: float

    @property
    def verified(self) -> bool:
        sections = (self.purge, self.night, self.stale, self.ingest)
        return all(section.verified for section in sections if section is not None)


def _target(
    value: float | None, text: str, test: Callable[[float], bool], applies: bool = True
) -> dict[str, Any]:
    if not applies:
        return {"target": f"{text} (set for another size)", "met": None}
    return {"target": text, "met": None if value is None else test(value)}


# -- the figures ------------------------------------------------------------------------------


def figure_keys(options: Options) -> list[str]:
    """Every figure a run with these options reports, in order (the tests check the JSON)."""
    keys = []
    if "purge" in options.sections:
        for slug in SLUGS.values():
            keys += [f"purge.{slug}.{name}" for name in PURGE_FIGURES]
        keys += [
            "purge.ingest_p99_without_purge_ms",
            "purge.partitioned.speed_vs_plain_delete",
            "purge.partitioned.wal_vs_plain_delete",
            "purge.unpartitioned.speed_vs_plain_delete",
        ]
    if "night" in options.sections:
        for slug in SLUGS.values():
            keys += [f"night.{slug}.{name}" for name in NIGHT_FIGURES]
        keys += [
            "night.unpartitioned.speed_vs_plain_delete",
            "night.partitioned.speed_vs_unpartitioned",
        ]
    if "stale" in options.sections:
        keys += [f"stale.agents_{size}.ms" for size in options.stale_sizes]
        keys += [
            f"stale.outage_{options.outage_agents}.ms",
            "stale.big_outage.runs",
            "stale.big_outage.left_online",
            "stale.big_outage.longest_run_ms",
        ]
    if "ingest" in options.sections:
        keys += [f"ingest.{method}.tps" for method in ingest_section.METHODS]
        keys += [f"ingest.{method}.hot_share" for method in ingest_section.METHODS]
        keys += ["ingest.record_heartbeat.vs_bare", "ingest.insert.vs_bare"]
    return keys


PURGE_FIGURES = ("rows_per_second", "wal_mb", "longest_transaction_s", "ingest_p99_ms")
NIGHT_FIGURES = (
    "seconds",
    "rows_one_by_one",
    "wal_mb",
    "longest_transaction_s",
    "ingest_p99_ms",
)


def figures(report: Report) -> list[Figure]:
    found: list[Figure] = []
    if report.purge:
        found += _purge_figures(report.purge)
    if report.night:
        found += _night_figures(report.night)
    if report.stale:
        found += _stale_figures(report.stale, report.options)
    if report.ingest:
        found += _ingest_figures(report.ingest)
    order = {key: index for index, key in enumerate(figure_keys(report.options))}
    return sorted(found, key=lambda figure: order.get(figure.key, len(order)))


def _purge_figures(result: PurgeResult) -> list[Figure]:
    found = []
    for method, slug in SLUGS.items():
        s = result.summary(method)
        longest = s.longest_transaction_seconds
        found += [
            Figure(
                f"purge.{slug}.rows_per_second",
                f"purge, {method}: rows/s",
                s.rows_per_second,
                "rows/s",
            ),
            Figure(f"purge.{slug}.wal_mb", f"purge, {method}: WAL", s.wal_bytes / 1e6, "MB"),
            Figure(
                f"purge.{slug}.longest_transaction_s",
                f"purge, {method}: longest transaction",
                longest,
                "s",
                **(
                    _target(longest, "≤ 1 s", lambda v: v <= 1.0)
                    if method == purge_section.UNPARTITIONED
                    else {}
                ),
            ),
            Figure(
                f"purge.{slug}.ingest_p99_ms",
                f"purge, {method}: p99 heartbeat insert during it",
                s.ingest_p99_during_ms,
                "ms",
            ),
        ]
    before = [r.ingest_p99_before_ms for r in result.runs if r.ingest_p99_before_ms is not None]
    speed = result.speed(purge_section.PARTITIONED_JOB, purge_section.PLAIN_DELETE)
    wal = result.wal_share(purge_section.PARTITIONED_JOB, purge_section.PLAIN_DELETE)
    unpartitioned = result.speed(purge_section.UNPARTITIONED, purge_section.PLAIN_DELETE)
    found += [
        Figure(
            "purge.ingest_p99_without_purge_ms",
            "purge: p99 heartbeat insert with no purge running",
            median(before) if before else None,
            "ms",
        ),
        Figure(
            "purge.partitioned.speed_vs_plain_delete",
            "purge: partitioned speed / plain DELETE",
            speed,
            "x",
            **_target(speed, "≥ 10x", lambda v: v >= 10),
        ),
        Figure(
            "purge.partitioned.wal_vs_plain_delete",
            "purge: partitioned WAL / plain DELETE",
            wal,
            "%",
            **_target(wal, "≤ 5 %", lambda v: v <= 0.05),
        ),
        Figure(
            "purge.unpartitioned.speed_vs_plain_delete",
            "purge: unpartitioned speed / plain DELETE",
            unpartitioned,
            "x",
            **_target(unpartitioned, "≥ 0.6x", lambda v: v >= 0.6),
        ),
    ]
    return found


def _night_figures(result: PurgeResult) -> list[Figure]:
    found = []
    for method, slug in SLUGS.items():
        s = result.summary(method)
        found += [
            Figure(f"night.{slug}.seconds", f"night, {method}: time", s.seconds, "s"),
            Figure(
                f"night.{slug}.rows_one_by_one",
                f"night, {method}: rows deleted one by one",
                s.one_by_one,
                "rows",
                **(
                    _target(s.one_by_one, "0", lambda v: v == 0)
                    if method == purge_section.PARTITIONED_JOB
                    else {}
                ),
            ),
            Figure(f"night.{slug}.wal_mb", f"night, {method}: WAL", s.wal_bytes / 1e6, "MB"),
            Figure(
                f"night.{slug}.longest_transaction_s",
                f"night, {method}: longest transaction",
                s.longest_transaction_seconds,
                "s",
            ),
            Figure(
                f"night.{slug}.ingest_p99_ms",
                f"night, {method}: p99 heartbeat insert during it",
                s.ingest_p99_during_ms,
                "ms",
            ),
        ]
    unpartitioned = result.speed(purge_section.UNPARTITIONED, purge_section.PLAIN_DELETE)
    found += [
        Figure(
            "night.unpartitioned.speed_vs_plain_delete",
            "night: unpartitioned speed / plain DELETE",
            unpartitioned,
            "x",
            **_target(unpartitioned, "≥ 0.6x", lambda v: v >= 0.6),
        ),
        Figure(
            "night.partitioned.speed_vs_unpartitioned",
            "night: partitioned speed / unpartitioned",
            result.speed(purge_section.PARTITIONED_JOB, purge_section.UNPARTITIONED),
            "x",
        ),
    ]
    return found


def _stale_figures(result: StaleResult, options: Options) -> list[Figure]:
    found = []
    issue_fraction = math.isclose(options.stale_fraction, 0.01)
    for size in options.stale_sizes:
        scenario = fleet_scenario(size, options.stale_fraction)
        value = result.median_ms(scenario)
        target = (
            _target(
                value,
                "< 250 ms",
                lambda v: v < 250,
                applies=issue_fraction and size == 1_000_000,
            )
            if size == max(options.stale_sizes)
            else {}
        )
        found.append(
            Figure(f"stale.agents_{size}.ms", f"stale check, {scenario}", value, "ms", **target)
        )
    outage = outage_scenario(options.outage_agents)
    value = result.median_ms(outage)
    found.append(
        Figure(
            f"stale.outage_{options.outage_agents}.ms",
            f"stale check, {outage}",
            value,
            "ms",
            **_target(
                value, "< 2,000 ms", lambda v: v < 2000, applies=options.outage_agents == 100_000
            ),
        )
    )
    series = result.outage
    if series:
        allowed = series.runs_allowed
        found += [
            Figure(
                "stale.big_outage.runs",
                f"mass outage of {series.stale:,} (batch {series.batch:,}): runs that marked",
                series.runs_needed,
                "runs",
                **_target(series.runs_needed, f"≤ {allowed}", lambda v: v <= allowed),
            ),
            Figure(
                "stale.big_outage.left_online",
                "mass outage: quiet agents still online after those runs",
                series.left,
                "agents",
                **_target(series.left, "0", lambda v: v == 0),
            ),
            Figure(
                "stale.big_outage.longest_run_ms",
                "mass outage: longest run",
                series.longest_run_seconds * 1000,
                "ms",
                **_target(
                    series.longest_run_seconds * 1000,
                    "< 45,000 ms (the endpoint's statement_timeout)",
                    lambda v: v < STALE_STATEMENT_TIMEOUT_MS,
                ),
            ),
        ]
    return found


def _ingest_figures(result: IngestResult) -> list[Figure]:
    found = [
        Figure(
            f"ingest.{method}.tps",
            f"ingestion, {method}: heartbeats/s",
            result.median_tps(method),
            "tps",
        )
        for method in ingest_section.METHODS
    ]
    for method in ingest_section.METHODS:
        share = result.hot_share(method)
        target = (
            _target(share, "≥ 90 %", lambda v: v >= 0.9) if method != ingest_section.BARE else {}
        )
        found.append(
            Figure(
                f"ingest.{method}.hot_share",
                f"ingestion, {method}: HOT share of agents updates",
                share,
                "%",
                **target,
            )
        )
    for method in (ingest_section.RECORD_HEARTBEAT, ingest_section.INSERT):
        value = result.vs_bare(method)
        found.append(
            Figure(
                f"ingest.{method}.vs_bare",
                f"ingestion: {method} / bare INSERT + UPDATE",
                value,
                "x",
                **_target(value, "≥ 0.85x", lambda v: v >= 0.85),
            )
        )
    return found


# -- JSON -------------------------------------------------------------------------------------


def to_json(report: Report) -> dict[str, Any]:
    def section(result: Any) -> Any:
        if result is None:
            return None
        data = asdict(result)
        if isinstance(result, PurgeResult):
            data["summary"] = [asdict(s) for s in result.summaries()]
        return data

    return {
        "options": asdict(report.options),
        "machine": asdict(report.machine),
        "verified": report.verified,
        "seconds": report.seconds,
        "figures": [asdict(figure) for figure in figures(report)],
        "purge": section(report.purge),
        "night": section(report.night),
        "stale": section(report.stale),
        "ingest": section(report.ingest),
    }


# -- Markdown ---------------------------------------------------------------------------------


def render(report: Report) -> str:
    options, machine = report.options, report.machine
    settings = ", ".join(f"{name}={value}" for name, value in machine.settings.items())
    lines = [
        "# fleetcron scale benchmark",
        "",
        f"- machine: PostgreSQL {machine.server_version}, {machine.architecture}, "
        f"{machine.cpus} CPUs, shared_buffers {machine.shared_buffers}",
        f"- server: {settings}",
        f"- {options.repeat} repeat(s) of every measurement, each on a fresh copy of its "
        f"template; medians. Whole run: {report.seconds:.0f} s.",
        "- Absolute numbers compare only within this run (fsync is off, the machine may be "
        "shared); the ratios are the result.",
        "",
        "## Figures and targets",
        "",
    ]
    rows = [
        (
            figure.label,
            _format(figure.value, figure.unit),
            figure.target or "",
            {True: "met", False: "**NOT MET**", None: ""}[figure.met],
        )
        for figure in figures(report)
    ]
    lines += markdown_table(("figure", "value", "target", "met"), rows)
    if report.purge:
        lines += _purge_details(report.purge, "1. Purge")
    if report.night:
        lines += _purge_details(report.night, "2. Steady-state night")
    if report.stale:
        lines += _stale_details(report.stale)
    if report.ingest:
        lines += _ingest_details(report.ingest)
    lines += [
        "",
        f"verification: {'passed' if report.verified else 'FAILED'}",
        "",
    ]
    return "\n".join(lines)


def _purge_details(result: PurgeResult, title: str) -> list[str]:
    seed = result.seed
    lines = [
        "",
        f"## {title}",
        "",
        f"{seed.expired + seed.kept:,} heartbeats of {seed.agents:,} agents from "
        f"{seed.expired_from:%Y-%m-%d %H:%M} to {seed.kept_until:%Y-%m-%d %H:%M} UTC, "
        f"{seed.expired:,} of them before the cutoff {seed.cutoff:%Y-%m-%d %H:%M} UTC. "
        "Time, rows/s, WAL and longest transaction: the method alone; p99: heartbeats "
        "inserted at a steady rate during it (and before it, for comparison).",
        "",
    ]
    rows = [
        (
            s.method,
            f"{s.seconds:.3f}",
            f"{s.rows_per_second:,.0f}",
            f"{s.wal_bytes / 1e6:.1f}",
            f"{s.longest_transaction_seconds:.3f}",
            f"{s.steps:,}",
            f"{s.dropped_partitions:,}",
            f"{s.one_by_one:,}",
            f"{s.seconds_with_ingestion:.3f}",
            _format(s.ingest_p99_before_ms, "ms"),
            _format(s.ingest_p99_during_ms, "ms"),
        )
        for s in result.summaries()
    ]
    lines += markdown_table(
        (
            "method",
            "s",
            "rows/s",
            "WAL MB",
            "longest xact s",
            "steps",
            "dropped",
            "deleted one by one",
            "s with writers",
            "p99 before ms",
            "p99 during ms",
        ),
        rows,
    )
    lines += ["", "Every run, in the order run:", ""]
    raw = [
        (
            str(run.repeat),
            run.method + (" + writers" if run.with_ingestion else ""),
            f"{run.seconds:.3f}",
            f"{run.deleted:,}",
            f"{run.wal_bytes / 1e6:.1f}",
            f"{run.longest_transaction_seconds:.3f}",
            f"{run.inserted:,}",
            _format(run.ingest_p99_during_ms, "ms"),
            "ok" if not run.problems else "FAILED: " + "; ".join(run.problems),
        )
        for run in result.runs
    ]
    lines += markdown_table(
        (
            "repeat",
            "method",
            "s",
            "expired",
            "WAL MB",
            "longest xact s",
            "inserted",
            "p99 ms",
            "verified",
        ),
        raw,
    )
    return lines


def _stale_details(result: StaleResult) -> list[str]:
    lines = [
        "",
        "## 3. Stale check",
        "",
        "`select * from fleet.run_check_stale(triggered_by => 'cli')`, timed at the client "
        "(round trip included) and by the run itself (job_runs started_at to finished_at), "
        "with the agents table in shared_buffers.",
        "",
    ]
    rows = [
        (
            scenario,
            f"{result.first(scenario).stale:,}",
            f"{result.median_ms(scenario):.1f}",
            f"{result.median_server_ms(scenario):.1f}",
        )
        for scenario in result.scenarios()
    ]
    lines += markdown_table(("fleet", "quiet agents", "ms (client)", "ms (job run)"), rows)
    series = result.outage
    if series:
        lines += [
            "",
            f"Mass outage larger than one run's batch: {series.stale:,} quiet agents, batch "
            f"{series.batch:,}, one run after another until a run marks nobody:",
            "",
        ]
        lines += markdown_table(
            ("run", "marked", "quiet agents left online", "ms", "verified"),
            [
                (
                    str(run.repeat),
                    f"{run.marked:,}",
                    f"{run.left:,}",
                    f"{run.seconds * 1000:.0f}",
                    "ok" if not run.problems else "FAILED: " + "; ".join(run.problems),
                )
                for run in series.runs
            ],
        )
    return lines


def _ingest_details(result: IngestResult) -> list[str]:
    lines = [
        "",
        "## 4. Ingestion",
        "",
        f"pgbench, {result.clients} clients for {result.seconds} s per run, random agents of "
        f"{result.agents:,}, {result.rounds} rounds (every method once per round, the order "
        "rotated); medians. HOT share = n_tup_hot_upd / n_tup_upd of the agents table over all "
        "of a method's runs.",
        "",
    ]
    rows = [
        (
            method,
            f"{result.median_tps(method):,.0f}",
            f"{result.median_latency_ms(method):.3f}",
            _format(result.vs_bare(method), "x"),
            _format(result.hot_share(method), "%"),
        )
        for method in ingest_section.METHODS
    ]
    lines += markdown_table(("method", "heartbeats/s", "latency ms", "vs bare", "HOT"), rows)
    return lines


def _format(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "%":
        return f"{value:.1%}"
    if unit in ("rows/s", "tps"):
        return f"{value:,.0f} {unit}"
    if unit in ("rows", "runs", "agents"):
        return f"{value:,.0f} {unit}"
    if unit == "s":
        return f"{value:.3f} s"
    if unit == "ms":
        return f"{value:,.1f} ms"
    return f"{value:,.1f} {unit}"
