"""Template databases for the scale benchmark: heartbeats in two layouts, fleets of agents.

Every run gets a fresh copy of a template (benchmarks.common.clone), so every method starts
from the same pages. Agents are bench-agent-1 .. N with ids md5 of the name, so the seed,
the ingestion thread and the pgbench scripts all derive an agent's id from its number.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

from benchmarks.common import (
    BenchmarkError,
    Progress,
    create_database,
    mark_template,
    one,
    read_sql,
)
from deployer import migrate
from deployer.localpg import LocalPostgres

# Partitioned: fleetcron's own fleet.heartbeats; plain: an unpartitioned copy, adopted.
PARTITIONED = "partitioned"
PLAIN = "plain"
LAYOUTS = (PARTITIONED, PLAIN)
TABLES = {
    PARTITIONED: (sql.Identifier("fleet", "agents"), sql.Identifier("fleet", "heartbeats")),
    PLAIN: (sql.Identifier("bench", "agents"), sql.Identifier("bench", "heartbeats")),
}
# No heartbeat (or agent's last heartbeat) lies in this window after a cutoff, so a cutoff
# that moves on with now() while a run goes crosses no row.
QUIET = timedelta(hours=1)
STALE_QUIET = timedelta(minutes=1)
DAY = timedelta(days=1)


def agent_id(number: int) -> uuid.UUID:
    """The id of bench-agent-<number>, as md5('bench-agent-' || n)::uuid makes it in SQL."""
    digest = hashlib.md5(f"bench-agent-{number}".encode(), usedforsecurity=False)
    return uuid.UUID(digest.hexdigest())


def on_tables(layout: str, query: str) -> sql.Composed:
    """A benchmarks/sql query naming {agents} and {heartbeats}, on `layout`'s tables."""
    agents, heartbeats = TABLES[layout]
    return sql.SQL(query).format(agents=agents, heartbeats=heartbeats)


def utc_midnight(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class HeartbeatSeed:
    """Identical heartbeats in both layouts, `expired` of them older than `cutoff`."""

    name: str
    cutoff: datetime
    expired_from: datetime
    kept_until: datetime
    expired: int
    kept: int
    agents: int
    seconds: float

    def template(self, layout: str) -> str:
        return f"{self.name}_{layout}"


def seed_heartbeats(
    server: LocalPostgres,
    name: str,
    *,
    expired_from: datetime,
    cutoff: datetime,
    kept_until: datetime,
    expired: int,
    kept: int,
    agents: int,
    progress: Progress,
) -> HeartbeatSeed:
    """Two templates, `<name>_partitioned` and `<name>_plain`, holding the same heartbeats.

    Both are seeded at once, one per core: each is one statement in one backend.
    """
    started = time.perf_counter()
    seed = HeartbeatSeed(
        name=name,
        cutoff=cutoff,
        expired_from=expired_from,
        kept_until=kept_until,
        expired=expired,
        kept=kept,
        agents=agents,
        seconds=0.0,
    )
    progress(f"seeding {name}: {expired + kept:,} heartbeats of {agents:,} agents, per layout")
    # One after the other: migrations create cluster-wide roles, which two at once lock out.
    with psycopg.connect(server.url("postgres"), autocommit=True) as admin:
        for layout in LAYOUTS:
            create_database(admin, seed.template(layout))
            migrate.upgrade(server.url(seed.template(layout)))
    with ThreadPoolExecutor(max_workers=len(LAYOUTS)) as pool:
        for done in [pool.submit(_seed_layout, server, seed, layout) for layout in LAYOUTS]:
            done.result()
    return replace(seed, seconds=time.perf_counter() - started)


def _seed_layout(server: LocalPostgres, seed: HeartbeatSeed, layout: str) -> None:
    template = seed.template(layout)
    url = server.url(template)
    with psycopg.connect(url) as conn:
        if layout == PARTITIONED:
            _day_partitions(conn, seed.expired_from)
        else:
            conn.execute(read_sql("scale_plain_tables.sql"))
            conn.execute(read_sql("scale_adopt_plain.sql"))
        # The seed is not what is measured: no trigger (heartbeat trigger, foreign keys) for
        # the bulk insert; the agents are inserted as the trigger would leave them.
        conn.execute("set local session_replication_role = replica")
        _insert_agents(conn, layout, seed.agents, stale=0.0, cutoff=seed.kept_until - QUIET)
        conn.execute(
            on_tables(layout, read_sql("scale_seed_heartbeats.sql")),
            {
                "rows": seed.expired + seed.kept,
                "expired": seed.expired,
                "agents": seed.agents,
                "expired_from": seed.expired_from,
                "cutoff": seed.cutoff,
                "kept_until": seed.kept_until,
                "quiet_seconds": QUIET.total_seconds(),
            },
        )
    with psycopg.connect(url, autocommit=True) as conn:
        # Every clone is a copy of this, so its rows are counted here, once.
        conn.execute(read_sql("pin_cutoff.sql"), {"cutoff": seed.cutoff})
        counted = one(conn.execute(on_tables(layout, read_sql("count_by_cutoff.sql"))))[:2]
        if counted != (seed.expired, seed.kept):
            raise BenchmarkError(
                f"{template} holds {counted[0]:,} expired and {counted[1]:,} kept heartbeats; "
                f"the seed laid out {seed.expired:,} and {seed.kept:,}"
            )
    with psycopg.connect(server.url("postgres"), autocommit=True) as admin:
        finish_template(server, admin, template)


@dataclass(frozen=True)
class FleetSeed:
    """A template with `agents` online agents, `stale` of them silent since before `cutoff`."""

    template: str
    agents: int
    stale: int
    cutoff: datetime


def seed_fleet(
    server: LocalPostgres,
    admin: psycopg.Connection[Any],
    template: str,
    agents: int,
    stale_fraction: float,
    progress: Progress,
) -> FleetSeed:
    progress(f"seeding {template}: {agents:,} agents, {stale_fraction:.0%} of them quiet")
    create_database(admin, template)
    url = server.url(template)
    migrate.upgrade(url)
    with psycopg.connect(url) as conn:
        # The cutoff the stock stale_after (5 minutes) gives now; clones pin theirs to it.
        stale_after = one(conn.execute("select stale_after from fleet.config"))[0]
        cutoff = one(conn.execute("select now()"))[0] - stale_after
        _insert_agents(conn, "partitioned", agents, stale=stale_fraction, cutoff=cutoff)
        conn.execute(read_sql("scale_churn_agents.sql"))
        stale = one(conn.execute(read_sql("count_stale.sql")))[0]
        # The agents table of a live fleet is in cache; pg_prewarm puts a clone's there.
        conn.execute("create extension pg_prewarm")
    finish_template(server, admin, template)
    return FleetSeed(template=template, agents=agents, stale=stale, cutoff=cutoff)


def seed_ingest(
    server: LocalPostgres,
    admin: psycopg.Connection[Any],
    template: str,
    agents: int,
    progress: Progress,
) -> None:
    """fleetcron's tables (daily partitions from today) and their untriggered copies.

    Left open: benchmarks.scale.ingest warms it up before it calls finish_template.
    """
    progress(f"seeding {template}: {agents:,} agents, with untriggered copies")
    create_database(admin, template)
    url = server.url(template)
    migrate.upgrade(url)
    with psycopg.connect(url) as conn:
        now = one(conn.execute("select now()"))[0]
        _day_partitions(conn, now)
        _insert_agents(conn, "partitioned", agents, stale=0.0, cutoff=now - STALE_QUIET)
        conn.execute(read_sql("scale_bare_tables.sql"))


def _day_partitions(conn: psycopg.Connection[Any], first_day: datetime) -> None:
    # Two statements with a parameter: bound on the client, sent as one script.
    psycopg.ClientCursor(conn).execute(
        read_sql("scale_day_partitions.sql"), {"first_day": first_day}
    )


def _insert_agents(
    conn: psycopg.Connection[Any], layout: str, agents: int, stale: float, cutoff: datetime
) -> None:
    newest = one(conn.execute("select now()"))[0]
    conn.execute(
        on_tables(layout, read_sql("scale_seed_agents.sql")),
        {
            "agents": agents,
            "stale": stale,
            "cutoff": cutoff,
            "quiet_seconds": STALE_QUIET.total_seconds(),
            "newest": max(newest, cutoff + STALE_QUIET),
        },
    )


def finish_template(server: LocalPostgres, admin: psycopg.Connection[Any], template: str) -> None:
    """VACUUM (ANALYZE): every clone starts all-visible, with statistics; mark it a template."""
    with psycopg.connect(server.url(template), autocommit=True) as conn:
        conn.execute("vacuum (analyze)")
    mark_template(admin, template)
