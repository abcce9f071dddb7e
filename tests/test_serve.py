"""fleetcron serve: the api/ functions on localhost, answering curl before any deploy."""

import json
import os
import re
import socket
import struct
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from deployer.localpg import free_port
from tests.api import Api
from tests.cli import fleetcron, one_error_line
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


# -- the secret ---------------------------------------------------------------------------------


def test_without_a_secret_it_prints_a_curl_command_that_works_as_pasted(serve, fleet):
    _, output = serve()
    [command] = [
        line.split("try: ", 1)[1] for line in output.read_text().splitlines() if "try: " in line
    ]
    shell = {name: value for name, value in os.environ.items() if name != "CRON_SECRET"}

    pasted = subprocess.run(
        ["bash", "-c", command], env=shell, capture_output=True, text=True, timeout=30
    )

    assert json.loads(pasted.stdout)["outcome"] == "ok", pasted.stdout + pasted.stderr


def test_a_blank_secret_counts_as_unset_so_it_makes_one_up(serve):
    api, output = serve(CRON_SECRET="   ")

    api.secret = re.search(r"this server uses: (\S+)", output.read_text()).group(1)

    assert api.call("/api/cron/check-stale").status == 200


def test_a_secret_shorter_than_doctor_allows_is_refused(db_url, tmp_path):
    result = fleetcron(
        "serve",
        "--port",
        str(free_port()),
        home=tmp_path,
        DATABASE_URL=db_url,
        CRON_SECRET="  hunter2  ",
        timeout=30,
    )

    line = one_error_line(result)
    assert "CRON_SECRET" in line and "16" in line
    assert "hunter2" not in line


# -- HTTP edges, answered the way Vercel's edge would ----------------------------------------------


def raw_exchange(api: Api, request: bytes) -> bytes:
    """Send bytes as given and read until the server closes the connection."""
    with socket.create_connection((api.host, api.port), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


@pytest.mark.parametrize(
    ("request_line", "status"),
    [
        (b"GET /api/cron/check-stale\r\n", b"505"),
        (b"GET /api/cron/check-stale HTTP/2.0\r\n\r\n", b"505"),
        (b"GET /api/cron/check-stale FOO/1.1\r\n\r\n", b"400"),
        (b"NONSENSE\r\n\r\n", b"400"),
        (b"GET /nope HTTP/1.1 extra\r\n\r\n", b"400"),
    ],
    ids=["HTTP/0.9", "HTTP/2.0", "not HTTP", "one word", "four words"],
)
def test_a_request_line_it_cannot_serve_gets_a_status_line_and_json(
    api, capfd, request_line, status
):
    response = raw_exchange(api, request_line)

    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 " + status + b" "), response
    assert "error" in json.loads(body)
    assert "Traceback" not in capfd.readouterr().err


def test_a_client_that_resets_the_connection_leaves_no_traceback(serve):
    api, output = serve(CRON_SECRET=CRON_SECRET)

    for sent in (b"", b"GET /api/cron/check-stale HTTP/1.1\r\n"):
        with socket.create_connection((api.host, api.port)) as sock:
            sock.sendall(sent)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    answered = api.call("/api/cron/check-stale", authorization=None)

    assert answered.status == 401
    assert "Traceback" not in output.read_text()


def test_a_double_slash_is_redirected_to_the_clean_path_as_vercel_does(api):
    response = api.call("//api/cron/check-stale?x=1")

    assert response.status == 308
    assert response.header("Location") == "/api/cron/check-stale?x=1"


def test_a_double_slash_in_another_method_reaches_the_function(api):
    response = api.call("/api//cron/check-stale", method="POST")

    assert (response.status, response.header("Allow")) == (405, "GET, HEAD")
