"""A real PgBouncer in transaction pool mode in front of a test server.

Production sits behind a transaction-mode pooler (Supavisor on Supabase, PgBouncer elsewhere):
no prepared statements, no session state, ``options=-c`` dropped. Tests that go through this
harness meet those limits for real instead of trusting that the code respects them.

PgBouncer refuses to run as root, so as root it is started with ``-u postgres`` (the same
unprivileged account that owns the test server) and its files live in a folder that account
owns. The process Popen holds is pgbouncer itself, so stopping it signals pgbouncer directly.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO
from urllib.parse import quote

import psycopg

from deployer.localpg import DEFAULT_DATABASE, SERVER_ACCOUNT, LocalPostgres, free_port

ADMIN_DATABASE = "pgbouncer"
START_TIMEOUT = 10.0
LOG_TAIL_LINES = 20


def find_pgbouncer() -> Path:
    """The pgbouncer binary (Debian installs it outside a normal user's PATH)."""
    found = shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin:/sbin")
    if not found:
        raise RuntimeError("pgbouncer is not installed (Debian: apt-get install pgbouncer)")
    return Path(found)


class PgBouncer:
    """One pgbouncer process; build it with :meth:`start`, end it with :meth:`stop`."""

    host = "127.0.0.1"

    def __init__(
        self,
        server: LocalPostgres,
        users: dict[str, str],
        folder: Path,
        port: int,
        process: subprocess.Popen[bytes],
        log: IO[bytes],
    ) -> None:
        self.server = server
        self.users = users
        self.folder = folder
        self.port = port
        self.process = process
        self._log = log

    @property
    def log_file(self) -> Path:
        return self.folder / "pgbouncer.log"

    @classmethod
    def start(cls, server: LocalPostgres, users: dict[str, str]) -> PgBouncer:
        """Start pgbouncer for every database of ``server`` and wait until it serves them.

        ``users`` maps role name to password; only these roles can log in through pgbouncer,
        and pgbouncer logs in to the server with the same passwords. The server's superuser
        is always included: it is the admin-console user and the readiness probe.
        """
        users = {server.user: server.password, **users}
        folder = _private_folder()
        port = free_port()
        auth_file = folder / "users.txt"
        config_file = folder / "pgbouncer.ini"
        auth_file.write_text(
            "".join(f"{_quoted(name)} {_quoted(password)}\n" for name, password in users.items())
        )
        config_file.write_text(_config(server, port, auth_file))
        for path in (auth_file, config_file):
            _hand_to_account(path, 0o600)

        command = [str(find_pgbouncer())]
        if os.geteuid() == 0:
            command += ["-u", SERVER_ACCOUNT]
        command.append(str(config_file))
        # Without -d pgbouncer logs to stderr, including config errors raised before it could
        # open a logfile, so stderr is the one log worth keeping.
        log = (folder / "pgbouncer.log").open("wb")
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=folder
        )
        bouncer = cls(server, users, folder, port, process, log)
        try:
            bouncer._wait_until_ready()
        except BaseException:
            bouncer.stop()
            raise
        return bouncer

    def url(
        self,
        dbname: str = DEFAULT_DATABASE,
        user: str | None = None,
        password: str | None = None,
    ) -> str:
        """A URL through pgbouncer; a known user's password comes from ``users`` if omitted."""
        user = user or self.server.user
        if password is None:
            password = self.users.get(user, "")
        return (
            f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}"
            f"@{self.host}:{self.port}/{quote(dbname, safe='')}"
        )

    def stop(self) -> None:
        """Stop pgbouncer (SIGTERM is its immediate shutdown) and delete its folder."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> PgBouncer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        if not self._log.closed:
            self._log.flush()
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return "(no pgbouncer log)"
        return "\n".join(text.splitlines()[-lines:])

    def _wait_until_ready(self) -> None:
        # The admin console answers without touching the server, so it tells "pgbouncer is up"
        # apart from "pgbouncer cannot log in to the server", which gets its own message below.
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                self._fail(f"pgbouncer exited with status {self.process.returncode}")
            try:
                with psycopg.connect(self.url(ADMIN_DATABASE), connect_timeout=1):
                    break
            except psycopg.OperationalError as error:
                if time.monotonic() > deadline:
                    self._fail(
                        f"pgbouncer did not accept connections on port {self.port} "
                        f"within {START_TIMEOUT:.0f} s ({_first_line(error)})"
                    )
                time.sleep(0.05)
        try:
            with psycopg.connect(
                self.url("postgres"), connect_timeout=5, prepare_threshold=None
            ) as conn:
                conn.execute("select 1")
        except psycopg.OperationalError as error:
            self._fail(f"pgbouncer cannot reach the server: {_first_line(error)}")

    def _fail(self, reason: str) -> None:
        raise RuntimeError(f"{reason}\n--- pgbouncer log (last lines) ---\n{self.log_tail()}")


def _config(server: LocalPostgres, port: int, auth_file: Path) -> str:
    return f"""\
;; Written by fleetcron's test harness (tests/pgbouncer.py).
[databases]
* = host={server.host} port={server.port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
;; TCP only, like the server: no socket files to collide with in /tmp.
unix_socket_dir =
pool_mode = transaction
auth_type = scram-sha-256
auth_file = {auth_file}
admin_users = {server.user}
;; JDBC-style drivers send extra_float_digits; options is dropped without a word, which is
;; what Supavisor does with options=-c, so the code must not depend on it.
ignore_startup_parameters = extra_float_digits,options
;; Transaction mode runs this only when server_reset_query_always is on. That stays off, so
;; session state leaks between clients exactly as it does on a production pooler.
server_reset_query = DISCARD ALL
server_reset_query_always = 0
max_client_conn = 200
default_pool_size = 20
;; The test server allows 100 connections; leave room for direct connections beside us.
max_db_connections = 50
server_login_retry = 1
"""


def _quoted(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _private_folder() -> Path:
    if os.geteuid() != 0:
        return Path(tempfile.mkdtemp(prefix="fleetcron-pgbouncer-"))
    # TMPDIR may point into root's home, which the unprivileged account cannot enter.
    folder = Path(tempfile.mkdtemp(prefix="fleetcron-pgbouncer-", dir="/tmp"))
    _hand_to_account(folder, 0o700)
    return folder


def _hand_to_account(path: Path, mode: int) -> None:
    """As root, give ``path`` to the account pgbouncer runs as; always keep it private."""
    if os.geteuid() == 0:
        account = pwd.getpwnam(SERVER_ACCOUNT)
        os.chown(path, account.pw_uid, account.pw_gid)
    path.chmod(mode)
