"""Where fleetcron's files are, installed or in a checkout: the one place that knows.

What fleetcron ships with its code: ``sql/``, ``migrations/`` and ``alembic.ini``. A checkout
keeps them at its top level, where DBAs browse and review them; the wheel carries the same
files inside the package (``deployer/sql/...``, hatch ``force-include`` in pyproject.toml).

- Installed from a wheel (pip, pipx): the files are found inside the package, through
  importlib.resources, whatever the current directory.
- A checkout (``pip install -e .``, or the source tree on ``sys.path``): its own top-level
  files, read when used, so an edit under ``sql/`` takes effect without reinstalling.

The Vercel project that ``doctor``, ``schedule`` and ``serve`` read (``vercel.json`` and
``api/``; ``--project`` overrides): the checkout fleetcron runs from, else the current
directory, where an installed tool is run from.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

# The deployer package, wherever it was imported from. pip and pipx unpack wheels onto the file
# system, so this is a real folder (Alembic needs real paths to load env.py and versions/).
PACKAGE_DIR = Path(str(resources.files("deployer")))


def _checkout() -> Path | None:
    """The source tree this deployer package sits in, or None when it is an installed copy."""
    if (PACKAGE_DIR / "sql").is_dir():
        return None  # a wheel's copy of the files sits inside the package: installed
    source_tree = PACKAGE_DIR.parent
    if (source_tree / "sql").is_dir() and (source_tree / "migrations").is_dir():
        return source_tree
    return None  # neither: a broken install; errors will then name the package's missing files


CHECKOUT = _checkout()
# The folder holding sql/, migrations/ and alembic.ini.
FILES_ROOT = CHECKOUT or PACKAGE_DIR
SQL_DIR = FILES_ROOT / "sql"
MIGRATIONS_DIR = FILES_ROOT / "migrations"
ALEMBIC_INI = FILES_ROOT / "alembic.ini"

PROJECT_ROOT = CHECKOUT or Path.cwd()
API_DIR = PROJECT_ROOT / "api"
VERCEL_JSON = PROJECT_ROOT / "vercel.json"
