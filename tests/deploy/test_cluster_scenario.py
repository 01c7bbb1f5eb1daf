"""The compose topology as plain processes: one ``headwater server``, two ``headwater
scheduler``, two Celery ``headwater worker`` on Redis, PostgreSQL metadata (what
``compose.yaml`` and the Helm chart run in containers, which this machine cannot pull).

One scenario: a copy runs on a worker; a worker is SIGKILLed in the middle of a load (the run
fails as "worker lost", the target is untouched, the rerun lands on the other worker); the
leading scheduler is SIGKILLed and the other fires the due schedule exactly once; ``/metrics``
counts all of it.
"""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy import func, select

from headwater.store.base import utcnow
from headwater.store.engine import make_engine, make_session_factory
from headwater.store.models.leases import Lease
from headwater.store.models.rivers import River
from headwater.store.models.runs import Run, RunGroup, ScheduleState
from tests._services import require_service
from tests.api.test_metrics import parse, value
from tests.faults.faultkit import copy_river, slow_source
from tests.live import TOKEN_SCOPES, Api, Proc, checksum, libpq, make_cluster

pytestmark = pytest.mark.slow

ROWS = 3000
METRICS_TOKEN = "cluster-metrics-token"
CRON = "0 0 1 1 *"  # the planted due time fires; the next one is next New Year


def _worker_of(meta: str, run_id: str) -> int:
    with psycopg.connect(libpq(meta)) as conn:
        row = conn.execute("SELECT worker FROM runs WHERE id = %s", (run_id,)).fetchone()
    assert row is not None and row[0], run_id
    return int(str(row[0]).rsplit(":", 1)[1])


def test_compose_topology_survives_a_killed_worker_and_a_killed_scheduler(
    tmp_path: Path, pg_databases: dict[str, str]
) -> None:
    require_service("redis")
    slow_source(pg_databases["src"], ROWS, ROWS // 4)  # 4 pauses of 0.4 s per copy
    cluster = make_cluster(
        tmp_path,
        pg_databases,
        HEADWATER_EXECUTOR="celery",
        HEADWATER_CELERY_BROKER_URL=f"redis://127.0.0.1:6379/{1 + uuid.uuid4().int % 15}",
        HEADWATER_WORKER_LOST_AFTER_SECONDS="3",
        HEADWATER_SCHEDULER_TICK_SECONDS="0.5",
        HEADWATER_SCHEDULER_LEASE_SECONDS="3",
        HEADWATER_METRICS_TOKEN=METRICS_TOKEN,
        HEADWATER_SECRET_KEY="cluster-scenario-secret-key",
        HEADWATER_LOG_FORMAT="json",
    )
    engine = make_engine(pg_databases["meta"])
    sessions = make_session_factory(engine)
    try:
        _, base = cluster.server(command="server")  # migrates before the others start
        workers = {
            p.process.pid: p
            for p in (
                cluster.start(f"worker-{i}", "worker", "--concurrency", "1", "--name", f"w{i}@hw")
                for i in (1, 2)
            )
        }
        schedulers = [cluster.start(f"scheduler-{i}", "scheduler") for i in (1, 2)]
        api = Api(base, cluster.token(*TOKEN_SCOPES))
        river_id = copy_river(api, pg_databases, "overwrite")

        # 1. a copy on whichever worker takes it
        first = api.run(river_id)["runs"][0]["run_id"]
        assert api.wait_run(river_id, first)["status"] == "succeeded"
        before = checksum(pg_databases["dst"], "events")
        assert before is not None and before[0] == ROWS

        # 2. the worker running the next copy dies mid-load; the rerun uses the other one
        slow_source(pg_databases["src"], 0, ROWS // 40)  # this copy would take 16 s
        killed = api.run(river_id)["runs"][0]["run_id"]
        _wait_running(api, river_id, killed)
        time.sleep(2)  # well inside the 16 s copy
        victim = workers.pop(_worker_of(pg_databases["meta"], killed))
        victim.kill()
        run = api.wait_run(river_id, killed, limit=60)
        assert run["status"] == "failed" and "worker lost" in run["error_description"], run
        assert checksum(pg_databases["dst"], "events") == before
        slow_source(pg_databases["src"], 0, ROWS // 4)
        again = api.run(river_id)["runs"][0]["run_id"]
        assert api.wait_run(river_id, again)["status"] == "succeeded"
        assert _worker_of(pg_databases["meta"], again) in workers

        # 3. the leading scheduler dies just before a due time; the other fires it once
        leader = _leader(sessions, schedulers)
        with sessions() as session:
            river = session.get_one(River, river_id)
            river.cron_expression, river.schedule_enabled = CRON, True
            session.add(
                ScheduleState(
                    river_id=river_id,
                    cron_expression=CRON,
                    next_fire_at=utcnow() + timedelta(seconds=1),
                )
            )
            session.commit()
        leader.kill()
        scheduled = _wait_scheduled(sessions, river_id, limit=30)
        assert api.wait_run(river_id, scheduled)["status"] == "succeeded"
        time.sleep(2)  # ticks of the survivor after the fire: still one
        with sessions() as session:
            fired = session.scalar(
                select(func.count())
                .select_from(RunGroup)
                .where(RunGroup.river_id == river_id, RunGroup.trigger == "scheduler")
            )
        assert fired == 1
        assert checksum(pg_databases["dst"], "events") == checksum(pg_databases["src"], "events")

        # 4. the metrics of the whole cluster, from the one server
        scraped = httpx.get(
            f"{base}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10
        )
        samples = parse(scraped.text)
        kind = {"river_type": "src_to_trgt"}
        assert value(samples, "headwater_runs_finished_total", status="succeeded", **kind) == 3
        assert value(samples, "headwater_runs_finished_total", status="failed", **kind) == 1
        assert value(samples, "headwater_rows_moved_total", **kind) >= 3 * ROWS
        assert value(samples, "headwater_queue_depth") == 0
        api.close()
    except AssertionError:
        print(cluster.logs())
        raise
    finally:
        cluster.stop_all()
        engine.dispose()


def _wait_running(api: Api, river_id: str, run_id: str, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while True:
        run = api.call("GET", f"/rivers/{river_id}/runs/{run_id}")
        if run["status"] == "running":
            return
        assert run["status"] == "pending", run
        assert time.monotonic() < deadline, f"run never started: {run}"
        time.sleep(0.1)


def _leader(sessions: object, schedulers: list[Proc], limit: float = 30) -> Proc:
    by_pid = {p.process.pid: p for p in schedulers}
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        with sessions() as session:  # type: ignore[operator]
            lease = session.get(Lease, "scheduler")
            if lease is not None and lease.expires_at > utcnow():
                pid = int(lease.holder.split(":")[1])
                if pid in by_pid:
                    return by_pid[pid]
        time.sleep(0.1)
    raise AssertionError("no scheduler leads")


def _wait_scheduled(sessions: object, river_id: str, limit: float) -> str:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        with sessions() as session:  # type: ignore[operator]
            run_id = session.scalar(
                select(Run.id)
                .join(RunGroup, Run.run_group_id == RunGroup.id)
                .where(RunGroup.river_id == river_id, RunGroup.trigger == "scheduler")
            )
        if run_id is not None:
            return str(run_id)
        time.sleep(0.2)
    raise AssertionError(f"the due schedule did not fire within {limit} s of the leader's death")
