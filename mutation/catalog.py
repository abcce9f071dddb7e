"""Migrate a scratch database and print every definition fleetcron put in it, as JSON.

Run by mutation/run.py with the Python of a throwaway copy of the repository, so that the
migration applies that copy's (mutated) sql/ and migrations/. The definitions come back from the
catalog (pg_get_functiondef, pg_get_viewdef, ...), which is how the runner knows that a mutant
reached the database rather than sitting in a file no migration applies.

    python mutation/catalog.py DATABASE_URL
"""

from __future__ import annotations

import json
import sys

import psycopg

from deployer import migrate

DEFINITIONS = """
select 'function ' || p.oid::regprocedure::text, pg_catalog.pg_get_functiondef(p.oid)
  || coalesce(' -- acl ' || p.proacl::text, '')
from pg_catalog.pg_proc as p
where p.pronamespace = 'fleet'::regnamespace
  and p.prokind in ('f', 'p')
union all
select 'view ' || c.oid::regclass::text, pg_catalog.pg_get_viewdef(c.oid)
  || coalesce(' -- acl ' || c.relacl::text, '')
from pg_catalog.pg_class as c
where c.relnamespace = 'fleet'::regnamespace
  and c.relkind in ('v', 'm')
union all
select 'trigger ' || t.tgname || ' on ' || t.tgrelid::regclass::text,
       pg_catalog.pg_get_triggerdef(t.oid)
from pg_catalog.pg_trigger as t
join pg_catalog.pg_class as c
  on c.oid = t.tgrelid
where c.relnamespace = 'fleet'::regnamespace
  and not t.tgisinternal
union all
select 'constraint ' || k.conname || ' on ' || k.conrelid::regclass::text,
       pg_catalog.pg_get_constraintdef(k.oid)
from pg_catalog.pg_constraint as k
where k.connamespace = 'fleet'::regnamespace
union all
select 'index ' || i.indexrelid::regclass::text, pg_catalog.pg_get_indexdef(i.indexrelid)
from pg_catalog.pg_index as i
join pg_catalog.pg_class as c
  on c.oid = i.indrelid
where c.relnamespace = 'fleet'::regnamespace
union all
select 'column ' || a.attrelid::regclass::text || '.' || a.attname,
       pg_catalog.format_type(a.atttypid, a.atttypmod)
  || case when a.attnotnull then ' not null' else '' end
  || coalesce(' default ' || pg_catalog.pg_get_expr(d.adbin, d.adrelid), '')
from pg_catalog.pg_attribute as a
join pg_catalog.pg_class as c
  on c.oid = a.attrelid
left join pg_catalog.pg_attrdef as d
  on d.adrelid = a.attrelid
  and d.adnum = a.attnum
where c.relnamespace = 'fleet'::regnamespace
  and c.relkind in ('r', 'p')
  and a.attnum > 0
  and not a.attisdropped
union all
select 'table ' || c.oid::regclass::text, coalesce(c.relacl::text, '')
  || case when c.relrowsecurity then ' rls' else '' end
from pg_catalog.pg_class as c
where c.relnamespace = 'fleet'::regnamespace
  and c.relkind in ('r', 'p')
union all
select 'row fleet.config',
       (select (pg_catalog.to_jsonb(f) - 'updated_at')::text from fleet.config as f)
union all
select 'row fleet.job_locks',
       (select pg_catalog.string_agg(j.job, ',' order by j.job) from fleet.job_locks as j)
"""


def definitions(url: str) -> dict[str, str]:
    migrate.upgrade(url)
    with psycopg.connect(url) as conn:
        return dict(conn.execute(DEFINITIONS).fetchall())


if __name__ == "__main__":
    json.dump(definitions(sys.argv[1]), sys.stdout)
