"""What a `python -m benchmarks.scale` run measures, and at which sizes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SECTIONS = ("purge", "night", "stale", "ingest")


@dataclass(frozen=True)
class Options:
    sections: tuple[str, ...] = SECTIONS
    repeat: int = 3
    # 1. purge: `purge_days` days expired and one kept, `purge_rows_per_day` each day.
    purge_rows_per_day: int = 2_000_000
    purge_days: int = 2
    # Heartbeats from this many agents; the concurrent ingestion beats for them too.
    agents: int = 1_000
    # Rows per batch for the cleanup job; None: its default, fleet.config.purge_batch_size.
    batch: int | None = None
    # Heartbeats per second inserted while each purge runs (and for a while before it).
    ingest_rate: int = 200
    # 2. steady-state night: 31 days of heartbeats, one of them expired.
    night_rows_per_day: int = 100_000
    # 3. stale check: fleets of these sizes with `stale_fraction` quiet, a mass outage of
    # `outage_agents` (all quiet), and one of `big_outage_agents`, larger than one run's batch.
    stale_sizes: tuple[int, ...] = (10_000, 100_000, 1_000_000)
    stale_fraction: float = 0.01
    outage_agents: int = 100_000
    big_outage_agents: int = 1_000_000
    # Agents per check-stale run; None: its default, fleet.config.stale_batch_size.
    stale_batch: int | None = None
    # 4. ingestion: pgbench clients for this many seconds per method and round, over this many
    # agents. Throughput is the noisiest figure on a shared machine, so it gets more rounds
    # (each method once per round, the order rotated) than the other sections get repeats.
    ingest_agents: int = 10_000
    ingest_clients: int = 4
    ingest_seconds: int = 6
    ingest_rounds: int = 5
    # The server.
    autovacuum: bool = False
    settings: tuple[tuple[str, str], ...] = (("shared_buffers", "1GB"),)
    json_path: Path | None = None
    markdown_path: Path | None = None
