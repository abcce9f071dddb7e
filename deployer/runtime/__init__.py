"""What the Vercel functions run: the endpoint contract, the job runner and its connections.

Everything in this package depends on the standard library and psycopg only, because it is
uploaded with api/cron/*.py and imported there (a test enforces it). The rest of ``deployer``
is the operator's tooling (CLI, doctor, local PostgreSQL, migrations) and is never uploaded.
"""
