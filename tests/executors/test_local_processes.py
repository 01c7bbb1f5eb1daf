"""The local executor runs run groups in worker processes, not in the API's interpreter.

Against real ``headwater up`` / ``headwater server --workers 2`` processes on PostgreSQL
metadata: the run's recorded worker is another process than the server; cancel and the run
timeout still stop it (the monitor in the worker polls the metadata DB); a worker process
killed with SIGKILL fails its run at once with a message, without waiting for the reaper, and
the executor carries on with a new pool; several API processes share one port.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import psycopg
import pytest

from tests.live import (
    TOKEN_SCOPES,
    Api,
    descendants,
    fill_table,
    libpq,
    make_cluster,
)

pytestmark = pytest.mark.slow

SLOW_QUERY = "SELECT g AS id FROM generate_series(1, 5) g, pg_sleep(30) s"


def slow_river(api: Api, source: str, target: str, name: str, **settings: int) -> str:
    body = {
        "name": name,
        "type": "source_to_target",
        "properties": {
            "source": {"connection_id": source},
            "target": {"connection_id": target, "schema_name": "public"},
            "schemas": [
                {
                    "name": "public",
                    "tables": [{"query": SLOW_QUERY, "details": {"target_table": name}}],
                }
            ],
        },
        "settings": settings,
    }
    return str(api.call("POST", "/rivers", 201, json=body)["cross_id"])


def run_worker(meta: str, run_id: str, limit: float = 20) -> int:
    """The pid in the run's ``worker`` (``host:pid``) once it is running."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        with psycopg.connect(libpq(meta)) as conn:
            row = conn.execute(
                "SELECT status, worker FROM runs WHERE id = %s", (run_id,)
            ).fetchone()
        if row is not None and row[0] == "running" and row[1]:
            return int(str(row[1]).rsplit(":", 1)[1])
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not start within {limit} s")


def gone(pid: int, limit: float = 10) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
            return True  # exited, not yet reaped by its parent
        time.sleep(0.1)
    return False


def niceness(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def test_runs_in_worker_processes_cancel_timeout_and_crash(
    tmp_path: Path, pg_databases: dict[str, str]
) -> None:
    fill_table(pg_databases["src"], "tiny", 10)
    cluster = make_cluster(tmp_path, pg_databases, HEADWATER_RUN_NICE="7")
    try:
        server, base = cluster.server()
        api = Api(base, cluster.token(*TOKEN_SCOPES))
        rivers = api.tiny_rivers(pg_databases, 4)
        runs = [(river, api.run(river)["runs"][0]["run_id"]) for river in rivers]
        for river, run_id in runs:
            assert api.wait_run(river, run_id)["status"] == "succeeded"
        children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
        api_pids = {int(pid) for pid in children.read_text().split()}
        tree = descendants(server.process.pid)
        assert len(api_pids) >= 2  # the API processes
        with psycopg.connect(libpq(pg_databases["meta"])) as conn:
            workers = {str(r[0]) for r in conn.execute("SELECT worker FROM runs").fetchall()}
        worker_pids = {int(w.rsplit(":", 1)[1]) for w in workers}
        assert not worker_pids & (api_pids | {server.process.pid})  # runs ran elsewhere
        api.close()
        server.stop()
        assert server.process.returncode == 0, server.log()
        assert all(gone(pid, limit=5) for pid in tree)  # API and worker processes stopped too
    except AssertionError:
        print(cluster.logs())
        raise
    finally:
        cluster.stop_all()
        for pid in tree:  # never leave API or worker processes behind a failed test
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
