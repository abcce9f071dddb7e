"""The README's commands, run: every fenced command block either runs here or names its test.

- ``console`` blocks are transcripts: each ``$ command`` runs in one bash session, as a user
  pastes them, and what it prints (stdout and stderr, serve's background log lines included)
  must be the lines the README shows under it. Only what changes from run to run is masked:
  ports, durations, curl's version.
- ``sh`` blocks: every command runs and must succeed, in the setting its section describes.
- ``sql`` blocks run in psql, with ON_ERROR_STOP, on a freshly migrated database.

A command another test already runs is listed in COVERED_ELSEWHERE with that test; a block in a
section this file does not know fails, so a new example cannot go unchecked.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from psycopg import sql

from deployer.paths import PROJECT_ROOT

README = PROJECT_ROOT / "README.md"
VENV_BIN = str(Path(sys.executable).parent)
SERVE_PORT = "3000"  # what the README uses; the test serves on a free port instead
COVERED_ELSEWHERE = {
    "make setup": "every CI run starts with it (.ci/run: make lint, make test)",
    "make test": "is CI (.ci/run)",
    "make demo": "make setup, then fleetcron demo: tests/test_cli.py runs the demo",
    "pipx install": "tests/test_packaging.py builds the wheel and installs it in a clean venv",
}
# What differs between two runs of the same commands, and what it is masked as.
VOLATILE = [
    (re.compile(r"\b(127\.0\.0\.1|localhost):\d+"), r"\1:<port>"),
    (re.compile(r"\bport \d+"), "port <port>"),
    (re.compile(r'"(duration_ms|request_ms)": \d+'), r'"\1": <ms>'),
    (re.compile(r"curl/[\d.]+"), "curl/<version>"),
]
# An interactive shell prints "[1] 12345" after "command &"; the test's bash is not interactive.
JOB_NOTICE = re.compile(r"^\[\d+\]\s+\d+$")
# The environment each section's sh commands run in.
SH_SECTIONS = {"pg_cron (Supabase Cron)", "Deploying the schema", "Install as a tool"}
SQL_SECTIONS = {
    "For DBAs: the routines",
    "Roles and privileges",
    "Already have agents and heartbeats tables?",
}


@dataclass
class Block:
    section: str
    language: str
    lines: list[str]

    @property
    def commands(self) -> list[str]:
        """An sh block's commands: lines that are not blank or comments, joined at "\\"."""
        joined = "\n".join(self.lines).replace("\\\n", " ")
        return [line for line in joined.splitlines() if line.strip() and not line.startswith("#")]


def readme_blocks() -> list[Block]:
    blocks, section, fence = [], "", None
    for line in README.read_text(encoding="utf-8").splitlines():
        if fence is not None:
            if line.startswith("```"):
                blocks.append(fence)
                fence = None
            else:
                fence.lines.append(line)
        elif line.startswith("```"):
            fence = Block(section, line[3:].strip(), [])
        elif line.startswith("#"):
            section = line.lstrip("#").strip()
    return blocks


def blocks_of(language: str) -> list[Block]:
    return [block for block in readme_blocks() if block.language == language]


def covered_elsewhere(command: str) -> bool:
    return any(command.strip().startswith(prefix) for prefix in COVERED_ELSEWHERE)


def masked(line: str) -> str:
    for pattern, replacement in VOLATILE:
        line = pattern.sub(replacement, line)
    return line.rstrip()


@pytest.fixture(scope="module")
def local_home():
    """The FLEETCRON_HOME of a new user: no local server yet."""
    folder = Path(tempfile.gettempdir()) / f"fleetcron-readme-{uuid.uuid4().hex[:8]}"
    yield folder
    subprocess.run(
        [f"{VENV_BIN}/fleetcron", "local", "destroy", "--yes"],
        env={**os.environ, "FLEETCRON_HOME": str(folder)},
        capture_output=True,
    )
    shutil.rmtree(folder, ignore_errors=True)


def user_environment(home: Path, **variables: str) -> dict[str, str]:
    """A shell with nothing of fleetcron's set, the checkout's venv first on PATH."""
    cleared = {"DATABASE_URL", "POSTGRES_URL", "CRON_SECRET", "COLUMNS", "FORCE_COLOR"}
    environment = {name: value for name, value in os.environ.items() if name not in cleared}
    environment["PATH"] = f"{VENV_BIN}:{environment.get('PATH', '')}"
    return environment | {"FLEETCRON_HOME": str(home), **variables}


# -- console transcripts --------------------------------------------------------------------------


@dataclass
class Step:
    command: str
    expected: list[str]


def transcript_steps(block: Block) -> list[Step]:
    steps: list[Step] = []
    continued = False
    for line in block.lines:
        if continued:
            steps[-1].command += "\n" + line
        elif line.startswith("$ "):
            steps.append(Step(line[2:], []))
        elif not JOB_NOTICE.match(line):
            steps[-1].expected.append(masked(line))
        continued = line.endswith("\\") and (continued or line.startswith("$ "))
    return steps


def run_transcript(steps: list[Step], home: Path, tmp_path: Path) -> list[list[str]]:
    """Run the steps in one bash session; what appeared after each, as lines."""
    port = str(_free_port())
    output = tmp_path / "transcript.out"
    script = ["exec 2>&1", "trap 'kill $(jobs -p) 2>/dev/null' EXIT"]
    for index, step in enumerate(steps):
        parts = [part for part in step.command.split(" && ") if not covered_elsewhere(part)]
        command = " && ".join(parts).replace(f":{SERVE_PORT}", f":{port}")
        if re.match(r"fleetcron serve\b", command):
            command = command.replace("fleetcron serve", f"fleetcron serve --port {port}", 1)
        script += [f"echo '@@@ {index}'", command or ":"]
        if command.split("#")[0].rstrip().endswith("&"):  # wait until it is ready
            script.append(
                f"for _ in $(seq 200); do grep -q 'try: curl' {output} && break; sleep 0.05; done"
            )
    script.append("echo '@@@ end'")
    with output.open("w") as sink:
        subprocess.run(
            ["bash", "-c", "\n".join(script)],
            cwd=PROJECT_ROOT,
            env=user_environment(home),
            stdout=sink,
            timeout=180,
        )
    segments: list[list[str]] = []
    for line in output.read_text().splitlines():
        if line.startswith("@@@ "):
            segments.append([])
        elif segments:
            segments[-1].append(masked(line))
    return segments[: len(steps)]


@pytest.mark.parametrize("block", blocks_of("console"), ids=lambda block: block.section)
def test_a_console_transcript_shows_what_really_appears(block, local_home, tmp_path):
    steps = transcript_steps(block)

    printed = run_transcript(steps, local_home, tmp_path)

    for step, lines in zip(steps, printed, strict=True):
        assert lines == step.expected, f"after $ {step.command}"


# -- sh commands ----------------------------------------------------------------------------------


@pytest.fixture
def section_environment(local_home, new_database):
    """What a reader of each section has: the local server, or a database URL."""

    def environment(section: str) -> dict[str, str]:
        if section == "pg_cron (Supabase Cron)":
            # Read after "Try it locally": the schema is deployed on the local server.
            _run(["fleetcron", "db", "upgrade"], user_environment(local_home))
            return user_environment(local_home)
        if section == "Deploying the schema":
            return user_environment(local_home, DATABASE_URL=new_database())
        if section == "Install as a tool":
            return user_environment(local_home, POSTGRES_URL_NON_POOLING=new_database())
        pytest.fail(
            f"README section {section!r} has sh commands this test does not know how to run"
        )

    return environment


@pytest.mark.parametrize(
    "block",
    [block for block in blocks_of("sh") if not all(map(covered_elsewhere, block.commands))],
    ids=lambda block: block.section,
)
def test_every_sh_command_runs(block, section_environment):
    environment = section_environment(block.section)

    for command in block.commands:
        if not covered_elsewhere(command):
            _run(["bash", "-c", command], environment)


def test_every_sh_block_is_run_or_covered_elsewhere():
    for block in blocks_of("sh"):
        assert block.section in SH_SECTIONS or all(map(covered_elsewhere, block.commands)), (
            block.section
        )


# -- sql ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("block", blocks_of("sql"), ids=lambda block: block.section)
def test_every_sql_example_runs_in_psql(block, db, db_url):
    assert block.section in SQL_SECTIONS, f"README section {block.section!r}: add it here"
    script = "\n".join(block.lines).replace("'<agent id>'", ":'agent_id'")
    agent = db.execute("select id from fleet.register_agent('readme-agent')").fetchone()[0]
    roles = set(re.findall(r"create role (\w+)", script))

    try:
        _run(
            ["psql", db_url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", f"agent_id={agent}"],
            user_environment(Path(tempfile.gettempdir())),
            stdin=script,
        )
    finally:
        for role in roles:  # roles are cluster-wide: leave none behind
            db.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(role)))


# -- helpers --------------------------------------------------------------------------------------


def _run(command: list[str], environment: dict[str, str], stdin: str | None = None) -> None:
    result = subprocess.run(
        command,
        cwd=PROJECT_ROOT,
        env=environment,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout}\n{result.stderr}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
