"""A throwaway PostgreSQL server built from the binaries already on this machine.

The CLI uses it when no DATABASE_URL is given, and the tests start one per session. initdb and
postgres refuse to run as root, so when we are root every server command runs as the
unprivileged ``postgres`` account (``runuser``). The server listens on 127.0.0.1 only, with
password (SCRAM) authentication so that the URLs it hands out look like real ones, and keeps
its port from one start to the next: a DATABASE_URL exported from ``fleetcron local url`` stays
valid unless another program took the port meanwhile.

As root, the server account is not trusted with anything root writes. The state directory
(``home``) belongs to root, mode 0711, and holds what root writes: ``server.json`` (port and
password, 0600), ``fleetcron.conf`` (the settings, included by absolute path), ``server.log``
and, during initdb only, ``initdb.pw``. Only ``home/data`` belongs to the server account, and
root never writes inside it: the one line it adds to ``postgresql.conf`` is written by the server
account itself. Root's files are written to a fresh name (O_EXCL, O_NOFOLLOW) and renamed into
place, so a link planted under an old name is replaced, never followed. A state directory that
is a symlink or belongs to anyone else is refused.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import secrets
import shutil
import socket
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

SERVER_ACCOUNT = "postgres"
SUPERUSER = "postgres"
DEFAULT_DATABASE = "fleetcron"
STATE_FILE = "server.json"
SETTINGS_FILE = "fleetcron.conf"
LOG_FILE = "server.log"
# initdb reads the superuser password from a file; it exists only while initdb runs.
INITDB_INPUT = "initdb.pw"

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
        return self.home / LOG_FILE

    @property
    def settings_file(self) -> Path:
        return self.home / SETTINGS_FILE

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
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        _check_ownership(home)
        # As root, the server account may pass through (to data/ and the files it reads) but
        # not list or write; otherwise the folder is ours alone.
        home.chmod(0o711 if os.geteuid() == 0 else 0o700)
        _check_reachable_by_server_account(home)
        # A data folder without a state file is what an interrupted initdb leaves behind.
        if (home / "data").exists() and not (home / STATE_FILE).exists():
            shutil.rmtree(home / "data")
        (home / "data").mkdir(mode=0o700)
        _hand_to_server_account(home / "data")
        os.close(_create_file(home / LOG_FILE, for_server_account=True))  # pg_ctl appends
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
        """Stop and delete whatever local server ``home`` holds, even a half-made one.

        Also one whose folder the server account owns (earlier fleetcron versions made them so):
        deleting is safe, as rmtree never follows links and pg_ctl runs as that account.
        """
        home = Path(home)
        if not home.exists():
            return
        _check_ownership(home, or_server_account=True)
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
        _write_file(self.home / STATE_FILE, json.dumps(state, indent=2))

    def start(self) -> None:
        """Start the server and wait until it accepts connections.

        It keeps its port; only when another program holds that port does it move to a free
        one (``port`` then differs from before, which callers tell the user).
        """
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
        if self.pg_cron_database:
            self._create_database(self.pg_cron_database)
            # Preloading pg_cron is not enough: its schema must exist in cron.database_name
            # before anything can be scheduled, and only a superuser may create it. Here we are
            # that superuser, so `fleetcron schedule install` works on the first try.
            self._run_sql(self.pg_cron_database, "create extension if not exists pg_cron")

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
        password_file = self.home / INITDB_INPUT
        _write_file(password_file, self.password + "\n", for_server_account=True)
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
        text = "# Written by fleetcron's local server helper.\n" + "\n".join(lines) + "\n"
        # Readable by the server account (it holds no secret); written and owned by us.
        _write_file(self.settings_file, text, mode=0o644)
        self._include_settings()

    def _include_settings(self) -> None:
        """Make postgresql.conf include our settings file, once. The server account writes
        inside its own data folder itself, so nothing it planted there is followed as root."""
        include = "include = '{}'".format(str(self.settings_file).replace("'", "''"))
        append_once = 'grep -qxF "$1" "$2" || printf "\n%s\n" "$1" >> "$2"'
        self._server_command_line(
            ["sh", "-c", append_once, "sh", include, str(self.data_dir / "postgresql.conf")]
        )

    def _create_database(self, dbname: str) -> None:
        from psycopg import sql  # imported late: the rest of this module needs no driver

        exists = self._run_sql(
            "postgres", "select 1 from pg_catalog.pg_database where datname = %s", (dbname,)
        )
        if not exists:
            # CREATE DATABASE cannot run inside a transaction, so not under db.pinned.
            self._run_sql(
                "postgres", sql.SQL("create database {}").format(sql.Identifier(dbname)), pin=False
            )

    def _run_sql(
        self, dbname: str, query: object, params: tuple = (), *, pin: bool = True
    ) -> list[tuple]:
        import psycopg

        from deployer.runtime import db

        with psycopg.connect(self.url(dbname), autocommit=True) as conn:
            if not pin:
                conn.execute(query)
                return []
            with db.pinned(conn):
                cursor = conn.execute(query, params)
                return cursor.fetchall() if cursor.description else []

    def _server_command(self, program: str, *args: str) -> None:
        self._server_command_line([str(self.bindir / program), *args], program=program)

    def _server_command_line(self, command: list[str], *, program: str | None = None) -> None:
        result = subprocess.run(
            _as_server_account(command), capture_output=True, text=True, cwd=self.home
        )
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            hint = f" (server log: {self.log_file})" if program == "pg_ctl" else ""
            last = detail[-1] if detail else f"exit {result.returncode}"
            raise LocalPostgresError(f"{program or command[0]} failed: {last}{hint}")


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # PostgreSQL listens with SO_REUSEADDR, so the connections of its last run that linger
        # in TIME_WAIT do not keep it from its port. Probing without it would call the port
        # taken for a minute after every stop, and move the server for no reason.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
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


def _check_ownership(path: Path, *, or_server_account: bool = False) -> None:
    """Refuse a state folder or file that is a symlink or that anyone else owns: planted in
    /var/tmp by another user, or, as root, by the server account itself."""
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        raise LocalPostgresError(f"{path} is not ours: it is a symlink")
    owners = {os.geteuid()}
    if or_server_account and os.geteuid() == 0:
        owners.add(_server_account().pw_uid)
    if info.st_uid not in owners:
        owner = _user_name(info.st_uid)
        raise LocalPostgresError(
            f"{path} is not ours: it belongs to {owner}, not {_user_name(os.geteuid())}; "
            "remove it with: fleetcron local destroy"
        )


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


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


def _hand_to_server_account(folder: Path) -> None:
    """As root, give a folder we just made to the server account; otherwise keep it private."""
    if os.geteuid() == 0:
        account = _server_account()
        os.chown(folder, account.pw_uid, account.pw_gid, follow_symlinks=False)
    folder.chmod(0o700)


def _write_file(
    path: Path, text: str, *, mode: int = 0o600, for_server_account: bool = False
) -> None:
    """Replace ``path`` with ``text`` without following a link planted under its name: write a
    fresh file (O_EXCL, O_NOFOLLOW) beside it, then rename it over the old name."""
    fresh = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    descriptor = _create_file(fresh, mode=mode, for_server_account=for_server_account)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        fresh.replace(path)
    except BaseException:
        fresh.unlink(missing_ok=True)
        raise


def _create_file(path: Path, *, mode: int = 0o600, for_server_account: bool = False) -> int:
    """Create ``path`` as a new file (never through a link); as root, for the server account
    when it must write or read it. Returns the open descriptor; an existing file is kept."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    except FileExistsError:
        _check_ownership(path, or_server_account=for_server_account)
        return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW)
    os.fchmod(descriptor, mode)  # not narrowed by the umask
    if for_server_account and os.geteuid() == 0:
        account = _server_account()
        os.fchown(descriptor, account.pw_uid, account.pw_gid)
    return descriptor
