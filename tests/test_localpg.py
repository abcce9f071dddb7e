"""The local PostgreSQL helper: root-safe, and careful with the folders it is pointed at."""

import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg
import pytest

from deployer.localpg import STATE_FILE, LocalPostgres, LocalPostgresError


@pytest.fixture
def home():
    folder = Path(tempfile.gettempdir()) / f"fleetcron-localpg-{uuid.uuid4().hex[:8]}"
    yield folder
    LocalPostgres.discard(folder)


def test_the_server_files_belong_to_an_unprivileged_account(pg_server):
    owner = pg_server.data_dir.stat().st_uid

    expected = pwd.getpwnam("postgres").pw_uid if os.geteuid() == 0 else os.geteuid()
    assert owner == expected


def test_it_listens_on_loopback_with_password_authentication(pg_server):
    with psycopg.connect(pg_server.url("postgres")) as conn:
        settings = dict(
            conn.execute(
                "select name, setting from pg_settings "
                "where name in ('listen_addresses', 'password_encryption')"
            ).fetchall()
        )

    assert settings == {"listen_addresses": "127.0.0.1", "password_encryption": "scram-sha-256"}
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(pg_server.url("postgres", password="wrong"))


def test_a_server_survives_stop_and_start_with_its_data(home):
    server = LocalPostgres.create(home, pg_cron_database=None)
    server.start()
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute("create table kept (x int)")
    server.stop()

    again = LocalPostgres.load(home)
    again.start()

    with psycopg.connect(again.url()) as conn:
        assert conn.execute("select to_regclass('kept') is not null").fetchone()[0]
    assert again.is_running()


def test_the_state_file_keeps_no_paths_and_is_private(home):
    LocalPostgres.create(home, pg_cron_database=None)

    state_file = home / STATE_FILE
    assert sorted(json.loads(state_file.read_text())) == ["password", "pg_cron_database", "port"]
    assert state_file.stat().st_mode & 0o077 == 0


def test_a_home_that_is_a_symlink_is_refused(home, tmp_path):
    target = Path(tempfile.mkdtemp())
    home.symlink_to(target)

    with pytest.raises(LocalPostgresError, match="is not ours"):
        LocalPostgres.create(home, pg_cron_database=None)

    home.unlink()
    target.rmdir()


def test_a_damaged_state_file_is_one_clear_error(home):
    LocalPostgres.create(home, pg_cron_database=None)
    (home / STATE_FILE).write_text("{not json")

    with pytest.raises(LocalPostgresError, match="is damaged; remove the local server with"):
        LocalPostgres.load(home)


def test_a_half_made_server_is_replaced_by_the_next_create(home):
    server = LocalPostgres.create(home, pg_cron_database=None)
    (home / STATE_FILE).unlink()  # as if initdb had been interrupted before the state was saved

    again = LocalPostgres.create(home, pg_cron_database=None)
    again.start()

    assert again.password != server.password
    assert again.is_running()


def test_discard_removes_a_running_server_even_without_its_state(home):
    server = LocalPostgres.create(home, pg_cron_database=None)
    server.start()
    (home / STATE_FILE).unlink()

    LocalPostgres.discard(home)

    assert not home.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(server.url(), connect_timeout=2)


# -- as root, the server account is not trusted with root's writes ---------------------------


@pytest.fixture
def as_root() -> None:
    """The attack is the postgres account against root: these tests must run as root, as CI
    does. They fail rather than skip elsewhere, so a run that cannot check them says so."""
    assert os.geteuid() == 0, "run the tests as root (as .ci/run does): this test is root's"


def as_server_account(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", "postgres", "--", *command], capture_output=True)


@pytest.fixture
def victim():
    """A file of root's, outside any state directory, that no local-server step may touch."""
    folder = Path(tempfile.mkdtemp())
    path = folder / "precious"
    path.write_text("precious\n")
    path.chmod(0o644)
    yield path
    shutil.rmtree(folder)


def untouched(path: Path) -> bool:
    info = path.stat()
    return path.read_text() == "precious\n" and (info.st_uid, info.st_mode & 0o777) == (0, 0o644)


@pytest.mark.usefixtures("as_root")
def test_as_root_links_the_server_account_plants_in_the_state_dir_are_never_followed(home, victim):
    server = LocalPostgres.create(home, pg_cron_database=None)
    server.start()
    server.stop()
    for planted in (
        home / "initdb.pw",
        home / "fleetcron.conf",
        home / "server.json.tmp",
        server.data_dir / "fleetcron.conf",
        server.data_dir / "postgresql.auto.conf.tmp",
    ):
        as_server_account("ln", "-sfn", str(victim), str(planted))

    with socket.socket() as squatter:  # a taken port makes start rewrite the settings
        # SO_REUSEADDR: the server's last connections may linger in TIME_WAIT on the port.
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", server.port))
        squatter.listen()
        again = LocalPostgres.load(home)
        again.start()
    again.stop()

    assert untouched(victim)


@pytest.mark.usefixtures("as_root")
def test_as_root_a_state_dir_owned_by_the_server_account_is_refused(home, victim):
    as_server_account("mkdir", "-m", "0755", str(home))
    as_server_account("ln", "-s", str(victim), str(home / "initdb.pw"))

    with pytest.raises(LocalPostgresError, match="belongs to postgres"):
        LocalPostgres.create(home, pg_cron_database=None)

    assert untouched(victim)
    assert (home / "initdb.pw").is_symlink()


@pytest.mark.usefixtures("as_root")
def test_as_root_the_state_dir_is_roots_and_only_the_data_dir_is_the_server_accounts(home):
    server = LocalPostgres.create(home, pg_cron_database=None)

    postgres = pwd.getpwnam("postgres").pw_uid
    assert home.stat().st_uid == 0
    assert (home / STATE_FILE).stat().st_uid == 0
    assert server.data_dir.stat().st_uid == postgres
