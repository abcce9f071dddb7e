"""make lint: plpgsql_check over every PL/pgSQL routine a deploy of fleetcron creates.

PostgreSQL checks a PL/pgSQL body only when a statement in it runs, so a misspelt column in a
branch the tests never reach ships. plpgsql_check compiles every statement of every routine in
fleet, dynamic SQL included where it can see the text. This script starts a throwaway server
with fleetcron's own helper, migrates it to head, adopts a pair of application tables shaped like
the README's (so the adopted-table trigger functions are attached to a table and checked
against it), and checks each routine: trigger functions against their table and its transition
tables. Any error or warning fails the lint unless KNOWN lists it with the reason it is not a
bug.
"""

from __future__ import annotations

import sys
from typing import NamedTuple

import psycopg

from deployer import migrate
from deployer.localpg import LocalPostgres

APP_TABLES = """
create table public.agents (
  id uuid primary key default gen_random_uuid(),
  status text not null default 'offline' check (status in ('online', 'offline')),
  last_seen timestamptz
);
create table public.heartbeats (
  id bigint generated always as identity primary key,
  agent_id uuid not null references public.agents,
  created_at timestamptz not null default now()
);
create index heartbeats_created_at_id_idx on public.heartbeats (created_at, id);
select fleet.adopt(
  agents => 'public.agents', agent_id => 'id', status => 'status', last_heartbeat => 'last_seen',
  heartbeats => 'public.heartbeats', heartbeat_time => 'created_at', heartbeat_agent => 'agent_id',
  record_transitions => true, touch_agents => true
);
"""

# Every PL/pgSQL routine in fleet, with the table its trigger is on (the first, for a function
# serving several) and the names of that trigger's transition tables.
ROUTINES = """
select
  p.oid,
  p.oid::pg_catalog.regprocedure::pg_catalog.text as routine,
  coalesce(t.tgrelid, 0) as relid,
  t.tgoldtable as old_table,
  t.tgnewtable as new_table
from pg_catalog.pg_proc as p
  join pg_catalog.pg_language as l on l.oid = p.prolang
  left join lateral (
    select tg.tgrelid, tg.tgoldtable, tg.tgnewtable
    from pg_catalog.pg_trigger as tg
    where tg.tgfoid = p.oid
    order by tg.oid
    limit 1
  ) as t on true
where p.pronamespace = 'fleet'::pg_catalog.regnamespace
  and l.lanname = 'plpgsql'
order by routine
"""

CHECK = """
select level, sqlstate, message, lineno, statement, detail
from public.plpgsql_check_function_tb(
  %(oid)s,
  relid => %(relid)s,
  oldtable => %(old_table)s,
  newtable => %(new_table)s,
  other_warnings => true,
  performance_warnings => false,
  extra_warnings => false,
  security_warnings => true
)
"""


class Finding(NamedTuple):
    routine: str
    level: str
    sqlstate: str
    message: str
    lineno: int | None
    statement: str | None
    detail: str | None

    def __str__(self) -> str:
        where = f" line {self.lineno} ({self.statement})" if self.lineno else ""
        detail = f": {self.detail}" if self.detail else ""
        return f"{self.routine}{where}: {self.level} {self.sqlstate} {self.message}{detail}"


# (routine, start of the message) -> why it is not a bug. Keep it short; fix what can be fixed
# in the routine's next version.
KNOWN: dict[tuple[str, str], str] = {
    (
        "fleet.purge_old_heartbeats_all(integer,interval,text,bigint,text,bigint,integer,boolean)",
        'record "step" is not assigned yet',
    ): "the NOTICE that reads step runs only once `announced` is false, i.e. after a step",
    (
        "fleet.partition_bound(text,text)",
        "target type is different type than source type",
    ): "'-infinity' and 'infinity' are literals, which PostgreSQL reads as timestamptz",
    (
        "fleet.maintain_heartbeat_partitions()",
        "target type is different type than source type",
    ): "'{}' is a literal, which PostgreSQL reads as an empty text[]",
}

# plpgsql_check cannot follow a text through format(): in these routines every %s it splices is
# a regclass or regtype (deparsed, quoted, schema-qualified by PostgreSQL) or a fragment that
# another fleet function builds with %I from catalog names; values go in with USING.
SPLICES_ONLY_CATALOG_NAMES = {
    "fleet.adopt(regclass,name,name,name,regclass,name,name,text,text,name,name,name,text,"
    "boolean,boolean)",
    "fleet.adopted_heartbeats_touch_agents()",
    "fleet.agent_counts()",
    "fleet.heartbeat_counts()",
    "fleet.mark_stale_agents(text,integer)",
    "fleet.purge_step_unvalidated(integer,regclass,text,text,regclass[])",
    "fleet.registration_problems(fleet.registration)",
    "fleet.run_check_stale(text,integer)",
    "fleet.stale_agents_now()",
}
KNOWN.update(
    {
        (routine, "text type variable is not sanitized"): "splices only catalog names"
        for routine in SPLICES_ONLY_CATALOG_NAMES
    }
)


def check(conn: psycopg.Connection) -> tuple[int, list[Finding]]:
    """How many routines were checked, and what plpgsql_check found in them."""
    findings = []
    routines = conn.execute(ROUTINES).fetchall()
    for oid, routine, relid, old_table, new_table in routines:
        params = {"oid": oid, "relid": relid, "old_table": old_table, "new_table": new_table}
        for row in conn.execute(CHECK, params).fetchall():
            findings.append(Finding(routine, *row))
    return len(routines), findings


def explains(known: tuple[str, str], finding: Finding) -> bool:
    routine, message = known
    return finding.routine == routine and finding.message.startswith(message)


def main() -> int:
    server = LocalPostgres.create()
    try:
        server.start()
        url = server.url()
        migrate.upgrade(url, "head")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("set search_path = pg_catalog, pg_temp")
            # fleet's pg_cron helpers read cron.job: check them against the real thing.
            conn.execute("create extension if not exists pg_cron")
            conn.execute("create extension plpgsql_check schema public")
            conn.execute(APP_TABLES)
            checked, findings = check(conn)
    finally:
        server.destroy()
    unexplained = [f for f in findings if not any(explains(k, f) for k in KNOWN)]
    # An entry that explains nothing any more would hide the same finding coming back.
    outdated = [k for k in KNOWN if not any(explains(k, f) for f in findings)]
    for finding in unexplained:
        print(finding)
    for routine, message in outdated:
        print(f"{routine}: no longer reports {message!r}: remove it from KNOWN")
    known = len(findings) - len(unexplained)
    print(f"plpgsql_check: {checked} routines, {len(unexplained)} findings, {known} known")
    return 1 if unexplained or outdated else 0


if __name__ == "__main__":
    sys.exit(main())
