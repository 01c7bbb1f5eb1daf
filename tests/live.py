"""Real ``headwater`` processes for end-to-end tests: servers, workers, schedulers.

Each process gets its own environment (data dir, metadata DB, executor, broker), logs to a file
the failing test can show, and is stopped (SIGTERM, then SIGKILL) when the test ends.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Proc:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no cleanup, as when a machine or container dies."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Cluster:
    """The processes of one test, sharing an environment (metadata DB, broker, data dir).

    ``unset`` names variables of this process's environment the processes must not inherit
    (a developer's ``HEADWATER_DATABASE_URL`` would otherwise replace the throwaway one).
    """

    workdir: Path
    env: dict[str, str]
    procs: list[Proc] = field(default_factory=list)
    unset: tuple[str, ...] = ()

    def environ(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        merged = {**os.environ, **self.env, **(extra or {})}
        for name in self.unset:
            merged.pop(name, None)
        return merged

    def start(self, name: str, *args: str, extra_env: dict[str, str] | None = None) -> Proc:
        log_path = self.workdir / f"{name}.log"
        handle = log_path.open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "headwater", *args],
            cwd=self.workdir,
            env=self.environ(extra_env),
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
        handle.close()
        proc = Proc(name, process, log_path)
        self.procs.append(proc)
        return proc

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """A ``headwater`` command against this cluster's metadata DB, whatever its exit."""
        return subprocess.run(
            [sys.executable, "-m", "headwater", *args],
            cwd=self.workdir,
            env=self.environ(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def cli(self, *args: str) -> str:
        result = self.run(*args)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def server(
        self,
        name: str = "server",
        command: str = "up",
        extra: tuple[str, ...] = (),
        health_limit: float = 90.0,
    ) -> tuple[Proc, str]:
        port = free_port()
        proc = self.start(name, command, "--port", str(port), *extra)
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, proc, health_limit)
        return proc, url

    def token(self, *scopes: str, name: str = "e2e") -> dict[str, str]:
        """``headwater tokens create --json``, as an operator mints one."""
        args = ["tokens", "create", "--name", name, "--json"]
        for scope in scopes:
            args += ["--scope", scope]
        return dict(json.loads(self.cli(*args)))

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()

    def logs(self) -> str:
        return "\n".join(f"----- {p.name}\n{p.log()[-4000:]}" for p in self.procs)


@dataclass
class LiveServer:
    """``headwater up`` on its embedded defaults: SQLite metadata in a throwaway data dir."""

    cluster: Cluster
    proc: Proc
    url: str

    @property
    def data_dir(self) -> Path:
        return Path(self.cluster.env["HEADWATER_DATA_DIR"])

    @property
    def log_path(self) -> Path:
        return self.proc.log_path

    def log(self) -> str:
        return self.proc.log()

    def headwater(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return self.cluster.run(*args, timeout=timeout)

    def mint_token(self, *scopes: str, name: str = "live test") -> dict[str, str]:
        return self.cluster.token(*scopes, name=name)


@contextmanager
def embedded_up(workdir: Path, **env: str) -> Iterator[LiveServer]:
    """Run ``headwater up`` on a free port with ``workdir/data`` as its data dir until the
    block ends (SIGTERM, then SIGKILL)."""
    cluster = Cluster(
        workdir,
        {"HEADWATER_DATA_DIR": str(workdir / "data"), **env},
        unset=("HEADWATER_DATABASE_URL", "HEADWATER_PUBLIC_URL"),
    )
    try:
        proc, url = cluster.server()
        yield LiveServer(cluster, proc, url)
    finally:
        cluster.stop_all()


def wait_healthy(url: str, proc: Proc, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.process.poll() is not None:
            raise AssertionError(f"{proc.name} exited early:\n{proc.log()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{proc.name} not healthy within {limit} s:\n{proc.log()}")


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (read from ``/proc``)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


class Api:
    """A small synchronous client for the v1 API of a live server."""

    def __init__(self, url: str, token: dict[str, str]) -> None:
        self.client = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token['token']}"}, timeout=30
        )
        self.prefix = f"/v1/accounts/{token['account_id']}/environments/{token['environment_id']}"

    def call(self, method: str, path: str, expect: int = 200, **kw: Any) -> Any:
        response = self.client.request(method, self.prefix + path, **kw)
        assert response.status_code == expect, f"{method} {path}: {response.text}"
        return response.json()

    def pg_connection(self, name: str, database: str) -> str:
        body = {
            "connection_name": name,
            "connection_type": "postgres",
            "properties": {
                "host": "127.0.0.1",
                "port": 5432,
                "database": database,
                "username": "postgres",
                "password": "unused-with-trust",
            },
        }
        return str(self.call("POST", "/connections", 201, json=body)["connection_id"])

    def copy_river(self, name: str, source_id: str, target_id: str, table: dict[str, Any]) -> str:
        body = {
            "name": name,
            "type": "source_to_target",
            "properties": {
                "source": {"connection_id": source_id},
                "target": {"connection_id": target_id, "schema_name": "public"},
                "schemas": [{"name": "public", "tables": [table]}],
            },
        }
        return str(self.call("POST", "/rivers", 201, json=body)["cross_id"])

    def tiny_rivers(self, pg: dict[str, str], count: int) -> list[str]:
        """``count`` rivers copying ``pg["src"]``'s ``tiny`` table (see :func:`fill_table`) into
        ``tiny_<i>`` of ``pg["dst"]``, over one source and one target connection."""
        source = self.pg_connection("src", pg["src"].rsplit("/", 1)[1])
        target = self.pg_connection("dst", pg["dst"].rsplit("/", 1)[1])
        return [
            self.copy_river(
                f"tiny {i}",
                source,
                target,
                {"name": "tiny", "details": {"target_table": f"tiny_{i}"}},
            )
            for i in range(count)
        ]

    def run(self, river_id: str) -> dict[str, Any]:
        return dict(self.call("POST", f"/rivers/{river_id}/run", 202))

    def wait_run(self, river_id: str, run_id: str, limit: float = 90) -> dict[str, Any]:
        deadline = time.monotonic() + limit
        while True:
            run = self.call("GET", f"/rivers/{river_id}/runs/{run_id}")
            if run["status"] not in {"pending", "running"}:
                return dict(run)
            if time.monotonic() > deadline:
                raise AssertionError(f"run {run_id} still {run['status']} after {limit} s")
            time.sleep(0.2)

    def close(self) -> None:
        self.client.close()


TOKEN_SCOPES = ("river:list", "river:write", "river:execute", "connection:edit", "activities:list")


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def make_cluster(tmp_path: Path, pg: dict[str, str], **env: str) -> Cluster:
    return Cluster(
        workdir=tmp_path,
        env={
            "HEADWATER_DATA_DIR": str(tmp_path / "data"),
            "HEADWATER_DATABASE_URL": libpq(pg["meta"]),
            "HEADWATER_ADMIN_PASSWORD": "admin-password",
            "HEADWATER_CELERY_QUEUE": f"hw-test-{uuid.uuid4().hex[:8]}",
            **env,
        },
    )


def fill_table(url: str, table: str, rows: int) -> None:
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute(f'DROP TABLE IF EXISTS "{table}"')
        conn.execute(
            f'CREATE TABLE "{table}" (id bigint PRIMARY KEY, body text, amount numeric(14,2))'
        )
        conn.execute(
            f"INSERT INTO \"{table}\" SELECT g, md5(g::text) || repeat('x', 40),"
            f" (g * 0.5)::numeric(14,2) FROM generate_series(1, {rows}) g"
        )


def checksum(url: str, table: str) -> tuple[int, str] | None:
    """(row count, md5 of all rows in id order) or None when the table does not exist."""
    with psycopg.connect(libpq(url)) as conn:
        found = conn.execute("SELECT to_regclass(%s)", (f"public.{table}",)).fetchone()
        if found is None or found[0] is None:
            return None
        row = conn.execute(
            "SELECT count(*), md5(coalesce(string_agg(t::text, ',' ORDER BY id), ''))"
            f' FROM "{table}" t'
        ).fetchone()
        assert row is not None
        return int(row[0]), str(row[1])
