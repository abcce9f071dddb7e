"""Run the fleetcron command the way a user does: a real process, its exit code and output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

FLEETCRON = str(Path(sys.executable).parent / "fleetcron")
# Variables a user's shell might carry that would change what a test means. COLUMNS and LINES
# too: output piped to a file or a CI log has no width, and that is what these tests see.
CLEARED = (
    "DATABASE_URL",
    "POSTGRES_URL",
    "CRON_SECRET",
    "FLEETCRON_PURGE_TIME_BUDGET_SECONDS",
    "FLEETCRON_CONNECT_TIMEOUT_SECONDS",
    "COLUMNS",
    "LINES",
    "FORCE_COLOR",
    "NO_COLOR",
)


def fleetcron(
    *args: str, home: Path, timeout: float = 120, **env: str
) -> subprocess.CompletedProcess:
    """``fleetcron args...`` with a private FLEETCRON_HOME and only the given variables set.

    stdout and stderr are pipes, so the command sees no terminal, as in CI or ``| less``.
    """
    environment = {name: value for name, value in os.environ.items() if name not in CLEARED}
    environment |= {"FLEETCRON_HOME": str(home), **env}
    return subprocess.run(
        [FLEETCRON, *args], env=environment, capture_output=True, text=True, timeout=timeout
    )


def one_error_line(result: subprocess.CompletedProcess) -> str:
    """The single line a failed command printed, after checking it failed cleanly."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]
