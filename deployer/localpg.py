"""A throwaway PostgreSQL server built from the binaries already on this machine.

The CLI uses it when no DATABASE_URL is given, and the tests start one per session. initdb and
postgres refuse to run as root, so when we are root every server command runs as the
unprivileged ``postgres`` account (``runuser``) inside a directory that account owns.
The server listens on 127.0.0.1 only, on a free port, with password (SCRAM) authentication so
that the URLs it hands out look like real ones.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

SERVER_ACCOUNT = "postgres"
SUPERUSER = "postgres"
DEFAULT_DATABASE = "fleetcron"
STATE_FILE = "server.json"

# Safe only because the server is throwaway: a crash may lose recent commits, never matters.
THROWAWAY_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}


class LocalPostgresError(RuntimeError):
    """The local server could not be found, created, started or stopped."""


def find_bindir() -> Path:
    """Where initdb, pg_ctl and postgres live on this machine.

    FLEETCRON_PG_BINDIR wins; then ``pg_config --bindir``; then the newest of the
    distribution's versioned folders (Debian: /usr/lib/postgresql/<major>/bin).
    """
    candidates: list[Path] = []
    if override := os.environ.get("FLEETCRON_PG_BINDIR"):
        candidates.append(Path(override))
    if pg_config := shutil.which("pg_config"):
        result = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        if result.returncode == 0:
            candidates.append(Path(result.stdout.strip()))
    versioned = Path("/usr/lib/postgresql").glob("*/bin")
    candidates += sorted(versioned, key=_major_version, reverse=True)
    candidates.append(Path("/usr/local/pgsql/bin"))
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    raise LocalPostgresError(
        "no PostgreSQL server binaries found (looked for initdb and pg_ctl via "
        "FLEETCRON_PG_BINDIR, pg_config --bindir and /usr/lib/postgresql/*/bin); "
        "install the server package, e.g. apt-get install postgresql-15"
    )


def _major_version(bindir: Path) -> int:
    match = re.fullmatch(r"\d+", bindir.parent.name)
    return int(match.group()) if match else 0


def pg_cron_available(bindir: Path) -> bool:
    """Whether the pg_cron library is installed for this server version."""
    return (bindir.parent / "lib" / "pg_cron.so").is_file() or (
        _pkglibdir(bindir) / "pg_cron.so"
    ).is_file()


def _pkglibdir(bindir: Path) -> Path:
    pg_config = bindir / "pg_config"
    if pg_config.is_file():
        result = subprocess.run([pg_config, "--pkglibdir"], capture_output=True, text=True)
        if result.returncode == 0:
            return Path(result.stdout.strip())
    return bindir.parent / "lib"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def default_home() -> Path:
    """Where the CLI keeps its local server between commands.

    As root the server account must be able to reach the data directory, and root's own
    home is closed to it, so root's server lives under /var/tmp instead.
    """
    if override := os.environ.get("FLEETCRON_HOME"):
        return Path(override)
    if os.geteuid() == 0:
        # A fixed name in a shared folder: _check_ownership refuses one someone else planted.
        return Path("/var/tmp/fleetcron")  # noqa: S108
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "fleetcron"


@dataclass
class LocalPostgres:
    """One server: its directory, port and superuser password."""

    home: Path
    port: int
    password: str
    bindir: Path
    host: str = "127.0.0.1"
    user: str = SUPERUSER
    pg_cron_database: str | None = None

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def log_file(self) -> Path:
        return self.home / "server.log"

    def url(
        self, dbname: str = DEFAULT_DATABASE, user: str | None = None, password: str | None = None
    ) -> str:
        return (
            f"postgresql://{user or self.user}:{password or self.password}"
            f"@{self.host}:{self.port}/{dbname}"
        )

    # -- lifecycle -------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        home: Path | None = None,
        *,
        port: int | None = None,
        pg_cron_database: str | None = DEFAULT_DATABASE,
        bindir: Path | None = None,
    ) -> LocalPostgres:
        """initdb a new cluster in ``home`` (a fresh temporary folder when omitted).

        pg_cron is preloaded when the machine has it, running its jobs in
        ``pg_cron_database``; pass None to leave pg_cron out.
        """
        bindir = bindir or find_bindir()
        home = Path(home) if home else Path(tempfile.mkdtemp(prefix="fleetcron-pg-"))
        home.mkdir(parents=True, exist_ok=True)
        _check_ownership(home)
        _check_reachable_by_server_account(home)
        _hand_to_server_account(home)
        # A data folder without a state file is what an interrupted initdb leaves behind.
        if (home / "data").exists() and not (home / STATE_FILE).exists():
            shutil.rmtree(home / "data")
        if pg_cron_database and not pg_cron_available(bindir):
            pg_cron_database = None
        server = cls(
            home=home,
            port=port or free_port(),
            password=secrets.token_urlsafe(18),
            bindir=bindir,
            pg_cron_database=pg_cron_database,
        )
        server._initdb()
        server._write_settings()
        server.save()
        return server

    @classmethod
    def load(cls, home: Path) -> LocalPostgres | None:
        """The server recorded in ``home``, or None when there is none.

        Only the port, password and pg_cron database come from the state file, and only from
        a folder and file that are ours: as root, the default home is in /var/tmp, where any
        user could plant a state file naming some other folder or program.
        """
        home = Path(home)
        state_file = home / STATE_FILE
        if not state_file.is_file():
            return None
        _check_ownership(home)
        _check_ownership(state_file)
        try:
            state = json.loads(state_file.read_text())
            return cls(
                home=home,
                port=int(state["port"]),
                password=str(state["password"]),
                pg_cron_database=state.get("pg_cron_database"),
                bindir=find_bindir(),
            )
        except (ValueError, KeyError, TypeError):
            raise LocalPostgresError(
                f"{state_file} is damaged; remove the local server with: fleetcron local destroy"
            ) from None

    @classmethod
    def discard(cls, home: Path) -> None:
        """Stop and delete whatever local server ``home`` holds, even a half-made one."""
        home = Path(home)
        if not home.exists():
            return
        _check_ownership(home)
        data_dir = home / "data"
        if (data_dir / "postmaster.pid").exists():
            subprocess.run(
                _as_server_account(
                    [str(find_bindir() / "pg_ctl"), "-D", str(data_dir), "-m", "fast", "-w", "stop"]
                ),
                capture_output=True,
                cwd=home,
            )
        shutil.rmtree(home, ignore_errors=True)

    def save(self) -> None:
        state = {
            "port": self.port,
            "password": self.password,
            "pg_cron_database": self.pg_cron_database,
        }
        state_file = self.home / STATE_FILE
        state_file.write_text(json.dumps(state, indent=2))
        state_file.chmod(0o600)

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        if self.is_running():
            return
        if not _port_is_free(self.port):
            self.port = free_port()
            self._write_settings()
            self.save()
        self._server_command(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_file),
            "-w",
            "-t",
            "60",
            "start",
        )
        self._create_database(DEFAULT_DATABASE)
        if self.pg_cron_database and self.pg_cron_database != DEFAULT_DATABASE:
            self._create_database(self.pg_cron_database)

    def stop(self) -> None:
        if self.is_running():
            self._server_command("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        """Stop the server and delete its files."""
        self.discard(self.home)

    def is_running(self) -> bool:
        """pg_ctl says so and the port answers (after a crash, a stale postmaster.pid can name
        a process id that some other program now has)."""
        if not (self.data_dir / "postmaster.pid").exists():
            return False
        status = subprocess.run(
            _as_server_account([str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "status"]),
            capture_output=True,
            text=True,
            cwd=self.home,
        )
        return status.returncode == 0 and not _port_is_free(self.port)

    # -- internals -------------------------------------------------------------------------

    def _initdb(self) -> None:
        password_file = self.home / "initdb.pw"
        password_file.write_text(self.password + "\n")
        _hand_to_server_account(password_file)
        try:
            self._server_command(
                "initdb",
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                "--pwfile",
                str(password_file),
                "--auth-host=scram-sha-256",
                "--auth-local=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            )
        finally:
            password_file.unlink(missing_ok=True)

    def _write_settings(self) -> None:
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            # TCP only: a socket directory is one more path the server account must own.
            "unix_socket_directories": "''",
            "timezone": "'UTC'",
            "max_connections": "100",
        } | {name: value for name, value in THROWAWAY_SETTINGS.items()}
        if self.pg_cron_database:
            settings |= {
                "shared_preload_libraries": "'pg_cron'",
                "cron.database_name": f"'{self.pg_cron_database}'",
                # Background workers need no login, so pg_cron works with password auth.
                "cron.use_background_workers": "on",
                "max_worker_processes": "20",
            }
        lines = [f"{name} = {value}" for name, value in settings.items()]
        conf = self.data_dir / "fleetcron.conf"
        conf.write_text("# Written by fleetcron's local server helper.\n" + "\n".join(lines) + "\n")
        _hand_to_server_account(conf)
        main_conf = self.data_dir / "postgresql.conf"
        include = "include = 'fleetcron.conf'"
        if include not in main_conf.read_text():
            with main_conf.open("a") as handle:
                handle.write(f"\n{include}\n")

    def _create_database(self, dbname: str) -> None:
        import psycopg  # imported late: the rest of this module needs no driver

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            exists = conn.execute(
                "select 1 from pg_database where datname = %s", (dbname,)
            ).fetchone()
            if not exists:
                conn.execute(f'create database "{dbname}"')

    def _server_command(self, program: str, *args: str) -> None:
        command = _as_server_account([str(self.bindir / program), *args])
        result = subprocess.run(command, capture_output=True, text=True, cwd=self.home)
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            hint = f" (server log: {self.log_file})" if program == "pg_ctl" else ""
            last = detail[-1] if detail else f"exit {result.returncode}"
            raise LocalPostgresError(f"{program} failed: {last}{hint}")


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _server_account() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SERVER_ACCOUNT)
    except KeyError:
        raise LocalPostgresError(
            f"running as root needs an unprivileged '{SERVER_ACCOUNT}' account to own the "
            f"server (PostgreSQL refuses root); create it with: useradd --system {SERVER_ACCOUNT}"
        ) from None


def _as_server_account(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", _server_account().pw_name, "--", *command]


def _check_ownership(home: Path) -> None:
    """Refuse a folder that is a symlink or belongs to a stranger (e.g. planted in /var/tmp)."""
    info = home.lstat()
    owners = {os.geteuid()}
    if os.geteuid() == 0:
        owners.add(_server_account().pw_uid)
    if home.is_symlink() or info.st_uid not in owners:
        raise LocalPostgresError(f"{home} is not ours (a symlink, or owned by another user)")


def _check_reachable_by_server_account(home: Path) -> None:
    """As root, the server account must be able to walk down to ``home``."""
    if os.geteuid() != 0:
        return
    account = _server_account()
    for folder in reversed(home.resolve().parents):
        info = folder.stat()
        reachable = info.st_mode & 0o001 or (info.st_uid == account.pw_uid and info.st_mode & 0o100)
        if not reachable:
            raise LocalPostgresError(
                f"the server runs as '{account.pw_name}', which cannot enter {folder}; "
                f"put the server under a folder it can reach, such as /var/tmp or /tmp"
            )


def _hand_to_server_account(path: Path) -> None:
    """As root, give ``path`` to the server account; otherwise keep it private to us."""
    if os.geteuid() == 0:
        account = _server_account()
        os.chown(path, account.pw_uid, account.pw_gid)
    path.chmod(0o700 if path.is_dir() else 0o600)
