"""fleetcron as a DBA installs it: a wheel in a clean venv, run from a folder outside the checkout.

The wheel is built from this checkout with pip (hatchling in pip's isolated build environment)
and installed into a venv of its own by a pip outside it, as pipx does with its shared pip.
Both happen once per session; every run of the installed ``fleetcron`` starts in a folder
outside the checkout with nothing of the checkout on its path. (``alembic`` from the checkout
is run by tests/test_migrations.py.)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from tests.catalog import catalog
from tests.cli import CLEARED

CHECKOUT = Path(__file__).resolve().parent.parent
DEV_PYTHON = Path(sys.executable)
QUIET = timedelta(minutes=10)
EXPIRED = timedelta(days=40)


def shipped_files() -> set[str]:
    """What the wheel must carry inside deployer/: the checkout's sql/, migrations/, alembic.ini."""
    files = {"alembic.ini"}
    for folder in ("sql", "migrations"):
        for path in (CHECKOUT / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                files.add(path.relative_to(CHECKOUT).as_posix())
    return files


@dataclass(frozen=True)
class Wheel:
    path: Path
    expected: set[str]  # shipped_files() when it was built


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Wheel:
    expected = shipped_files()
    folder = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [DEV_PYTHON, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", folder, CHECKOUT],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    [path] = folder.glob("fleetcron-*.whl")
    return Wheel(path, expected)


@pytest.fixture(scope="session")
def venv(wheel: Wheel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv holding nothing but the wheel and its dependencies (pip reuses its cache)."""
    venv = tmp_path_factory.mktemp("pipx") / "fleetcron"
    subprocess.run([DEV_PYTHON, "-m", "venv", "--without-pip", venv], check=True)
    installed = subprocess.run(
        [DEV_PYTHON, "-m", "pip", "--python", venv / "bin" / "python", "install", wheel.path],
        capture_output=True,
        text=True,
    )
    assert installed.returncode == 0, installed.stderr
    assert not venv.is_relative_to(CHECKOUT)
    return venv


def editable_install(folder: Path) -> tuple[Path, Path]:
    """A copy of the checkout installed with pip install -e (no dependencies: deployer.paths needs
    none) into a venv of its own; returns the copy and the venv's python."""
    checkout = folder / "checkout"
    checkout.mkdir()
    for name in ("pyproject.toml", "README.md", "alembic.ini"):
        shutil.copy(CHECKOUT / name, checkout / name)
    for name in ("deployer", "sql", "migrations"):
        shutil.copytree(
            CHECKOUT / name, checkout / name, ignore=shutil.ignore_patterns("__pycache__")
        )
    venv = folder / "venv"
    subprocess.run([DEV_PYTHON, "-m", "venv", "--without-pip", venv], check=True)
    python = venv / "bin" / "python"
    installed = subprocess.run(
        [DEV_PYTHON, "-m", "pip", "--python", python, "install", "--no-deps", "-e", checkout],
        capture_output=True,
        text=True,
    )
    assert installed.returncode == 0, installed.stderr
    return checkout, python


def outside(program: Path, *args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """Run program in cwd, a folder outside the checkout, with nothing of the checkout on the path
    and only the given database variables set."""
    assert not cwd.resolve().is_relative_to(CHECKOUT)
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in {*CLEARED, "PYTHONPATH", "VIRTUAL_ENV"}
    }
    environment |= {"FLEETCRON_HOME": str(cwd / ".fleetcron"), "COLUMNS": "500", **env}
    return subprocess.run(
        [program, *args], cwd=cwd, env=environment, capture_output=True, text=True, timeout=120
    )


def where_deployer_finds(python: Path, cwd: Path) -> dict[str, str]:
    shown = outside(
        python,
        "-c",
        "from deployer import paths\n"
        "for name in ('CHECKOUT', 'SQL_DIR', 'MIGRATIONS_DIR', 'ALEMBIC_INI', 'PROJECT_ROOT'):\n"
        "    print(name, getattr(paths, name))",
        cwd=cwd,
    )
    assert shown.returncode == 0, shown.stderr
    return dict(line.split(" ", 1) for line in shown.stdout.splitlines())


# -- the wheel --------------------------------------------------------------------------------


def test_the_wheel_carries_sql_migrations_and_alembic_ini_inside_the_package(wheel):
    with zipfile.ZipFile(wheel.path) as archive:
        names = archive.namelist()

    shipped = {
        name.removeprefix("deployer/")
        for name in names
        if name.startswith(("deployer/sql/", "deployer/migrations/"))
        or name == "deployer/alembic.ini"
    }
    assert shipped == wheel.expected


def test_the_installed_package_finds_its_files_inside_itself(venv, tmp_path):
    found = where_deployer_finds(venv / "bin" / "python", tmp_path)

    [package] = venv.glob("lib/python3*/site-packages/deployer")
    assert found["CHECKOUT"] == "None"
    assert found["SQL_DIR"] == str(package / "sql")
    assert found["MIGRATIONS_DIR"] == str(package / "migrations")
    assert found["ALEMBIC_INI"] == str(package / "alembic.ini")
    assert (package / "sql" / "schema" / "fleet.v1.sql").is_file()
    assert (package / "migrations" / "env.py").is_file()
    assert (package / "alembic.ini").is_file()


def test_an_editable_install_uses_the_checkouts_files_not_its_copies(tmp_path):
    checkout, python = editable_install(tmp_path)
    # hatchling puts copies of force-included files in an editable install as well; stale the
    # moment sql/ is edited, they must not be what fleetcron reads.
    [copies] = python.parent.parent.glob("lib/python3*/site-packages/deployer")
    assert (copies / "sql" / "schema" / "fleet.v1.sql").is_file()

    found = where_deployer_finds(python, tmp_path)

    assert found == {
        "CHECKOUT": str(checkout),
        "SQL_DIR": str(checkout / "sql"),
        "MIGRATIONS_DIR": str(checkout / "migrations"),
        "ALEMBIC_INI": str(checkout / "alembic.ini"),
        "PROJECT_ROOT": str(checkout),
    }


# -- the installed fleetcron, from a folder outside the checkout ------------------------------


def test_the_installed_fleetcron_migrates_a_database(
    venv, tmp_path, empty_database, straight_upgrade
):
    result = outside(
        venv / "bin" / "fleetcron", "--database-url", empty_database, "db", "upgrade", cwd=tmp_path
    )

    assert result.returncode == 0, result.stderr
    assert catalog(empty_database) == catalog(straight_upgrade)


def test_the_installed_fleetcron_runs_check_stale(venv, tmp_path, fleet, db_url):
    quiet = fleet.online_agent("quiet", silent_for=QUIET)

    result = outside(
        venv / "bin" / "fleetcron", "run", "check-stale", cwd=tmp_path, DATABASE_URL=db_url
    )

    assert result.returncode == 0, result.stderr
    assert fleet.status(quiet) == "offline"
    assert [run["triggered_by"] for run in fleet.runs("check-stale")] == ["cli"]


def test_the_installed_fleetcron_runs_cleanup_heartbeats(venv, tmp_path, fleet, db_url):
    fleet.heartbeat_series(fleet.register("edge-1"), 100, oldest=EXPIRED)

    result = outside(
        venv / "bin" / "fleetcron", "run", "cleanup-heartbeats", cwd=tmp_path, DATABASE_URL=db_url
    )

    assert result.returncode == 0, result.stderr
    assert fleet.heartbeat_count() == 0
    assert [run["triggered_by"] for run in fleet.runs("cleanup-heartbeats")] == ["cli"]


def test_the_installed_fleetcron_reports_status(venv, tmp_path, db_url):
    result = outside(venv / "bin" / "fleetcron", "status", cwd=tmp_path, DATABASE_URL=db_url)

    assert result.returncode == 0, result.stderr


def test_the_installed_doctor_reads_the_vercel_project_in_the_current_directory(
    venv, tmp_path, db_url
):
    result = outside(venv / "bin" / "fleetcron", "doctor", cwd=tmp_path, DATABASE_URL=db_url)

    assert f"{tmp_path / 'vercel.json'} does not exist" in result.stdout
