"""The functions as Vercel builds and runs them: Vercel's own CLI, Python builder and runtime.

Pinned in tests/vercel/ (package-lock.json, requirements.txt; installed by scripts/setup-vercel):
vercel 64.0.2 (with @vercel/python 25.0.0), @vercel/client 18.4.2, @vercel/fs-detectors 7.7.3,
@vercel/frameworks 3.34.0, uv 0.10.11 and vercel-runtime 0.23.2 on Python 3.12.

Two builds, once per session: the deployment Vercel builds from an upload (``vercel deploy``, or a
Git push) — the files @vercel/client uploads, a project whose framework setting is whatever the
dashboard detects in this repository, on a first deployment — and ``vercel build`` run in the
checkout itself for ``vercel deploy --prebuilt``, with a developer's ``.env`` lying in it.
Requests then go to the built functions under vercel-runtime, against the test PostgreSQL.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import CRON_SECRET
from tests.vercel import platform
from tests.vercel.platform import PROJECT_ROOT, Build, RunningFunction

VERCEL = json.loads((PROJECT_ROOT / "vercel.json").read_text())
FUNCTIONS = {entry.removesuffix(".py"): entry for entry in VERCEL["functions"]}
CHECK_STALE, CLEANUP_HEARTBEATS = "api/cron/check-stale", "api/cron/cleanup-heartbeats"
# What the functions import, and nothing of the CLI's (click, rich, alembic, sqlalchemy): psycopg
# from api/cron/requirements.txt, with typing-extensions, which psycopg needs below Python 3.13;
# pip and vercel-runtime are what Vercel's builder adds to every Python function (a seeded venv,
# and the runtime that serves it).
FUNCTION_DISTRIBUTIONS = {"psycopg", "psycopg-binary", "typing-extensions", "vercel-runtime", "pip"}
# Written by the builder: requirements.txt turned into a uv project, and the trampoline that
# starts vercel-runtime (the function's handler).
BUILDER_GENERATED = {"api/cron/pyproject.toml", "api/cron/uv.lock", "vc__handler__python.py"}


# -- the builds -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def tools() -> None:
    """Vercel's tools, installed by make setup; their absence fails the run, never skips it."""
    try:
        platform.check_tools()
    except platform.ToolsMissing as error:
        pytest.fail(str(error))


@pytest.fixture(scope="session")
def uploaded(tools: None) -> list[str]:
    return platform.upload_set(PROJECT_ROOT)


@pytest.fixture(scope="session")
def dashboard_preset(tools: None) -> str | None:
    """The preset Vercel's import screen preselects for this repository."""
    return platform.detected_preset(PROJECT_ROOT)


@pytest.fixture(scope="session")
def deployment(
    tools: None, uploaded: list[str], dashboard_preset: str | None, tmp_path_factory
) -> Build:
    project = tmp_path_factory.mktemp("upload")
    platform.copy_files(PROJECT_ROOT, project, uploaded)
    return _build(project, preset=dashboard_preset, first_deployment=True)


@pytest.fixture(scope="session")
def checkout_build(tools: None, tmp_path_factory) -> Build:
    """``vercel build`` where a developer runs it: every file of the checkout, and a .env."""
    project = tmp_path_factory.mktemp("checkout")
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    platform.copy_files(
        PROJECT_ROOT, project, [name for name in listed if (PROJECT_ROOT / name).is_file()]
    )
    (project / ".env").write_text("DATABASE_URL=postgresql://owner:secret@db.example/fleet\n")
    return _build(project, preset=None, first_deployment=False)


@pytest.fixture(scope="session")
def deployment_on_python_3_13(tools: None, uploaded: list[str], tmp_path_factory) -> Build:
    """The same upload with api/cron/.python-version saying 3.13, the next version Vercel runs."""
    project = tmp_path_factory.mktemp("upload-3.13")
    platform.copy_files(PROJECT_ROOT, project, uploaded)
    (project / "api" / "cron" / ".python-version").write_text("3.13\n")
    return _build(project, preset=None, first_deployment=True)


def _build(project: Path, *, preset: str | None, first_deployment: bool) -> Build:
    try:
        return platform.vercel_build(
            project, preset=preset, first_deployment=first_deployment, cron_secret=CRON_SECRET
        )
    except platform.BuildFailed as error:
        pytest.fail(str(error))


# -- what is uploaded and built -----------------------------------------------------------------


def test_the_upload_is_the_functions_and_the_runtime_package_only(uploaded: list[str]):
    on_disk = [
        *(path for path in (PROJECT_ROOT / "api").rglob("*") if path.is_file()),
        PROJECT_ROOT / "deployer" / "__init__.py",
        *(PROJECT_ROOT / "deployer" / "runtime").glob("*.py"),
        PROJECT_ROOT / "vercel.json",
    ]
    expected = {
        str(path.relative_to(PROJECT_ROOT)) for path in on_disk if "__pycache__" not in path.parts
    }

    assert set(uploaded) == expected


def test_vercel_json_overrides_the_preset_the_dashboard_detects_in_the_repository(
    deployment: Build, dashboard_preset: str | None
):
    builders = sorted((build["src"], build["use"]) for build in deployment.builds()["builds"])

    assert VERCEL["framework"] is None  # "Other"; the root pyproject.toml reads as "python"
    assert deployment.builds()["detectedFramework"] == {"status": "skipped"}
    assert builders == [
        ("api/cron/_static/**/*", "@vercel/static"),
        ("api/cron/check-stale.py", "@vercel/python"),
        ("api/cron/cleanup-heartbeats.py", "@vercel/python"),
    ], f"built as {builders}, where the dashboard preselects {dashboard_preset!r}"


def test_a_first_deployment_detects_no_framework_in_the_upload(uploaded: list[str], tmp_path):
    platform.copy_files(PROJECT_ROOT, tmp_path, uploaded)

    assert platform.detected_preset(tmp_path) is None


def test_both_functions_are_built_with_the_max_duration_of_vercel_json(deployment: Build):
    built = deployment.functions()

    assert sorted(built) == [CHECK_STALE, CLEANUP_HEARTBEATS]
    for function, entry in FUNCTIONS.items():
        assert built[function]["maxDuration"] == VERCEL["functions"][entry]["maxDuration"]
        assert built[function]["handler"] == "vc__handler__python.vc_handler"


def test_the_functions_run_on_the_python_version_pinned_in_api_cron(deployment: Build):
    pinned = (PROJECT_ROOT / "api" / "cron" / ".python-version").read_text().strip()
    runtimes = {config["runtime"] for config in deployment.functions().values()}

    assert pinned in {"3.12", "3.13", "3.14"}  # what Vercel runs, and vercel-runtime needs
    assert runtimes == {f"python{pinned}"}
    assert f"Using Python {pinned} from api/cron/.python-version" in deployment.log


@pytest.mark.parametrize("function", [CHECK_STALE, CLEANUP_HEARTBEATS])
def test_only_the_runtime_dependencies_are_installed_into_the_function(
    deployment: Build, function: str
):
    installed = deployment.distributions(function)

    assert set(installed) == FUNCTION_DISTRIBUTIONS


def test_the_functions_carry_the_pinned_vercel_runtime(deployment: Build):
    requirements = (platform.HERE / "requirements.txt").read_text().splitlines()
    pinned = next(line.split("==")[1] for line in requirements if line.startswith("vercel-runtime"))

    for function in FUNCTIONS:
        assert deployment.distributions(function)["vercel-runtime"] == pinned


def test_nothing_outside_the_functions_is_served_as_a_static_file(deployment: Build):
    assert deployment.static_files() == {"robots.txt"}


def test_the_crons_reach_the_build_output_unchanged(deployment: Build):
    assert deployment.config()["crons"] == VERCEL["crons"]


def test_a_prebuilt_build_of_the_checkout_bundles_only_what_would_be_uploaded(
    checkout_build: Build, uploaded: list[str]
):
    for function in FUNCTIONS:
        assert checkout_build.source_files(function) == set(uploaded) | BUILDER_GENERATED
    assert checkout_build.static_files() == {"robots.txt"}


# -- the built functions, served by vercel-runtime --------------------------------------------


@pytest.fixture
def serve(
    deployment: Build, cron_database_url: str, tmp_path: Path
) -> Iterator[Callable[..., RunningFunction]]:
    """Start a built function under vercel-runtime, with the environment Vercel gives it."""
    running: list[RunningFunction] = []

    def start(function: str, build: Build = deployment) -> RunningFunction:
        root = build.materialize(function, tmp_path / f"{len(running)}-{function.split('/')[-1]}")
        environment = {"CRON_SECRET": CRON_SECRET, "DATABASE_URL": cron_database_url}
        running.append(RunningFunction(root, environment))
        return running[-1]

    yield start
    for function in running:
        function.close()


def _as_vercel_cron(secret: str | None = CRON_SECRET, schedule: str = "*/5 * * * *") -> dict:
    """The headers of a Vercel Cron invocation."""
    headers = {"User-Agent": "vercel-cron/1.0", "x-vercel-cron-schedule": schedule}
    if secret is not None:
        headers["Authorization"] = f"Bearer {secret}"
    return headers


def test_check_stale_marks_quiet_agents_offline_when_called_with_the_secret(serve, fleet):
    quiet = fleet.online_agent("quiet", silent_for=timedelta(minutes=6))
    function = serve(CHECK_STALE)

    answer = function.request("GET", "/api/cron/check-stale", _as_vercel_cron())

    assert answer.status == 200, answer.body
    assert answer.body["outcome"] == "ok"
    assert answer.body["rows_affected"] == 1
    assert fleet.status(quiet) == "offline"


def test_cleanup_heartbeats_deletes_expired_heartbeats_when_called_with_the_secret(serve, fleet):
    agent = fleet.online_agent("old", silent_for=timedelta(minutes=1))
    fleet.old_heartbeats(agent, timedelta(days=31), timedelta(days=40))
    function = serve(CLEANUP_HEARTBEATS)

    answer = function.request(
        "GET", "/api/cron/cleanup-heartbeats", _as_vercel_cron(schedule="0 0 * * *")
    )

    assert answer.status == 200, answer.body
    assert answer.body["rows_affected"] == 2
    assert fleet.heartbeat_count(older_than=timedelta(days=30)) == 0


@pytest.mark.parametrize("function", [CHECK_STALE, CLEANUP_HEARTBEATS])
def test_a_request_without_the_secret_is_refused_and_runs_nothing(serve, fleet, function: str):
    answer = serve(function).request("GET", f"/{function}", _as_vercel_cron(secret=None))

    assert answer.status == 401
    assert answer.body == {"error": "unauthorized"}
    assert fleet.runs() == []


def test_a_cron_invocation_logs_its_schedule_in_the_request_log(serve, fleet):
    function = serve(CHECK_STALE)

    answer = function.request("GET", "/api/cron/check-stale", _as_vercel_cron())

    [record] = answer.log_records()
    assert record["event"] == "cron.run"
    assert record["cron_schedule"] == "*/5 * * * *"
    assert CRON_SECRET not in "\n".join(answer.logs)


@pytest.mark.parametrize("function", [CHECK_STALE, CLEANUP_HEARTBEATS])
def test_the_functions_also_build_and_run_on_python_3_13(
    serve, fleet, deployment_on_python_3_13: Build, function: str
):
    running = serve(function, deployment_on_python_3_13)

    answer = running.request("GET", f"/{function}", _as_vercel_cron())

    assert running.runtime == "python3.13"
    assert answer.status == 200, answer.body
    assert answer.body["outcome"] == "ok"
