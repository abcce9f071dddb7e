"""What Vercel deploys: entry files its runtime can load, routes, crons and function settings."""

import json
import subprocess
import sys
import textwrap

from deployer.paths import API_DIR, PROJECT_ROOT, VERCEL_JSON
from deployer.runtime.endpoint import DEFAULT_PURGE_TIME_BUDGET_SECONDS
from deployer.serve import discover_routes

VERCEL = json.loads(VERCEL_JSON.read_text())

# Loads an entry file the way Vercel's runtime does (by path, from the project root) in a fresh
# interpreter where the CLI's dependencies cannot be imported, then serves one request with it.
LOAD_LIKE_VERCEL = textwrap.dedent("""
    import importlib.abc, importlib.util, json, sys, threading, urllib.error, urllib.request
    from http.server import HTTPServer

    class NoCliDependencies(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {"click", "rich", "alembic", "sqlalchemy", "pytest"}:
                raise ImportError(f"the function bundle must not need {name}")

    sys.meta_path.insert(0, NoCliDependencies())
    entry = sys.argv[1]
    spec = importlib.util.spec_from_file_location("api.cron.entry", entry)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    server = HTTPServer(("127.0.0.1", 0), module.handler)
    threading.Thread(target=server.handle_request, daemon=True).start()
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{server.server_address[1]}/")
    except urllib.error.HTTPError as error:
        print(json.dumps({"status": error.code, "body": json.loads(error.read())}))
""")


def test_each_entry_file_loads_by_path_without_the_clis_dependencies_and_answers():
    for entry in sorted((API_DIR / "cron").glob("*.py")):
        result = subprocess.run(
            [sys.executable, "-c", LOAD_LIKE_VERCEL, str(entry)],
            cwd=PROJECT_ROOT,
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(PROJECT_ROOT)},
            capture_output=True,
            text=True,
        )

        assert result.returncode == 0, result.stderr
        answer = json.loads(result.stdout.strip().splitlines()[-1])
        assert answer == {"status": 401, "body": {"error": "unauthorized"}}, entry.name


def test_every_cron_path_is_served_by_an_entry_file():
    routes = discover_routes()

    cron_paths = [cron["path"] for cron in VERCEL["crons"]]

    assert cron_paths == ["/api/cron/check-stale", "/api/cron/cleanup-heartbeats"]
    assert all(path in routes for path in cron_paths)


def test_the_crons_run_every_five_minutes_and_nightly_at_midnight_utc():
    schedules = {cron["path"]: cron["schedule"] for cron in VERCEL["crons"]}

    assert schedules == {
        "/api/cron/check-stale": "*/5 * * * *",
        "/api/cron/cleanup-heartbeats": "0 0 * * *",
    }


def test_function_settings_name_existing_files_and_leave_room_for_the_purge_budget():
    functions = VERCEL["functions"]

    assert all((PROJECT_ROOT / pattern).is_file() for pattern in functions)
    cleanup = functions["api/cron/cleanup-heartbeats.py"]["maxDuration"]
    assert cleanup - DEFAULT_PURGE_TIME_BUDGET_SECONDS >= 30


def test_the_functions_install_only_psycopg():
    requirements = (API_DIR / "cron" / "requirements.txt").read_text().splitlines()

    packages = [line for line in requirements if line.strip() and not line.startswith("#")]

    assert packages == ["psycopg[binary]>=3.2,<4"]


def test_the_upload_keeps_the_functions_and_what_they_import():
    rules = (PROJECT_ROOT / ".vercelignore").read_text().splitlines()

    assert {"/*", "!/api", "!/deployer/runtime", "!/vercel.json"} <= set(rules)


def test_files_and_folders_starting_with_underscore_or_dot_are_not_routes(tmp_path):
    for name in ["cron/job.py", "cron/_helper.py", "_lib/shared.py", ".hidden/x.py", "ping.py"]:
        (tmp_path / "api" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "api" / name).write_text("handler = None\n")

    routes = discover_routes(tmp_path / "api")

    assert sorted(routes) == ["/api/cron/job", "/api/ping"]
