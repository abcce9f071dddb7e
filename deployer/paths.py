"""Where the project's files are: fleetcron runs from its checkout (pip install -e .)."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SQL_DIR = PROJECT_ROOT / "sql"
MIGRATIONS_DIR = PROJECT_ROOT / "migrations"
ALEMBIC_INI = PROJECT_ROOT / "alembic.ini"
API_DIR = PROJECT_ROOT / "api"
VERCEL_JSON = PROJECT_ROOT / "vercel.json"
