"""Everything fleetcron put in a database, as rows that two databases can be compared by."""

from pathlib import Path

import psycopg

CATALOG_SNAPSHOT = (Path(__file__).parent / "sql" / "catalog_snapshot.sql").read_text()


def catalog(url):
    with psycopg.connect(url) as conn:
        return conn.execute(CATALOG_SNAPSHOT).fetchall()
