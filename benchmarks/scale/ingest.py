"""Section 4: ingestion through fleetcron's write paths against a bare INSERT + UPDATE.

pgbench (PostgreSQL's own load generator, a C client) runs each method's script from
benchmarks/sql/*.pgbench with `clients` connections for `seconds`, on a fresh clone of one
template that holds fleetcron's tables and untriggered copies of them with the same agents:

    record_heartbeat  select fleet.record_heartbeat(agent, payload)
    insert            insert into fleet.heartbeats (agent_id, payload): the heartbeat trigger
    bare              one INSERT + UPDATE statement on the untriggered copies: the baseline

The HOT share is n_tup_hot_upd / n_tup_upd of the agents table the method updates, over the
run: an agent's row updated in place (no new index entries) on every heartbeat keeps the
agents table and its indexes from bloating. The template is warmed first with two
heartbeats per agent by each path, so its pages hold the free space a live table has (a
freshly loaded table is packed full, and the first update of every row cannot be HOT).
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg

from benchmarks.common import SQL_DIR, BenchmarkError, Progress, clone, median, one, ratio
from benchmarks.scale.options import Options
from benchmarks.scale.seeds import finish_template, seed_ingest
from deployer.localpg import LocalPostgres

BARE = "bare"
RECORD_HEARTBEAT = "record_heartbeat"
INSERT = "insert"
METHODS = {
    BARE: ("ingest_bare.pgbench", "bench.bare_agents"),
    RECORD_HEARTBEAT: ("ingest_record_heartbeat.pgbench", "fleet.agents"),
    INSERT: ("ingest_insert.pgbench", "fleet.agents"),
}
TEMPLATE = "ingest"
WARM_UP_BEATS_PER_AGENT = 2
UPDATES = "select n_tup_upd, n_tup_hot_upd from pg_stat_user_tables where relid = %s::regclass"


@dataclass(frozen=True)
class IngestRun:
    method: str
    repeat: int
    transactions: int
    tps: float
    latency_ms: float
    updates: int
    hot_updates: int
    problems: list[str] = field(default_factory=list)

    @property
    def hot_share(self) -> float | None:
        return self.hot_updates / self.updates if self.updates else None


@dataclass
class IngestResult:
    clients: int
    seconds: int
    agents: int
    rounds: int
    runs: list[IngestRun]

    def median_tps(self, method: str) -> float:
        return median(run.tps for run in self.runs if run.method == method)

    def median_latency_ms(self, method: str) -> float:
        return median(run.latency_ms for run in self.runs if run.method == method)

    def hot_share(self, method: str) -> float | None:
        """Over all of the method's runs together."""
        runs = [run for run in self.runs if run.method == method]
        updates = sum(run.updates for run in runs)
        return sum(run.hot_updates for run in runs) / updates if updates else None

    def vs_bare(self, method: str) -> float | None:
        return ratio(self.median_tps(method), self.median_tps(BARE))

    @property
    def verified(self) -> bool:
        return not any(run.problems for run in self.runs)


def ingest_section(
    server: LocalPostgres, admin: psycopg.Connection[Any], options: Options, progress: Progress
) -> IngestResult:
    seed_ingest(server, admin, TEMPLATE, options.ingest_agents, progress)
    progress(f"warming the agents tables: {WARM_UP_BEATS_PER_AGENT} heartbeats per agent")
    for method in (BARE, RECORD_HEARTBEAT):
        per_client = WARM_UP_BEATS_PER_AGENT * options.ingest_agents // options.ingest_clients
        pgbench(server, TEMPLATE, method, options, ["-t", str(max(per_client, 1))])
    finish_template(server, admin, TEMPLATE)

    result = IngestResult(
        clients=options.ingest_clients,
        seconds=options.ingest_seconds,
        agents=options.ingest_agents,
        rounds=options.ingest_rounds,
        runs=[],
    )
    methods = tuple(METHODS)
    for repeat in range(1, options.ingest_rounds + 1):
        shift = (repeat - 1) % len(methods)
        for method in (*methods[shift:], *methods[:shift]):
            run = _run_once(server, admin, method, repeat, options)
            progress(
                f"ingest round {repeat}/{options.ingest_rounds} {method}: {run.tps:,.0f} tps, "
                f"HOT {run.hot_updates:,}/{run.updates:,}"
                + ("" if not run.problems else ", FAILED: " + "; ".join(run.problems))
            )
            result.runs.append(run)
    return result


def _run_once(
    server: LocalPostgres,
    admin: psycopg.Connection[Any],
    method: str,
    repeat: int,
    options: Options,
) -> IngestRun:
    agents_table = METHODS[method][1]
    with (
        clone(admin, TEMPLATE, f"ingest_r{repeat}_{method}") as name,
        psycopg.connect(server.url(name), autocommit=True) as conn,
    ):
        admin.execute("checkpoint")
        updates_before = one(conn.execute(UPDATES, (agents_table,)))
        output = pgbench(server, name, method, options, ["-T", str(options.ingest_seconds)])
        transactions = _number(output, r"number of transactions actually processed: (\d+)")
        updates_after = _settled_updates(conn, agents_table, updates_before)

    problems = []
    failed = re.search(r"number of failed transactions: (\d+)", output)
    if failed and int(failed.group(1)):
        problems.append(f"{failed.group(1)} transactions failed")
    updates = updates_after[0] - updates_before[0]
    if updates > transactions or updates < transactions * 0.9:
        problems.append(f"{updates:,} agent updates for {transactions:,} heartbeats")
    return IngestRun(
        method=method,
        repeat=repeat,
        transactions=int(transactions),
        tps=_number(output, r"tps = ([\d.]+) \(without initial connection time\)"),
        latency_ms=_number(output, r"latency average = ([\d.]+) ms"),
        updates=updates,
        hot_updates=updates_after[1] - updates_before[1],
        problems=problems,
    )


def pgbench(
    server: LocalPostgres, database: str, method: str, options: Options, length: list[str]
) -> str:
    """Run `method`'s script with pgbench; its report (stdout) or BenchmarkError."""
    command = [
        str(server.bindir / "pgbench"),
        "--no-vacuum",
        "--protocol=prepared",
        f"--client={options.ingest_clients}",
        f"--jobs={min(options.ingest_clients, os.cpu_count() or 1)}",
        f"--define=agents={options.ingest_agents}",
        f"--file={SQL_DIR / METHODS[method][0]}",
        f"--host={server.host}",
        f"--port={server.port}",
        f"--username={server.user}",
        *length,
        database,
    ]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=os.environ | {"PGPASSWORD": server.password},
        check=False,
    )
    if result.returncode != 0:
        raise BenchmarkError(f"pgbench {method} failed: {result.stderr.strip()[-500:]}")
    return result.stdout


def _settled_updates(
    conn: psycopg.Connection[Any], table: str, before: tuple[Any, ...]
) -> tuple[int, int]:
    """The table's update counters once pgbench's backends have reported them.

    A backend hands its counters to the statistics system when it exits; pgbench returns
    when it has closed its connections, which can be a moment before that. Read until two
    readings a quarter second apart agree (at most five seconds).
    """
    previous = None
    for _ in range(20):
        current = one(conn.execute(UPDATES, (table,)))
        if current == previous and current != before:
            break
        previous = current
        time.sleep(0.25)
    return int(current[0]), int(current[1])


def _number(output: str, pattern: str) -> float:
    match = re.search(pattern, output)
    if not match:
        raise BenchmarkError(f"pgbench printed no {pattern!r}: {output[-500:]}")
    return float(match.group(1))
