"""GET /api/cron/check-stale — Vercel Cron, every 5 minutes: quiet agents go offline.

Authenticates the Authorization header against CRON_SECRET, then calls
fleet.run_check_stale() once. Everything but the job's name is in deployer/runtime/endpoint.py.
"""

from deployer.runtime.endpoint import CronEndpoint
from deployer.runtime.jobs import CHECK_STALE


class handler(CronEndpoint):  # noqa: N801 - the name Vercel's Python runtime looks for
    job = CHECK_STALE
