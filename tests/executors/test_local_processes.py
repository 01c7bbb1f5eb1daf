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

from tests.live import TOKEN_SCOPES, Api, checksum, fill_table, libpq, make_cluster

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
        source = api.pg_connection("src", pg_databases["src"].rsplit("/", 1)[1])
        target = api.pg_connection("dst", pg_databases["dst"].rsplit("/", 1)[1])

        tiny = api.copy_river("tiny", source, target, {"name": "tiny"})
        run_id = api.run(tiny)["runs"][0]["run_id"]
        assert api.wait_run(tiny, run_id)["status"] == "succeeded"
        assert checksum(pg_databases["dst"], "tiny") == checksum(pg_databases["src"], "tiny")

        # Cancel: the child's monitor sees the request in the metadata DB; the child exits.
        slow = slow_river(api, source, target, "slow_cancel")
        run_id = api.run(slow)["runs"][0]["run_id"]
        pid = run_worker(pg_databases["meta"], run_id)
        assert pid != server.process.pid
        # HEADWATER_RUN_NICE: the worker yields the CPU to the API (7 steps lower priority)
        assert niceness(pid) == min(19, niceness(server.process.pid) + 7)
        asked = time.monotonic()
        api.call("POST", f"/rivers/{slow}/cancel_run", json={"run_id": run_id})
        assert api.wait_run(slow, run_id, limit=10)["status"] == "canceled"
        assert time.monotonic() - asked < 5

        # The river's timeout.
        timed = slow_river(api, source, target, "slow_timeout", run_timeout_seconds=2)
        run_id = api.run(timed)["runs"][0]["run_id"]
        run = api.wait_run(timed, run_id, limit=20)
        assert run["status"] == "failed" and "timeout of 2 seconds" in run["error_description"]

        # A worker process killed outright: its run fails now, not after the reaper's window.
        crash = slow_river(api, source, target, "slow_crash")
        run_id = api.run(crash)["runs"][0]["run_id"]
        pid = run_worker(pg_databases["meta"], run_id)
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        run = api.wait_run(crash, run_id, limit=20)
        assert run["status"] == "failed", run
        assert "worker process ended unexpectedly" in run["error_description"]
        assert time.monotonic() - killed < 10
        assert gone(pid)

        # The server stays usable after all of it.
        run_id = api.run(tiny)["runs"][0]["run_id"]
        assert api.wait_run(tiny, run_id)["status"] == "succeeded"
        api.close()
    except AssertionError:
        print(cluster.logs())
        raise
    finally:
        cluster.stop_all()


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid``."""
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


def test_server_with_several_api_processes(tmp_path: Path, pg_databases: dict[str, str]) -> None:
    fill_table(pg_databases["src"], "tiny", 10)
    cluster = make_cluster(tmp_path, pg_databases)
    tree: set[int] = set()
    try:
        # Two interpreters import everything at once: slow on a busy 2-core machine.
        server, base = cluster.server(command="server", extra=("--workers", "2"), health_limit=120)
        api = Api(base, cluster.token(*TOKEN_SCOPES))
        source = api.pg_connection("src", pg_databases["src"].rsplit("/", 1)[1])
        target = api.pg_connection("dst", pg_databases["dst"].rsplit("/", 1)[1])
        rivers = [
            api.copy_river(
                f"tiny {i}",
                source,
                target,
                {"name": "tiny", "details": {"target_table": f"tiny_{i}"}},
            )
            for i in range(4)
        ]
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
