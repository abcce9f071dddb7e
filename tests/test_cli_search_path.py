"""The CLI's own queries never resolve a function or operator through a writable schema.

A role that may create objects in ``public`` (PostgreSQL 14 and older let everyone) plants
operators and functions that are better matches for the CLI's catalog queries than the
built-ins. Each planted object records that it was called; the CLI must call none of them.
"""

import pytest
from psycopg import sql

from tests.cli import fleetcron
from tests.conftest import CRON_LOGIN, ROLE_PASSWORD, TEST_DATABASE

PLANTED_OPERATORS = ("regclass", "regprocedure", "regnamespace")


@pytest.fixture
def hostile_public(db):
    """public holds better matches than pg_catalog for what catalog queries use."""
    db.execute(
        """
        create table public.planted_calls (called text);
        grant insert on public.planted_calls to public;
        create function public.acldefault(kind text, owner oid) returns aclitem[]
        language plpgsql as $$
        begin
          insert into public.planted_calls values ('acldefault(text, oid)');
          return pg_catalog.acldefault(kind::"char", owner);
        end $$;
        create function public.format(template text, arg text) returns text
        language plpgsql as $$
        begin
          insert into public.planted_calls values ('format(text, text)');
          return pg_catalog.format(template, arg);
        end $$;
        """
    )
    for regtype in PLANTED_OPERATORS:
        function = sql.Identifier("public", f"planted_eq_{regtype}")
        db.execute(
            sql.SQL(
                """
                create function {function}(a oid, b {regtype}) returns boolean
                language plpgsql as $$
                begin
                  insert into public.planted_calls values ({called});
                  return a operator(pg_catalog.=) b::oid;
                end $$;
                create operator public.= (
                  leftarg = oid, rightarg = {regtype}, function = {function}
                );
                """
            ).format(
                function=function,
                regtype=sql.Identifier(regtype),
                called=sql.Literal(f"=(oid, {regtype})"),
            )
        )

    def called() -> list[str]:
        return [row[0] for row in db.execute("select called from public.planted_calls")]

    return called


@pytest.fixture
def cron_login_url(pg_server):
    return pg_server.url(TEST_DATABASE, user=CRON_LOGIN, password=ROLE_PASSWORD)


@pytest.mark.parametrize(
    "command", [["doctor"], ["status"], ["db", "current"]], ids=["doctor", "status", "db current"]
)
def test_cli_commands_call_nothing_planted_in_public(
    hostile_public, cron_login_url, tmp_path, command
):
    result = fleetcron(*command, home=tmp_path, DATABASE_URL=cron_login_url)

    assert "Traceback" not in result.stderr
    assert hostile_public() == []


def test_the_planted_operators_are_what_an_unpinned_query_would_call(hostile_public, connect):
    reader = connect(CRON_LOGIN)

    reader.execute(
        "select count(*) from pg_proc where pronamespace = 'pg_catalog'::regnamespace "
        "and oid = 'pg_catalog.now()'::regprocedure"
    )

    assert sorted(set(hostile_public())) == ["=(oid, regnamespace)", "=(oid, regprocedure)"]
