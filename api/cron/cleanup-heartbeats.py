"""GET /api/cron/cleanup-heartbeats — Vercel Cron, nightly: delete expired heartbeats.

Authenticates the Authorization header against CRON_SECRET, then calls
fleet.purge_old_heartbeats_all() once, with a time budget below the function's maxDuration
(FLEETCRON_PURGE_TIME_BUDGET_SECONDS, default 240). Everything else is in
deployer/runtime/endpoint.py.
"""

from deployer.runtime.endpoint import CronEndpoint
from deployer.runtime.jobs import CLEANUP_HEARTBEATS


class handler(CronEndpoint):  # noqa: N801 - the name Vercel's Python runtime looks for
    job = CLEANUP_HEARTBEATS
