"""fleetcron serve: the api/ functions on localhost, answering curl before any deploy."""

import os
import re
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from deployer.localpg import free_port
from tests.api import Api
from tests.conftest import CRON_SECRET

FLEETCRON = str(Path(sys.executable).parent / "fleetcron")


@pytest.fixture
def serve(db_url, tmp_path):
    """Start `fleetcron serve` with the given environment; yields (Api, output file)."""
    started = []

    def start(**env):
        port = free_port()
        output = tmp_path / f"serve-{port}.log"
        environment = {**os.environ, "DATABASE_URL": db_url, "CRON_SECRET": "", **env}
        with output.open("w") as sink:
            process = subprocess.Popen(
                [FLEETCRON, "serve", "--port", str(port)],
                env=environment,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        started.append(process)
        deadline = time.monotonic() + 20
        while "try: curl" not in output.read_text():
            assert process.poll() is None, output.read_text()
            assert time.monotonic() < deadline, output.read_text()
            time.sleep(0.05)
        return Api(f"http://127.0.0.1:{port}", env.get("CRON_SECRET", "")), output

    yield start
    for process in started:
        process.terminate()
        process.wait(10)


def test_curl_with_the_secret_marks_a_stale_agent_offline(serve, fleet):
    quiet = fleet.online_agent("quiet", silent_for=timedelta(minutes=6))
    api, _ = serve(CRON_SECRET=CRON_SECRET)

    response = api.call("/api/cron/check-stale")

    assert (response.status, response.body["rows_affected"]) == (200, 1)
    assert fleet.status(quiet) == "offline"
    assert fleet.runs()[0]["triggered_by"] == "vercel"


def test_it_lists_the_routes_and_how_to_call_them(serve):
    _, output = serve(CRON_SECRET=CRON_SECRET)

    text = output.read_text()
    assert re.search(r"GET http://127\.0\.0\.1:\d+/api/cron/check-stale", text)
    assert re.search(r"GET http://127\.0\.0\.1:\d+/api/cron/cleanup-heartbeats", text)


def test_without_a_secret_it_makes_one_up_and_prints_it(serve):
    api, output = serve()

    secret = re.search(r"this server uses: (\S+)", output.read_text()).group(1)
    api.secret = secret

    assert len(secret) >= 16
    assert api.call("/api/cron/cleanup-heartbeats").status == 200
    assert api.call("/api/cron/cleanup-heartbeats", authorization=None).status == 401


def test_an_unknown_path_is_a_404(serve):
    api, _ = serve(CRON_SECRET=CRON_SECRET)

    response = api.call("/api/cron/nope")

    assert (response.status, response.body["error"]) == (404, "not found")
    assert response.header("Cache-Control") == "no-store"
