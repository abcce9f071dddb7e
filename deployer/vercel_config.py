"""vercel.json, read once for the commands that need it (doctor, schedule)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from deployer.runtime import jobs

CRON_PREFIX = "/api/cron/"
# Vercel takes five fields of digits, "*", "/", "," and "-" (no names, no @daily, no seconds).
CRON_FIELD = re.compile(r"^[\d*/,\-]+$")


class VercelConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Cron:
    path: str
    schedule: str

    @property
    def job(self) -> str | None:
        """The fleetcron job this cron calls, if it calls one."""
        name = self.path.removeprefix(CRON_PREFIX).split("?")[0].rstrip("/")
        return name if self.path.startswith(CRON_PREFIX) and name in jobs.JOBS else None


@dataclass(frozen=True)
class VercelConfig:
    path: Path
    crons: list[Cron] = field(default_factory=list)
    functions: dict[str, dict] = field(default_factory=dict)

    def schedule_of(self, job: str) -> str | None:
        return next((cron.schedule for cron in self.crons if cron.job == job), None)

    def job_schedules(self) -> dict[str, str]:
        """Each job's schedule, for pg_cron; an error names this file and what to fix in it."""
        for cron in self.crons:
            if cron.job and not is_cron_expression(cron.schedule):
                raise VercelConfigError(
                    f'{self.path}: the schedule "{cron.schedule}" of {cron.path} is not a '
                    'five-field cron expression, e.g. "*/5 * * * *"'
                )
        schedules = {job: self.schedule_of(job) for job in jobs.JOBS}
        if missing := [job for job, schedule in schedules.items() if schedule is None]:
            raise VercelConfigError(f"{self.path} schedules no cron for {', '.join(missing)}")
        return schedules

    def max_duration_of(self, entry_file: str) -> int | None:
        """maxDuration for an entry file, from the first functions pattern that matches it."""
        for pattern, settings in self.functions.items():
            if Path(entry_file).match(pattern) or pattern == entry_file:
                return settings.get("maxDuration")
        return None


def load(path: Path) -> VercelConfig:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise VercelConfigError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise VercelConfigError(f"{path} cannot be read: {error}") from None
    except json.JSONDecodeError as error:
        raise VercelConfigError(
            f"{path} is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}"
        ) from None
    if not isinstance(document, dict):
        raise VercelConfigError(f"{path} must hold a JSON object")
    crons = document.get("crons", [])
    functions = document.get("functions", {})
    if not isinstance(crons, list) or not all(
        isinstance(cron, dict)
        and isinstance(cron.get("path"), str)
        and isinstance(cron.get("schedule"), str)
        for cron in crons
    ):
        raise VercelConfigError(f'{path}: "crons" must be a list of {{"path", "schedule"}}')
    if not isinstance(functions, dict) or not all(
        isinstance(settings, dict) for settings in functions.values()
    ):
        raise VercelConfigError(f'{path}: "functions" must map patterns to objects')
    return VercelConfig(
        path=path,
        crons=[Cron(cron["path"], cron["schedule"]) for cron in crons],
        functions=functions,
    )


def is_cron_expression(expression: str) -> bool:
    fields = expression.split()
    return len(fields) == 5 and all(CRON_FIELD.match(field) for field in fields)


def more_than_daily(expression: str) -> bool:
    minute, hour = expression.split()[:2]
    return not (minute.isdigit() and hour.isdigit())
