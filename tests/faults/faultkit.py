"""What the fault tests share: slow sources, rivers per load method, private servers to break.

Private PostgreSQL clusters and Redis servers live in temp dirs on free ports, so a test can stop,
kill and restart them without disturbing the shared services other tests use.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.live import Api, free_port, libpq

PG_BIN = Path("/usr/lib/postgresql/15/bin")
SLOW_VIEW = "events_slow"


def slow_source(url: str, rows: int, slow_every: int, first_id: int = 1) -> None:
    """``events`` with ``rows`` rows, and a view that pauses 0.4 s every ``slow_every`` rows."""
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS events (id bigint PRIMARY KEY, body text,"
            " amount numeric(14,2))"
        )
        add_rows(url, first_id, rows)
        conn.execute(
            "CREATE OR REPLACE FUNCTION slow_pass(id bigint) RETURNS boolean LANGUAGE plpgsql"
            f" AS $$ BEGIN IF id % {slow_every} = 0 THEN PERFORM pg_sleep(0.4); END IF;"
            " RETURN true; END $$"
        )
        conn.execute(
            f"CREATE OR REPLACE VIEW {SLOW_VIEW} AS"
            " SELECT id, body, amount FROM events WHERE slow_pass(id)"
        )


def add_rows(url: str, first_id: int, rows: int) -> None:
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO events SELECT g, md5(g::text), (g * 0.5)::numeric(14,2)"
            f" FROM generate_series({first_id}, {first_id + rows - 1}) g"
        )


def bump_source(url: str) -> None:
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute("UPDATE events SET amount = amount + 1")


def table_details(load: str, extract: str = "all") -> dict[str, Any]:
    details: dict[str, Any] = {"target_table": "events", "loading_method": load}
    if load == "merge":
        details["modified_columns"] = [{"name": "id", "is_key": True}]
    if extract == "incremental":
        details.update(
            extract_method="incremental", incremental_field="id", incremental_type="number"
        )
    return details


def copy_river(api: Api, pg: dict[str, str], load: str, extract: str = "all") -> str:
    """A river copying the slow view of ``pg['src']`` into ``events`` of ``pg['dst']``."""
    source = api.pg_connection("src", pg["src"].rsplit("/", 1)[1])
    target = api.pg_connection("dst", pg["dst"].rsplit("/", 1)[1])
    table = {"name": SLOW_VIEW, "details": table_details(load, extract)}
    return api.copy_river(f"slow {load} {extract}", source, target, table)


def wait_moving(api: Api, river_id: str, run_id: str, limit: float = 30) -> None:
    """Until the run is running and has moved bytes (the load is in the middle)."""
    deadline = time.monotonic() + limit
    while True:
        run = api.call("GET", f"/rivers/{river_id}/runs/{run_id}")
        if run["status"] == "running" and run["total_size"] > 0:
            return
        assert run["status"] in {"pending", "running"}, run
        assert time.monotonic() < deadline, f"run never started moving data: {run}"
        time.sleep(0.1)


def id_multiplicity(url: str, table: str = "events") -> dict[int, int]:
    """How many rows each distinct count of copies has: {1: n} means no duplicates."""
    with psycopg.connect(libpq(url)) as conn:
        rows = conn.execute(
            f'SELECT c, count(*) FROM (SELECT count(*) c FROM "{table}" GROUP BY id) x GROUP BY c'
        ).fetchall()
    return {int(c): int(n) for c, n in rows}


# -- private servers ----------------------------------------------------------------------------


def _as_postgres(*args: str) -> list[str]:
    """Run a PostgreSQL binary as the ``postgres`` OS user when root (initdb refuses root)."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return list(args)


class PrivatePostgres:
    """A throwaway PostgreSQL 15 cluster: ``start``, ``stop``, ``restart`` without side effects."""

    def __init__(self) -> None:
        if not (PG_BIN / "initdb").exists():
            pytest.skip("PostgreSQL 15 server binaries are not installed")
        self.root = Path(tempfile.mkdtemp(prefix="hw-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root / "sock"
        self.socket_dir.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
            shutil.chown(self.socket_dir, "postgres")
        self.port = free_port()
        subprocess.run(
            _as_postgres(
                str(PG_BIN / "initdb"),
                "-D",
                str(self.data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ),
            check=True,
            capture_output=True,
        )

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _ctl(self, *args: str) -> None:
        options = f"-p {self.port} -k {self.socket_dir} -c fsync=off"
        subprocess.run(
            _as_postgres(
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(self.data),
                "-o",
                options,
                "-l",
                str(self.root / "server.log"),
                "-w",
                "-t",
                "30",
                *args,
            ),
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        self._ctl("start")

    def stop(self) -> None:
        self._ctl("stop", "-m", "fast")

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self._ctl("stop", "-m", "immediate")
        shutil.rmtree(self.root, ignore_errors=True)


class PrivateRedis:
    """A ``redis-server`` without persistence on a free port: a restart loses every message."""

    def __init__(self) -> None:
        if shutil.which("redis-server") is None:
            pytest.skip("redis-server is not installed")
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                import socket

                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("private redis-server did not start")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
