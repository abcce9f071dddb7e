"""The command line of `python -m benchmarks.scale`.

    python -m benchmarks.scale [--sections purge night stale ingest] [--repeat R]
                               [--purge-rows-per-day N] [--purge-days D] [--agents A]
                               [--batch B] [--ingest-rate N] [--night-rows-per-day N]
                               [--stale-sizes N ...] [--stale-fraction F] [--outage-agents N]
                               [--big-outage-agents N] [--stale-batch N]
                               [--ingest-agents N] [--ingest-clients C] [--ingest-seconds S]
                               [--ingest-rounds R]
                               [--autovacuum] [--set NAME=VALUE ...]
                               [--json FILE] [--markdown FILE]

It starts its own throwaway PostgreSQL, seeds template databases, measures every section on
fresh copies of them, prints a Markdown report with every figure next to its target from
issue 9, and removes the server. Exit status: 0 when every run verified (whether or not the
targets were met), 1 when one did not, 2 on an error, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import psycopg

from benchmarks.common import (
    RUN_ERRORS,
    Progress,
    benchmark_settings,
    fraction,
    machine,
    positive_int,
    progress,
    setting,
    sigterm_as_interrupt,
    throwaway_server,
)
from benchmarks.scale.ingest import ingest_section
from benchmarks.scale.options import SECTIONS, Options
from benchmarks.scale.purge import night_section, purge_section
from benchmarks.scale.report import Report, render, to_json
from benchmarks.scale.stale import stale_section


def run_benchmark(options: Options, progress: Progress) -> Report:
    started = time.perf_counter()
    settings = benchmark_settings(options.autovacuum, options.settings)
    with (
        throwaway_server(settings, progress) as server,
        psycopg.connect(server.url("postgres"), autocommit=True) as admin,
    ):
        measured_on = machine(admin, (name for name, _ in options.settings))
        sections = options.sections
        purge = purge_section(server, admin, options, progress) if "purge" in sections else None
        night = night_section(server, admin, options, progress) if "night" in sections else None
        stale = stale_section(server, admin, options, progress) if "stale" in sections else None
        ingest = ingest_section(server, admin, options, progress) if "ingest" in sections else None
    return Report(
        options=options,
        machine=measured_on,
        purge=purge,
        night=night,
        stale=stale,
        ingest=ingest,
        seconds=time.perf_counter() - started,
    )


def parse_args(argv: Sequence[str] | None = None) -> Options:
    defaults = Options()
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.scale",
        description=(
            "Measure fleetcron at fleet scale in a throwaway PostgreSQL: the purge on a "
            "partitioned and an unpartitioned heartbeats table against one plain DELETE, the "
            "nightly run at steady state, the stale check up to a million agents, and "
            "ingestion against a bare INSERT + UPDATE. Prints every figure next to its target."
        ),
    )

    def add(name: str, kind: type | object, help_text: str, **extra: object) -> None:
        default = getattr(defaults, name.removeprefix("--").replace("-", "_"))
        if "default" not in help_text:
            help_text += " (default: %(default)s)"
        extra.setdefault("metavar", "F" if kind is fraction else "N")
        parser.add_argument(name, type=kind, default=default, help=help_text, **extra)

    parser.add_argument(
        "--sections",
        nargs="+",
        choices=SECTIONS,
        default=defaults.sections,
        metavar="SECTION",
        help=f"what to measure, in this order (default: all: {' '.join(SECTIONS)})",
    )
    add("--repeat", positive_int, "runs of every measurement, each on a fresh copy")
    add("--purge-rows-per-day", positive_int, "purge: heartbeats per day")
    add("--purge-days", positive_int, "purge: expired days (and one day kept)")
    add("--agents", positive_int, "purge and night: agents the heartbeats belong to")
    add("--batch", positive_int, "rows per batch for the cleanup job (default: its own)")
    add("--ingest-rate", positive_int, "heartbeats/s inserted beside each purge")
    add("--night-rows-per-day", positive_int, "night: heartbeats per day of 31")
    add("--stale-sizes", positive_int, "stale check: fleet sizes", nargs="+")
    add("--stale-fraction", fraction, "stale check: share of quiet agents")
    add("--outage-agents", positive_int, "stale check: a mass outage, all of them quiet")
    add(
        "--big-outage-agents",
        positive_int,
        "stale check: a mass outage larger than one run's batch, run until all are offline",
    )
    add("--stale-batch", positive_int, "agents per check-stale run (default: its own)")
    add("--ingest-agents", positive_int, "ingestion: agents to beat for")
    add("--ingest-clients", positive_int, "ingestion: pgbench clients")
    add("--ingest-seconds", positive_int, "ingestion: seconds per run")
    add("--ingest-rounds", positive_int, "ingestion: runs of every method")
    parser.add_argument(
        "--autovacuum",
        action="store_true",
        help="leave autovacuum on (default: off, so it cannot run mid-measurement)",
    )
    parser.add_argument(
        "--set",
        action="append",
        type=setting,
        default=None,
        dest="settings",
        metavar="NAME=VALUE",
        help=(
            "a server setting for this run (repeatable; default: shared_buffers=1GB, which "
            "holds a million agents' table in cache, as on an instance that runs such a fleet)"
        ),
    )
    parser.add_argument(
        "--json", type=Path, dest="json_path", metavar="FILE", help="also write every number here"
    )
    parser.add_argument(
        "--markdown",
        type=Path,
        dest="markdown_path",
        metavar="FILE",
        help="also write the report (what is printed) here",
    )
    args = parser.parse_args(argv)
    settings = dict(defaults.settings) | dict(args.settings or [])
    return Options(
        sections=tuple(dict.fromkeys(args.sections)),
        repeat=args.repeat,
        purge_rows_per_day=args.purge_rows_per_day,
        purge_days=args.purge_days,
        agents=args.agents,
        batch=args.batch,
        ingest_rate=args.ingest_rate,
        night_rows_per_day=args.night_rows_per_day,
        stale_sizes=tuple(args.stale_sizes),
        stale_fraction=args.stale_fraction,
        outage_agents=args.outage_agents,
        big_outage_agents=args.big_outage_agents,
        stale_batch=args.stale_batch,
        ingest_agents=args.ingest_agents,
        ingest_clients=args.ingest_clients,
        ingest_seconds=args.ingest_seconds,
        ingest_rounds=args.ingest_rounds,
        autovacuum=args.autovacuum,
        settings=tuple(settings.items()),
        json_path=args.json_path,
        markdown_path=args.markdown_path,
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
    markdown = render(report)
    print(markdown, flush=True)
    if options.markdown_path:
        options.markdown_path.write_text(markdown)
    if options.json_path:
        options.json_path.write_text(json.dumps(to_json(report), indent=2, default=str) + "\n")
    return 0 if report.verified else 1


if __name__ == "__main__":
    sys.exit(main())
