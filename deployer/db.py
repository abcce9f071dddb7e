"""Connections made the way every fleetcron door needs them, pooler or not.

prepare_threshold=None because Supavisor and PgBouncer in transaction mode cannot keep a
prepared statement between transactions; a connect timeout so an unreachable database fails
fast instead of eating the function's whole duration; and the provider's URL cleaned first.
"""

from __future__ import annotations

import psycopg

from deployer import dburl

CONNECT_TIMEOUT_SECONDS = 5


def connect(
    url: str,
    *,
    application_name: str = "fleetcron",
    autocommit: bool = False,
    connect_timeout: int = CONNECT_TIMEOUT_SECONDS,
) -> psycopg.Connection:
    clean, _dropped = dburl.normalize(url)
    return psycopg.connect(
        clean,
        autocommit=autocommit,
        prepare_threshold=None,
        connect_timeout=connect_timeout,
        application_name=application_name,
    )
