"""make mutate: put each mutant of mutation/mutants.toml into a throwaway copy, run its tests.

A mutant is one realistic bug: an exact piece of text in one file of the repository, the text
that replaces it, what the bug would do in production, and the tests that should catch it. For
each mutant, one at a time, this runner

1. checks that the original text occurs exactly once in the file, and puts the replacement in;
2. proves that the bug is live: for SQL (sql/, migrations/) it migrates a scratch database from
   the mutated copy and finds the change in the catalog (pg_get_functiondef, pg_get_viewdef,
   triggers, constraints, columns, privileges: mutation/catalog.py); for Python it checks that
   the copy's interpreter imports the mutated file;
3. runs the mutant's tests (pytest -x, real PostgreSQL from the tests' own fixtures): a failure
   kills the mutant, a pass lets it survive; with --full-suite a survivor then faces the whole
   suite;
4. puts the original text back.

Everything happens in a copy of the work tree under /tmp (tracked and untracked files, as
``git ls-files`` lists them), never in the checkout itself, where others may be running tests.
The copy gets a small virtual environment of its own: the checkout's installed packages, with
the copy's source first on the path, and the console scripts (fleetcron, alembic, pytest)
pointing at it, so tests that start ``fleetcron`` as a process run the mutated code too.

Before any mutant, the tests of every mutant run once on the unmutated copy: a test that fails
without a bug would "kill" every mutant it covers and prove nothing.

The score is killed / all. A mutant that survives must carry ``accepted = "why"`` in
mutants.toml (an equivalent mutant, or the test it would take and why it is not written);
the runner exits non-zero for any survivor without one, and for any mutant that could not be
applied or did not reach the database. A full run writes mutation/RESULTS.md.

Why not mutmut for the Python side: it generates its own operator mutants (hundreds, many of
them in messages, some equivalent) and cannot take a reviewed list of bugs with what each
would do in production; and its trampolines rewrite every function it mutates, which the test
reading _bearer_matches' source and the tests running fleetcron as a process do not see through.
The same small runner serves SQL and Python alike.

    python mutation/run.py                      # every mutant, then RESULTS.md
    python mutation/run.py --only ID [ID ...]   # some, printed only
    python mutation/run.py --list               # or --check: each original text occurs once
    python mutation/run.py --only ID --tests tests/test_x.py   # does the rest of a file catch it?
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import tomllib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTANTS_FILE = ROOT / "mutation" / "mutants.toml"
RESULTS_FILE = ROOT / "mutation" / "RESULTS.md"
# What scripts/setup-vercel installs for tests/test_vercel_build.py, ignored by git and too big
# to copy: the copy links to the checkout's (only --full-suite runs those tests).
TOOLING = (
    "tests/vercel/node_modules",
    "tests/vercel/.venv",
    "tests/vercel/.venv313",
    "tests/vercel/.cache",
)
# Partitions are named for their day: a run that crosses midnight must not see them as changes.
VOLATILE = re.compile(r"heartbeats_p\d{8}")
TEST_TIMEOUT_SECONDS = 900
SUITE_TIMEOUT_SECONDS = 3600
REQUIRED = ("id", "file", "original", "replacement", "bug", "tests")


@dataclass
class Mutant:
    id: str
    file: str
    original: str
    replacement: str
    bug: str
    tests: list[str]
    expect: str | None = None
    accepted: str | None = None

    @property
    def is_sql(self) -> bool:
        return self.file.startswith(("sql/", "migrations/"))

    @property
    def evidence(self) -> str:
        """What the catalog must show once the mutant is in ('' when it removes text)."""
        return self.replacement if self.expect is None else self.expect


@dataclass
class Outcome:
    mutant: Mutant
    status: str  # killed, timeout, survived, killed-by-suite, invalid
    detail: str = ""
    killer: str = ""
    seconds: float = 0.0

    @property
    def killed(self) -> bool:
        return self.status in ("killed", "timeout", "killed-by-suite")


@dataclass
class Workspace:
    """A throwaway copy of the repository with an interpreter that imports it first."""

    path: Path
    python: Path
    env: dict[str, str] = field(default_factory=dict)


# -- the list ---------------------------------------------------------------------------------


def load_mutants(path: Path = MUTANTS_FILE) -> list[Mutant]:
    entries = tomllib.loads(path.read_text(encoding="utf-8")).get("mutant", [])
    mutants, seen = [], set()
    for number, entry in enumerate(entries, 1):
        missing = [name for name in REQUIRED if not entry.get(name) and name != "replacement"]
        unknown = set(entry) - {*REQUIRED, "expect", "accepted"}
        if missing or unknown or "replacement" not in entry:
            raise SystemExit(
                f"{path.name}: mutant #{number} ({entry.get('id', '?')}): "
                f"missing {missing or ['replacement']}, unknown {sorted(unknown)}"
            )
        if entry["id"] in seen:
            raise SystemExit(f"{path.name}: mutant id {entry['id']} appears twice")
        seen.add(entry["id"])
        if entry["original"] == entry["replacement"]:
            raise SystemExit(f"{path.name}: mutant {entry['id']} changes nothing")
        mutants.append(Mutant(**entry))
    return mutants


def normalized(text: str) -> str:
    return " ".join(text.split()).lower()


# -- the copy ---------------------------------------------------------------------------------


def tracked_and_untracked_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return sorted({name for name in listed.split("\0") if name and (ROOT / name).is_file()})


def make_workspace(parent: Path, name: str) -> Workspace:
    copy = parent / name
    for relative in tracked_and_untracked_files():
        target = copy / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / relative, target)
    for relative in TOOLING:
        if (ROOT / relative).exists():
            (copy / relative).symlink_to(ROOT / relative, target_is_directory=True)

    venv = copy / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site_packages = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    # .pth lines only extend sys.path: the checkout's own editable-install .pth, which sits in
    # the dependencies' folder, is not processed, so nothing puts the checkout on the path.
    dependencies = dict.fromkeys(
        [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    )
    (site_packages / "00_fleetcron_copy.pth").write_text(f"{copy}\n")
    (site_packages / "01_dependencies.pth").write_text("".join(f"{d}\n" for d in dependencies))
    _copy_console_scripts(Path(sys.executable).parent, venv / "bin", python)

    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("PYTHONPATH", "VIRTUAL_ENV", "DATABASE_URL", "POSTGRES_URL")
    }
    env |= {
        "PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        "VIRTUAL_ENV": str(venv),
        # Mutant and original can have the same size and mtime second: no stale bytecode.
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    workspace = Workspace(copy, python, env)
    origin = _run(workspace, [python, "-c", "import deployer; print(deployer.__file__)"])
    if not origin.stdout.strip().startswith(str(copy)):
        raise SystemExit(f"the copy's Python imports deployer from {origin.stdout.strip()}")
    return workspace


def _copy_console_scripts(source: Path, target: Path, python: Path) -> None:
    for script in sorted(source.iterdir()):
        destination = target / script.name
        if destination.exists() or script.name.startswith(("python", "activate", "Activate")):
            continue
        head = script.read_bytes()[:200]
        if head.startswith(b"#!") and b"python" in head.split(b"\n", 1)[0]:
            body = script.read_text().split("\n", 1)[1]
            destination.write_text(f"#!{python}\n{body}")
            destination.chmod(0o755)
        else:
            destination.symlink_to(script)


def _run(workspace: Workspace, command: list, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(part) for part in command],
        cwd=workspace.path,
        env=workspace.env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@contextmanager
def applied(workspace: Workspace, mutant: Mutant) -> Iterator[str | None]:
    """The mutant in the copy's file; yields why it cannot be applied, or None."""
    path = workspace.path / mutant.file
    if not path.is_file():
        yield f"{mutant.file} does not exist"
        return
    original = path.read_text(encoding="utf-8")
    found = original.count(mutant.original)
    if found != 1:
        yield f"the original text occurs {found} times in {mutant.file}, not once"
        return
    path.write_text(original.replace(mutant.original, mutant.replacement), encoding="utf-8")
    try:
        yield None
    finally:
        path.write_text(original, encoding="utf-8")


# -- proving the mutant is live -----------------------------------------------------------------


class Catalog:
    """One PostgreSQL server for the whole run; a scratch database per look at the catalog."""

    def __init__(self) -> None:
        from deployer.localpg import LocalPostgres  # the checkout's own helper, never mutated

        self.server = LocalPostgres.create(pg_cron_database=None)
        self.server.start()
        self.lock = threading.Lock()
        self.counter = 0

    def close(self) -> None:
        self.server.destroy()

    def definitions(self, workspace: Workspace) -> tuple[dict[str, str] | None, str]:
        import psycopg
        from psycopg import sql

        with self.lock:
            self.counter += 1
            name = f"mutant_{self.counter}"
        with psycopg.connect(self.server.url("postgres"), autocommit=True) as admin:
            admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        try:
            done = _run(
                workspace,
                [
                    workspace.python,
                    workspace.path / "mutation" / "catalog.py",
                    self.server.url(name),
                ],
            )
        finally:
            with psycopg.connect(self.server.url("postgres"), autocommit=True) as admin:
                admin.execute(sql.SQL("drop database {} with (force)").format(sql.Identifier(name)))
        if done.returncode != 0:
            return None, _last_line(done.stderr)
        return {
            key: value for key, value in json.loads(done.stdout).items() if not VOLATILE.search(key)
        }, ""


def reached_database(
    mutant: Mutant, catalog: Catalog, workspace: Workspace, baseline: dict[str, str]
) -> str | None:
    """None when the catalog shows the mutant; else why not."""
    definitions, failure = catalog.definitions(workspace)
    if definitions is None:
        return f"the mutated copy does not migrate: {failure}"
    changed = [
        key
        for key in baseline.keys() | definitions.keys()
        if baseline.get(key) != definitions.get(key)
    ]
    if not changed:
        return "the catalog is unchanged: no migration applies this text"
    evidence = normalized(mutant.evidence)
    if evidence and not any(evidence in normalized(definitions.get(key) or "") for key in changed):
        objects = ", ".join(sorted(changed))
        return f"the catalog changed ({objects}) but does not show {mutant.evidence!r}"
    return None


def imports_mutated_file(mutant: Mutant, workspace: Workspace) -> str | None:
    if not mutant.file.endswith(".py"):
        return None
    module = mutant.file.removesuffix(".py").replace("/", ".")
    found = _run(
        workspace,
        [
            workspace.python,
            "-c",
            f"import importlib.util; print(importlib.util.find_spec({module!r}).origin)",
        ],
    )
    origin = Path(found.stdout.strip() or "?")
    if origin != workspace.path / mutant.file:
        return f"the copy's Python imports {module} from {origin}"
    if mutant.replacement and mutant.replacement not in origin.read_text(encoding="utf-8"):
        return f"{origin} does not hold the mutant"
    return None


# -- running tests ------------------------------------------------------------------------------


def pytest(workspace: Workspace, tests: list[str], timeout: float) -> tuple[str, str, str]:
    """('passed' | 'failed' | 'timeout' | 'error', the first failing test, the output's tail)."""
    command = [workspace.python, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    try:
        done = _run(workspace, command, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", "", f"no result within {timeout:g} s"
    output = done.stdout + done.stderr
    # "FAILED <node id> - <message>"; a parametrized node id may hold spaces.
    failed = re.findall(r"^(?:FAILED|ERROR) (.+?)(?: - .*)?$", output, re.MULTILINE)
    tail = "\n".join(output.strip().splitlines()[-15:])
    if done.returncode == 0:
        return "passed", "", tail
    if done.returncode == 1:
        return "failed", failed[0] if failed else "", tail
    return "error", "", tail


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def try_mutant(
    mutant: Mutant,
    workspace: Workspace,
    catalog: Catalog | None,
    baseline: dict[str, str] | None,
    full_suite: bool,
) -> Outcome:
    started = time.monotonic()

    def outcome(status: str, detail: str = "", killer: str = "") -> Outcome:
        return Outcome(mutant, status, detail, killer, time.monotonic() - started)

    with applied(workspace, mutant) as refusal:
        if refusal:
            return outcome("invalid", refusal)
        if mutant.is_sql:
            assert catalog is not None and baseline is not None
            problem = reached_database(mutant, catalog, workspace, baseline)
        else:
            problem = imports_mutated_file(mutant, workspace)
        if problem:
            return outcome("invalid", problem)
        result, killer, tail = pytest(workspace, mutant.tests, TEST_TIMEOUT_SECONDS)
        if result == "failed":
            return outcome("killed", killer=killer)
        if result == "timeout":
            return outcome("timeout", tail)
        if result == "error":
            return outcome("invalid", f"pytest could not run the tests:\n{tail}")
        if full_suite:
            result, killer, tail = pytest(workspace, [], SUITE_TIMEOUT_SECONDS)
            if result in ("failed", "timeout"):
                return outcome("killed-by-suite", tail, killer)
        return outcome("survived", mutant.accepted or "")


# -- the run ------------------------------------------------------------------------------------


def describe(outcome: Outcome) -> str:
    label = {
        "killed": "killed",
        "timeout": "killed (timeout)",
        "killed-by-suite": "killed by the suite",
        "survived": "SURVIVED" if not outcome.mutant.accepted else "survived (accepted)",
        "invalid": "INVALID",
    }[outcome.status]
    return label


def run(mutants: list[Mutant], jobs: int, full_suite: bool, keep: bool) -> list[Outcome]:
    parent = Path(tempfile.mkdtemp(prefix="fleetcron-mutate-"))
    catalog: Catalog | None = None
    print(f"copies under {parent}", flush=True)
    try:
        workspaces = [make_workspace(parent, f"copy{n}") for n in range(jobs)]
        every_test = list(dict.fromkeys(test for mutant in mutants for test in mutant.tests))
        print(f"the tests of {len(mutants)} mutants, on the unmutated copy ...", flush=True)
        result, killer, tail = pytest(workspaces[0], every_test, SUITE_TIMEOUT_SECONDS)
        if result != "passed":
            raise SystemExit(f"the tests fail without any mutant ({killer or result}):\n{tail}")
        baseline = None
        if any(mutant.is_sql for mutant in mutants):
            catalog = Catalog()
            baseline, failure = catalog.definitions(workspaces[0])
            if baseline is None:
                raise SystemExit(f"the unmutated copy does not migrate: {failure}")

        idle = list(workspaces)
        lock = threading.Lock()
        outcomes: list[Outcome] = []

        def one(mutant: Mutant) -> Outcome:
            with lock:
                workspace = idle.pop()
            try:
                result = try_mutant(mutant, workspace, catalog, baseline, full_suite)
            finally:
                with lock:
                    idle.append(workspace)
            with lock:
                outcomes.append(result)
                where = f" by {result.killer}" if result.killer else ""
                detail = f": {result.detail}" if result.status == "invalid" else ""
                print(
                    f"[{len(outcomes)}/{len(mutants)}] {describe(result)}{where}  {mutant.id} "
                    f"({result.seconds:.0f} s){detail}",
                    flush=True,
                )
            return result

        with ThreadPoolExecutor(jobs) as pool:
            return list(pool.map(one, mutants))
    finally:
        if catalog:
            catalog.close()
        if keep:
            print(f"kept {parent}")
        else:
            shutil.rmtree(parent, ignore_errors=True)


def summary(outcomes: list[Outcome]) -> tuple[int, int, float]:
    killed = sum(outcome.killed for outcome in outcomes)
    total = len(outcomes)
    return killed, total, 100.0 * killed / total if total else 0.0


def write_results(outcomes: list[Outcome], seconds: float, command: str, jobs: int) -> None:
    killed, total, score = summary(outcomes)
    survivors = [outcome for outcome in outcomes if outcome.status == "survived"]
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    minutes, rest = divmod(round(seconds), 60)
    lines = [
        "# Mutation testing: the latest run",
        "",
        "Written by `make mutate` (mutation/run.py) from mutation/mutants.toml: rerun it, do not "
        "edit this file by hand.",
        "",
        f"- when: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, on commit {commit}"
        f"{' with uncommitted changes' if dirty else ''}",
        f"- command: `{command}` ({jobs} worker{'s' if jobs > 1 else ''})",
        f"- time: {minutes} min {rest} s for {total} mutants",
        f"- **score: {killed} / {total} killed ({score:.1f} %)**",
        f"- survivors: {len(survivors)}"
        + (", each accepted below" if all(o.mutant.accepted for o in survivors) else ""),
        "",
        "## Accepted survivors",
        "",
    ]
    if not survivors:
        lines += ["None.", ""]
    for outcome in survivors:
        mutant = outcome.mutant
        lines += [
            f"### {mutant.id}",
            "",
            f"- file: `{mutant.file}`",
            f"- the bug: {mutant.bug}",
            f"- why it is accepted: {mutant.accepted or '**not explained**'}",
            "",
        ]
    lines += [
        "## Every mutant",
        "",
        "| mutant | file | outcome | killed by | seconds |",
        "|---|---|---|---|---|",
    ]
    for outcome in outcomes:
        killer = f"`{outcome.killer}`" if outcome.killer else ""
        lines.append(
            f"| {outcome.mutant.id} | `{outcome.mutant.file}` | {describe(outcome)} | {killer} "
            f"| {outcome.seconds:.0f} |"
        )
    RESULTS_FILE.write_text("\n".join(lines) + "\n", encoding="utf-8")


def check(mutants: list[Mutant]) -> int:
    """The list against the checkout's files, without running anything."""
    problems = 0
    for mutant in mutants:
        path = ROOT / mutant.file
        found = path.read_text(encoding="utf-8").count(mutant.original) if path.is_file() else -1
        if found != 1:
            problems += 1
            print(f"{mutant.id}: the original text occurs {found} times in {mutant.file}")
        for test in mutant.tests:
            if not (ROOT / test.split("::")[0]).is_file():
                problems += 1
                print(f"{mutant.id}: no test file {test}")
    print(f"{len(mutants)} mutants, {problems} problems")
    return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", metavar="ID", help="run these mutants only")
    parser.add_argument(
        "--mutants", type=Path, default=MUTANTS_FILE, help="the list (default: %(default)s)"
    )
    parser.add_argument("--list", action="store_true", help="list the mutants and stop")
    parser.add_argument(
        "--check", action="store_true", help="check that each original text occurs once, and stop"
    )
    parser.add_argument("--jobs", type=int, default=1, help="mutants at once (default 1)")
    parser.add_argument(
        "--full-suite", action="store_true", help="run the whole suite against each survivor"
    )
    parser.add_argument("--keep", action="store_true", help="keep the copies afterwards")
    parser.add_argument(
        "--tests",
        nargs="+",
        metavar="TEST",
        help="with --only: run these pytest arguments instead of the mutants' own tests "
        "(e.g. to see whether the rest of a file already catches a mutant)",
    )
    arguments = parser.parse_args()

    mutants = load_mutants(arguments.mutants)
    if arguments.list:
        for mutant in mutants:
            print(f"{mutant.id:45} {mutant.file}")
        return 0
    if arguments.check:
        return check(mutants)
    if arguments.only:
        unknown = set(arguments.only) - {mutant.id for mutant in mutants}
        if unknown:
            parser.error(f"no such mutant: {', '.join(sorted(unknown))}")
        mutants = [mutant for mutant in mutants if mutant.id in arguments.only]
    if arguments.tests:
        if not arguments.only:
            parser.error("--tests goes with --only")
        for mutant in mutants:
            mutant.tests = arguments.tests

    started = time.monotonic()
    outcomes = run(mutants, max(1, arguments.jobs), arguments.full_suite, arguments.keep)
    seconds = time.monotonic() - started
    killed, total, score = summary(outcomes)
    survivors = [outcome for outcome in outcomes if outcome.status == "survived"]
    invalid = [outcome for outcome in outcomes if outcome.status == "invalid"]
    unexplained = [outcome for outcome in survivors if not outcome.mutant.accepted]

    print(f"\nscore: {killed} / {total} killed ({score:.1f} %) in {seconds / 60:.1f} min")
    for outcome in survivors:
        reason = outcome.mutant.accepted or "NOT EXPLAINED: add a test, or accepted = why"
        print(f"  survived: {outcome.mutant.id} ({outcome.mutant.file}): {reason}")
    for outcome in invalid:
        print(f"  invalid: {outcome.mutant.id}: {outcome.detail}")
    if not arguments.only and arguments.mutants == MUTANTS_FILE:
        command = "make mutate" + (
            f" MUTATE_ARGS='{' '.join(sys.argv[1:])}'" if sys.argv[1:] else ""
        )
        write_results(outcomes, seconds, command, max(1, arguments.jobs))
        print(f"wrote {RESULTS_FILE.relative_to(ROOT)}")
    return 1 if unexplained or invalid else 0


if __name__ == "__main__":
    with suppress(KeyboardInterrupt):
        sys.exit(main())
    sys.exit(130)
