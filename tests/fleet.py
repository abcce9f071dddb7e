"""Given-steps and read-backs for tests: put a fleet into a state in a few words, then look."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.rows import dict_row


class Fleet:
    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn

    def _rows(self, query: str, params: Any = None) -> list[dict[str, Any]]:
        with self.conn.cursor(row_factory=dict_row) as cur:
            cur.execute(query, params)
            return cur.fetchall()

    def value(self, query: str, params: Any = None) -> Any:
        return self.conn.execute(query, params).fetchone()[0]

    # -- given ----------------------------------------------------------------------------

    def register(self, name: str, stale_after: timedelta | None = None) -> UUID:
        return self.value("select id from fleet.register_agent(%s, %s)", (name, stale_after))

    def heartbeat(self, agent_id: UUID, payload: Any = None) -> dict[str, Any]:
        return self._rows(
            "select * from fleet.record_heartbeat(%s, %s::jsonb)",
            (agent_id, None if payload is None else psycopg.types.json.Jsonb(payload)),
        )[0]

    def online_agent(
        self, name: str, silent_for: timedelta, stale_after: timedelta | None = None
    ) -> UUID:
        """An agent that came online and has been silent for ``silent_for`` since."""
        agent_id = self.register(name, stale_after)
        self.heartbeat(agent_id)
        self.silence(agent_id, silent_for)
        return agent_id

    def silence(self, agent_id: UUID, silent_for: timedelta) -> None:
        """Pretend the agent's last heartbeat was ``silent_for`` ago."""
        self.conn.execute(
            "update fleet.agents set last_heartbeat = now() - %s where id = %s",
            (silent_for, agent_id),
        )

    def old_heartbeats(self, agent_id: UUID, *ages: timedelta) -> None:
        """Heartbeats that arrived ``age`` ago, one per age, in a single INSERT."""
        self.conn.execute(
            "insert into fleet.heartbeats (agent_id, created_at) "
            "select %s, now() - age from unnest(%s::interval[]) as age",
            (agent_id, list(ages)),
        )

    def heartbeat_series(
        self,
        agent_id: UUID,
        count: int,
        oldest: timedelta,
        spacing: timedelta = timedelta(seconds=1),
    ) -> None:
        """``count`` heartbeats, the first ``oldest`` ago and one every ``spacing`` after it."""
        self.conn.execute(
            "insert into fleet.heartbeats (agent_id, created_at) "
            "select %s, now() - %s + n * %s from generate_series(0, %s - 1) as n",
            (agent_id, oldest, spacing, count),
        )

    def configure(self, **settings: Any) -> None:
        assignments = sql.SQL(", ").join(
            sql.SQL("{} = {}").format(sql.Identifier(name), sql.Literal(value))
            for name, value in settings.items()
        )
        self.conn.execute(sql.SQL("update fleet.config set {}").format(assignments))

    # -- then -----------------------------------------------------------------------------

    def agent(self, agent_id: UUID) -> dict[str, Any]:
        return self._rows("select * from fleet.agents where id = %s", (agent_id,))[0]

    def status(self, agent_id: UUID) -> str:
        return self.agent(agent_id)["status"]

    def events(self, agent: Any = None) -> list[dict[str, Any]]:
        """Transitions, of one agent (by id, of any type) or of all."""
        return self._rows(
            "select * from fleet.agent_events "
            "where %(agent)s::text is null or agent_key = %(agent)s::text order by id",
            {"agent": None if agent is None else str(agent)},
        )

    def runs(self, job: str | None = None) -> list[dict[str, Any]]:
        return self._rows(
            "select * from fleet.job_runs where %(job)s::text is null or job = %(job)s order by id",
            {"job": job},
        )

    def heartbeat_count(self, older_than: timedelta | None = None) -> int:
        return self.value(
            "select count(*) from fleet.heartbeats "
            "where %(age)s::interval is null or created_at < now() - %(age)s",
            {"age": older_than},
        )

    def purge_all(self, **arguments: Any) -> dict[str, Any]:
        """CALL fleet.purge_old_heartbeats_all with named arguments; its report as a dict."""
        named = sql.SQL(", ").join(
            sql.SQL("{} => {}").format(sql.Identifier(name), sql.Literal(value))
            for name, value in arguments.items()
        )
        with self.conn.cursor(row_factory=dict_row) as cur:
            cur.execute(sql.SQL("call fleet.purge_old_heartbeats_all({})").format(named))
            return cur.fetchone()

    def heartbeat_ages(self) -> list[timedelta]:
        return [
            row["age"]
            for row in self._rows(
                "select now() - created_at as age from fleet.heartbeats order by created_at"
            )
        ]
