"""Vercel's build and runtime, run here: the pinned CLI builds, vercel-runtime serves.

Everything Vercel-specific is Vercel's published code, installed by scripts/setup-vercel:

- which files a deployment uploads: @vercel/client's ``buildFileTree`` (upload-set.mjs);
- which framework preset Vercel detects: @vercel/fs-detectors (detect-framework.mjs);
- the build: ``vercel build`` of the pinned CLI, which runs @vercel/python (uv) and writes the
  Build Output API directory ``.vercel/output`` that ``vercel deploy --prebuilt`` uploads;
- serving: each function's own files under vercel-runtime, the Python runtime the builder puts
  into every function, spoken to over its IPC socket the way Vercel's function host does.

Only the host is emulated: AWS Lambda's start (import the handler module from the function's
root with the environment of ``.vc-config.json``) and the platform's end of the IPC socket
(vercel_runtime/vc_init.py: ``server-started`` with the HTTP port, then ``log`` and ``end``
messages per request, keyed by the ``x-vercel-internal-*`` ids the platform sends).
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import itertools
import json
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PROJECT_ROOT = HERE.parent.parent
NODE_MODULES = HERE / "node_modules"
VENV = HERE / ".venv"
# The interpreters a function may run on, by Vercel runtime name: 3.12 in the venv with uv and
# vercel-runtime, 3.13 in a bare one (scripts/setup-vercel).
VENVS = {"python3.12": VENV, "python3.13": HERE / ".venv313"}
VERCEL_CLI = NODE_MODULES / "vercel" / "dist" / "vc.js"
# The builder keeps uv's cache under the project it builds; pointing that at one folder here
# spares every build the downloads of the one before.
UV_CACHE = HERE / ".cache" / "uv"

# What a build may see of this machine's environment: the network and locale settings, never
# VERCEL_*, PYTHON* or a virtualenv of the caller's, which would change what the builder does.
PASSED_ENVIRONMENT = ("HOME", "LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE", "SSL_CERT_DIR")
PASSED_ENVIRONMENT_SUFFIXES = ("_proxy", "_PROXY")

START_TIMEOUT_SECONDS = 30
REQUEST_TIMEOUT_SECONDS = 60


class ToolsMissing(RuntimeError):
    pass


class BuildFailed(RuntimeError):
    pass


def check_tools() -> None:
    """The pinned tools are installed, or a ToolsMissing that says how to install them."""
    needed = [VERCEL_CLI, VENV / "bin" / "uv", *(venv / "pyvenv.cfg" for venv in VENVS.values())]
    missing = [path for path in needed if not path.exists()]
    if missing:
        names = ", ".join(str(path.relative_to(PROJECT_ROOT)) for path in missing)
        raise ToolsMissing(f"missing {names}: run scripts/setup-vercel (make test does)")


def upload_set(project: Path) -> list[str]:
    """The files ``vercel deploy`` uploads from ``project``, as posix paths relative to it."""
    return _node("upload-set.mjs", project)


def detected_preset(project: Path) -> str | None:
    """The framework preset Vercel detects in ``project``; None is "Other"."""
    return _node("detect-framework.mjs", project)


def copy_files(source: Path, target: Path, files: list[str]) -> None:
    for name in files:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / name, target / name)


def vercel_build(
    project: Path, *, preset: str | None, first_deployment: bool, cron_secret: str
) -> Build:
    """``vercel build`` in ``project``, linked to a project whose framework setting is ``preset``.

    ``first_deployment`` sets VERCEL_FIRST_DEPLOYMENT=1, as Vercel's build does on a project's
    first deployment (the CLI then detects a framework the settings lack). CRON_SECRET is what
    the build validates when vercel.json has crons.
    """
    link = {"projectId": "prj_fleetcron_ci", "orgId": "team_fleetcron_ci"}
    settings = {"framework": preset}
    (project / ".vercel").mkdir(exist_ok=True)
    (project / ".vercel" / "project.json").write_text(json.dumps(link | {"settings": settings}))
    uv_cache = project / ".vercel" / "python" / "cache" / "uv"
    uv_cache.parent.mkdir(parents=True, exist_ok=True)
    UV_CACHE.mkdir(parents=True, exist_ok=True)
    uv_cache.symlink_to(UV_CACHE, target_is_directory=True)
    # The builder also keeps the last uv.lock there and resolves against it next time; share
    # the downloads only, so every build resolves requirements.txt afresh, as a first deploy.
    for cached_lock in UV_CACHE.glob("uv.lock*"):
        cached_lock.unlink()

    env = _build_environment() | {"CRON_SECRET": cron_secret}
    if first_deployment:
        env["VERCEL_FIRST_DEPLOYMENT"] = "1"
    result = subprocess.run(
        [_which("node"), str(VERCEL_CLI), "build", "--yes"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    log = result.stdout + result.stderr
    if result.returncode != 0:
        raise BuildFailed(f"vercel build exited {result.returncode}:\n{log[-4000:]}")
    return Build(project, log)


@dataclass(frozen=True)
class Build:
    """What ``vercel build`` wrote: the Build Output API directory, read as Vercel reads it."""

    project: Path
    log: str

    @property
    def output(self) -> Path:
        return self.project / ".vercel" / "output"

    def functions(self) -> dict[str, dict[str, Any]]:
        """Each function's path (``api/cron/check-stale``) and its .vc-config.json."""
        root = self.output / "functions"
        return {
            str(config.parent.relative_to(root)).removesuffix(".func"): json.loads(
                config.read_text()
            )
            for config in sorted(root.rglob("*.func/.vc-config.json"))
        }

    def function_files(self, function: str) -> set[str]:
        """Every file the deployed function holds, by its path inside the function."""
        own = self.output / "functions" / f"{function}.func"
        inside = {str(path.relative_to(own)) for path in own.rglob("*") if path.is_file()}
        return (inside - {".vc-config.json"}) | set(self.functions()[function]["filePathMap"])

    def source_files(self, function: str) -> set[str]:
        """The function's files that came from the project, not from installed packages."""
        return {name for name in self.function_files(function) if not name.startswith("_vendor/")}

    def distributions(self, function: str) -> dict[str, str]:
        """The Python distributions installed into the function: normalized name -> version."""
        found = {}
        for name in self.function_files(function):
            top = name.split("/")[1] if name.startswith("_vendor/") else ""
            if top.endswith(".dist-info") and name.endswith("/METADATA"):
                distribution, version = top.removesuffix(".dist-info").rsplit("-", 1)
                found[distribution.lower().replace("_", "-")] = version
        return found

    def static_files(self) -> set[str]:
        static = self.output / "static"
        return {str(path.relative_to(static)) for path in static.rglob("*") if path.is_file()}

    def config(self) -> dict[str, Any]:
        return json.loads((self.output / "config.json").read_text())

    def builds(self) -> dict[str, Any]:
        return json.loads((self.output / "builds.json").read_text())

    def materialize(self, function: str, target: Path) -> Path:
        """The function as deployed: its .func directory plus the files its filePathMap names
        (a prebuilt upload sends those from the project; Vercel puts them into /var/task)."""
        shutil.copytree(self.output / "functions" / f"{function}.func", target)
        for inside, source in self.functions()[function]["filePathMap"].items():
            (target / inside).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(self.project / source, target / inside)
        return target


@dataclass
class Invocation:
    """One request to a function: the response, and the log lines the runtime attributed to it."""

    status: int
    headers: dict[str, str]
    body: Any
    logs: list[str] = field(default_factory=list)

    def log_records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.logs if line.startswith("{")]


class RunningFunction:
    """A built function running under vercel-runtime, reached the way Vercel's host reaches it."""

    def __init__(self, root: Path, environment: dict[str, str]) -> None:
        self.root = root
        config = json.loads((root / ".vc-config.json").read_text())
        self.runtime = config["runtime"]
        self._folder = Path(tempfile.mkdtemp(prefix="vc-ipc-"))
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(self._folder / "ipc.sock"))
        self._listener.listen(1)
        self._listener.settimeout(START_TIMEOUT_SECONDS)
        self._stderr = (self._folder / "stderr").open("w+")
        handler_module = config["handler"].rsplit(".", 1)[0]
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"} | config["environment"] | environment
        # The interpreter .vc-config.json names; -S, so that its own site-packages cannot stand
        # in for anything the function lacks: like Lambda's, its path is the function root
        # (cwd) and PYTHONPATH=_vendor.
        python = VENVS[self.runtime] / "bin" / "python"
        self._process = subprocess.Popen(
            [str(python), "-S", "-c", f"import {handler_module}"],
            cwd=root,
            env=env | {"VERCEL_IPC_PATH": str(self._folder / "ipc.sock")},
            stdout=self._stderr,
            stderr=self._stderr,
        )
        self._request_ids = itertools.count(1)
        self._buffer = b""
        try:
            self._ipc, _ = self._listener.accept()
            self._ipc.settimeout(START_TIMEOUT_SECONDS)
            started = next(m for m in self._messages() if m["type"] == "server-started")
        except (OSError, StopIteration) as error:
            self.close()
            raise RuntimeError(f"the function did not start: {self.stderr()}") from error
        self.port = started["payload"]["httpPort"]

    def request(self, method: str, path: str, headers: dict[str, str] | None = None) -> Invocation:
        request_id = next(self._request_ids)
        invocation_id = f"inv-{request_id}"
        platform_headers = {
            "x-vercel-internal-invocation-id": invocation_id,
            "x-vercel-internal-request-id": str(request_id),
        }
        connection = http.client.HTTPConnection(
            "127.0.0.1", self.port, timeout=REQUEST_TIMEOUT_SECONDS
        )
        try:
            connection.request(method, path, headers=(headers or {}) | platform_headers)
            response = connection.getresponse()
            raw = response.read()
            invocation = Invocation(
                status=response.status,
                headers={name.lower(): value for name, value in response.getheaders()},
                body=json.loads(raw) if raw else None,
            )
        finally:
            connection.close()
        for message in self._messages():
            context = message.get("payload", {}).get("context", {})
            if context.get("invocationId") != invocation_id:
                continue
            if message["type"] == "log":
                text = base64.b64decode(message["payload"]["message"]).decode()
                invocation.logs.extend(line for line in text.splitlines() if line)
            elif message["type"] == "end":
                return invocation
        raise RuntimeError(f"the runtime never ended {invocation_id}: {self.stderr()}")

    def stderr(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read()[-4000:]

    def close(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        with contextlib.suppress(AttributeError):
            self._ipc.close()
        self._listener.close()
        self._stderr.close()
        shutil.rmtree(self._folder, ignore_errors=True)

    def _messages(self) -> Iterator[dict[str, Any]]:
        """IPC messages as the runtime sends them: JSON, each ended by a NUL byte."""
        while True:
            while b"\0" in self._buffer:
                message, self._buffer = self._buffer.split(b"\0", 1)
                yield json.loads(message)
            chunk = self._ipc.recv(65536)
            if not chunk:
                return
            self._buffer += chunk


def _node(script: str, *args: object) -> Any:
    result = subprocess.run(
        [_which("node"), str(HERE / script), *map(str, args)],
        cwd=HERE,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{script} failed: {result.stderr[-2000:]}")
    return json.loads(result.stdout)


def _build_environment() -> dict[str, str]:
    """PATH holds uv (from the venv), the base interpreters of the venvs (uv lists installed
    interpreters, never virtualenvs, when the builder picks a version) and node."""
    interpreters = [_venv_home(venv) for venv in VENVS.values()]
    node = Path(_which("node")).parent
    path = [VENV / "bin", *interpreters, node, Path("/usr/bin"), Path("/bin")]
    passed = {
        name: value
        for name, value in os.environ.items()
        if name in PASSED_ENVIRONMENT or name.endswith(PASSED_ENVIRONMENT_SUFFIXES)
    }
    return passed | {
        "PATH": os.pathsep.join(map(str, path)),
        "VERCEL_TELEMETRY_DISABLED": "1",
        "NO_UPDATE_NOTIFIER": "1",
    }


def _venv_home(venv: Path) -> Path:
    for line in (venv / "pyvenv.cfg").read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "home":
            return Path(value.strip())
    raise ToolsMissing(f"{venv}/pyvenv.cfg names no base interpreter")


def _which(program: str) -> str:
    found = shutil.which(program)
    if not found:
        raise ToolsMissing(f"{program} is not on PATH: run scripts/setup-vercel")
    return found
