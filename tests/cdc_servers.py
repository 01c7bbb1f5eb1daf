"""Private database servers for the change capture tests, started like CI can.

The shared services run with the default ``wal_level`` and no binlog, so the CDC tests
start their own: a PostgreSQL cluster with ``wal_level=logical`` (``initdb`` + ``pg_ctl``
run as the ``postgres`` user) and a MariaDB with the row binlog (``mariadb-install-db`` +
``mariadbd`` run as ``mysql``), each in a temporary directory on a free port, stopped at
the end of the session. ``restart`` stops and starts one in place (the source restarted
mid-stream).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests._services import in_ci


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _missing(what: str) -> None:
    message = f"{what} is needed: the CDC tests start their own database servers"
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)


def _wait_port(port: int, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not start")


def _owned_tempdir(user: str) -> Path:
    if os.geteuid() != 0:
        _missing(f"root (to run the server as the {user} user)")
    base = Path(tempfile.mkdtemp(prefix=f"hw-cdc-{user}-"))
    base.chmod(0o755)
    shutil.chown(base, user, user)
    return base


@dataclass
class PgCluster:
    directory: Path
    port: int

    @property
    def props(self) -> dict[str, object]:
        return {
            "host": "127.0.0.1",
            "port": self.port,
            "database": "postgres",
            "username": "postgres",
            "sslmode": "disable",
        }

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                "pg_ctl",
                "-D",
                str(self.directory / "data"),
                *args,
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c wal_level=logical "
            "-c max_replication_slots=20 -c max_wal_senders=20 -c fsync=off "
            f"-c unix_socket_directories={self.directory}"
        )
        self._ctl("-o", options, "-l", str(self.directory / "log"), "-w", "start")
        _wait_port(self.port)

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError):
            self._ctl("-m", "fast", "-w", "stop")

    def restart(self) -> None:
        self.stop()
        self.start()


@contextlib.contextmanager
def pg_cluster() -> Iterator[PgCluster]:
    if shutil.which("initdb") is None or shutil.which("runuser") is None:
        _missing("initdb (PostgreSQL server binaries)")
    directory = _owned_tempdir("postgres")
    cluster = PgCluster(directory, free_port())
    subprocess.run(
        [
            "runuser", "-u", "postgres", "--", "initdb", "-D", str(directory / "data"),
            "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )  # fmt: skip
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(directory, ignore_errors=True)


@dataclass
class MariaDB:
    directory: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def props(self) -> dict[str, object]:
        return {"host": "127.0.0.1", "port": self.port, "username": "root", "database": "cdc"}

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "mariadbd", "--no-defaults", "--user=mysql",
                f"--datadir={self.directory / 'data'}", f"--port={self.port}",
                "--bind-address=127.0.0.1", f"--socket={self.directory / 'sock'}",
                # its own temp dir: a test that cleans /tmp removed its temp tables once
                f"--tmpdir={self.directory}",
                f"--pid-file={self.directory / 'pid'}", "--skip-grant-tables=0",
                f"--log-bin={self.directory / 'data' / 'binlog'}", "--binlog-format=ROW",
                "--binlog-row-image=FULL", "--binlog-row-metadata=FULL", "--server-id=1",
                "--innodb-buffer-pool-size=64M", "--innodb-flush-log-at-trx-commit=2",
                "--skip-name-resolve", f"--log-error={self.directory / 'error.log'}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_port(self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(30)
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(10)
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


@contextlib.contextmanager
def mariadb_server() -> Iterator[MariaDB]:
    if shutil.which("mariadb-install-db") is None or shutil.which("mariadbd") is None:
        _missing("mariadb-install-db (MariaDB server)")
    directory = _owned_tempdir("mysql")
    subprocess.run(
        [
            "mariadb-install-db", "--no-defaults", "--user=mysql",
            f"--datadir={directory / 'data'}", "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ],
        check=True,
        capture_output=True,
        timeout=180,
        env={**os.environ},
    )  # fmt: skip
    server = MariaDB(directory, free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def logical_pg() -> Iterator[PgCluster]:
    """A logical-replication cluster with databases ``postgres`` and ``target``."""
    import psycopg

    with pg_cluster() as running:
        with psycopg.connect(running.url, autocommit=True) as conn:
            conn.execute("CREATE DATABASE target")
        yield running


def river_slot(cluster: PgCluster, river_id: str, table: str) -> None:
    """Create a river's publication and slot as its first CDC run does (``prepare``)."""
    import psycopg

    from headwater.connectors.base import TableRef
    from headwater.connectors.postgres.source import PostgresSource

    with psycopg.connect(cluster.url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {table} (id int PRIMARY KEY, v text)")
    source = PostgresSource(dict(cluster.props, schema="public"))
    reader = source.change_reader(river_id)
    try:
        reader.prepare(TableRef(table, "public"))
    finally:
        reader.close()
        source.close()


def has_slot(cluster: PgCluster, river_id: str) -> bool:
    import psycopg

    from headwater.connectors.postgres.cdc import slot_names

    with psycopg.connect(cluster.url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_replication_slots WHERE slot_name = %s",
            (slot_names(river_id)[1],),
        ).fetchone()
    return bool(row and row[0])
