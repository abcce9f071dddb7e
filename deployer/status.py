"""What `fleetcron status` shows, read from the summary views (readable by fleet_cron)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from deployer import db

STALE_AGENTS_SHOWN = 20
RECENT_RUNS_SHOWN = 10


@dataclass
class Status:
    agents: dict[str, Any]
    stale_agents: list[dict[str, Any]]
    heartbeats: dict[str, Any]
    jobs: list[dict[str, Any]]
    recent_runs: list[dict[str, Any]]


def read(url: str) -> Status:
    with db.connect(url) as conn, conn.cursor(row_factory=dict_row) as cur:
        return Status(
            agents=_one(cur, "select * from fleet.agent_summary"),
            stale_agents=_all(
                cur,
                "select name, last_heartbeat, silent_for, stale_after from fleet.stale_agents "
                "order by silent_for desc limit %s",
                (STALE_AGENTS_SHOWN,),
            ),
            heartbeats=_one(cur, "select * from fleet.heartbeat_summary"),
            jobs=_all(cur, "select * from fleet.job_summary"),
            recent_runs=_all(
                cur, "select * from fleet.recent_job_runs limit %s", (RECENT_RUNS_SHOWN,)
            ),
        )


def expired_heartbeats(url: str) -> tuple[int, bool]:
    """The cleanup backlog: expired rows (counted up to a million) and whether that is exact."""
    with db.connect(url) as conn:
        return conn.execute("select expired, expired_exact from fleet.heartbeat_summary").fetchone()


def _one(cur: psycopg.Cursor, query: str) -> dict[str, Any]:
    return cur.execute(query).fetchone()


def _all(cur: psycopg.Cursor, query: str, params: tuple = ()) -> list[dict[str, Any]]:
    return cur.execute(query, params).fetchall()
