"""Watchers that run beside a measured purge, each on its own connection and thread.

- Ingestion: heartbeats inserted at a steady rate, each one's latency recorded, so a purge's
  cost to the writers (lock waits, I/O, CPU) shows as their p99.
- LongestTransaction: samples pg_stat_activity for the purge's backend and keeps, for every
  transaction it saw, how long it had been open; the longest is the purge's longest
  transaction, to within one sampling interval.

The main thread spends a measured purge waiting on its socket (psycopg releases the GIL), so
these threads get the interpreter when they need it.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from benchmarks.common import percentile

SAMPLE_INTERVAL = 0.005
PAYLOAD = Jsonb({"cpu": 42, "mem": 17, "version": "1.4.2"})


class Ingestion(threading.Thread):
    """Inserts one heartbeat every 1/rate seconds into `heartbeats`, round robin over agents.

    Latency runs from when an insert was due, not from when it was sent: when one insert waits
    a second behind a lock, the ones due meanwhile count that wait too (as the agents sending
    them would), instead of quietly starting late (coordinated omission). Every insert is kept
    as (due, done) on the perf_counter clock; the caller then asks for the p99 of those that
    overlap a window (the purge) or lie wholly before it (the baseline).
    """

    def __init__(
        self, url: str, heartbeats: sql.Composable, agents: list[uuid.UUID], rate: int
    ) -> None:
        super().__init__(name="ingestion", daemon=True)
        self.url = url
        self.statement = sql.SQL("insert into {} (agent_id, payload) values (%s, %s)").format(
            heartbeats
        )
        self.agents = agents
        self.interval = 1.0 / rate
        self.stopping = threading.Event()
        self.samples: list[tuple[float, float]] = []
        self.errors: list[str] = []

    @property
    def inserted(self) -> int:
        return len(self.samples)

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            due = time.perf_counter()
            number = 0
            while not self.stopping.is_set():
                wait = due - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                agent = self.agents[number % len(self.agents)]
                try:
                    conn.execute(self.statement, (agent, PAYLOAD))
                except psycopg.Error as error:
                    self.errors.append(str(error).strip())
                else:
                    self.samples.append((due, time.perf_counter()))
                number += 1
                due += self.interval

    def stop(self) -> None:
        self.stopping.set()
        self.join()

    def p99_ms(self, start: float, end: float) -> float | None:
        """p99 latency of the inserts in flight at any moment of [start, end]."""
        return _p99_ms([done - due for due, done in self.samples if done >= start and due <= end])

    def p99_before_ms(self, start: float, end: float) -> float | None:
        """p99 latency of the inserts due and done within [start, end]."""
        return _p99_ms([done - due for due, done in self.samples if due >= start and done <= end])


def _p99_ms(latencies: list[float]) -> float | None:
    value = percentile(latencies, 0.99)
    return None if value is None else value * 1000


class LongestTransaction(threading.Thread):
    """Samples how long the transaction of backend `pid` has been open, every few ms."""

    def __init__(self, url: str, pid: int) -> None:
        super().__init__(name="longest-transaction", daemon=True)
        self.url = url
        self.pid = pid
        self.stopping = threading.Event()
        self.last_seen: dict[datetime, datetime] = {}

    def run(self) -> None:
        query = "select xact_start, clock_timestamp() from pg_stat_activity where pid = %s"
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stopping.is_set():
                row: Any = conn.execute(query, (self.pid,)).fetchone()
                if row and row[0] is not None:
                    self.last_seen[row[0]] = row[1]
                time.sleep(SAMPLE_INTERVAL)

    def stop(self) -> None:
        self.stopping.set()
        self.join()

    @property
    def transactions(self) -> int:
        return len(self.last_seen)

    @property
    def longest_seconds(self) -> float:
        return max(
            ((seen - started).total_seconds() for started, seen in self.last_seen.items()),
            default=0.0,
        )
