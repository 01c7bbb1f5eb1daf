"""The Redis broker of the Celery executor restarts (empty) while runs are queued and in flight.

The broker is a private ``redis-server`` without persistence, so the restart loses every queued
message and the unacknowledged ones of the runs being executed. The API keeps answering (a river
triggered during the outage is recorded and accepted), the worker reconnects by itself, the
requeue sweeper hands the groups whose messages were lost to the executor again, and in the end
every run group succeeded and every run executed exactly once: each river appends its rows to a
table of its own, so a second execution would show as a doubled target.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import redis as redis_client
from sqlalchemy import select

from headwater.store.engine import make_engine
from headwater.store.models.runs import Run, RunGroup, RunLog
from tests.faults.faultkit import (
    SLOW_VIEW,
    PrivateRedis,
    id_multiplicity,
    slow_source,
    wait_moving,
)
from tests.live import TOKEN_SCOPES, Api, checksum, libpq, make_cluster

pytestmark = pytest.mark.slow

# 3.9 MB a copy, so the first 1 MiB COPY chunk reaches the target a quarter into the read.
ROWS = 60_000
SLOW_EVERY = 7_500  # events_slow pauses 8 times for 0.4 s: about 3.5 s a copy
VIEWS = {"events_slow2": (3_750,), "events_slow3": (2_500, 5_000)}  # 16 and 24 pauses
# River index -> source relation. The first two run on the worker's two threads when the broker
# dies and outlive the outage (about 6.5 and 10 s). The next four wait in the queue and their
# messages die with the broker. The last river is triggered during the outage.
SOURCES = ["events_slow3", "events_slow2", SLOW_VIEW, "events", "events", SLOW_VIEW]
LATE_SOURCE = "events"
REQUEUE_AFTER = 4
OUTAGE_SECONDS = 3.0


@dataclass
class Outcome:
    groups: dict[str, str]  # run group id -> status
    workers: Counter[str]  # Run.worker ("host:pid") -> runs
    copies: Counter[str]  # run id -> "copying ..." log lines (one per execution)


@pytest.fixture
def redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    server.start()
    yield server
    server.kill()


def _slower_views(url: str) -> None:
    """Views pausing as events_slow does, plus at each of ``shifts`` past those ids."""
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        for name, shifts in VIEWS.items():
            passes = " AND ".join(["slow_pass(id)", *(f"slow_pass(id + {s})" for s in shifts)])
            conn.execute(
                f"CREATE VIEW {name} AS SELECT id, body, amount FROM events WHERE {passes}"
            )


def _append_river(api: Api, source: str, target: str, relation: str, index: int) -> str:
    details = {"target_table": f"copy_{index}", "loading_method": "append"}
    table = {"name": relation, "details": details}
    return api.copy_river(f"append {index}", source, target, table)


def _queue_length(url: str, queue: str) -> int:
    client = redis_client.Redis.from_url(url)
    try:
        return int(client.llen(queue))
    finally:
        client.close()


def _poll(api: Api, runs: list[tuple[str, str]], seconds: float) -> list[int]:
    """Status polls of every run for ``seconds``: the codes the API answered."""
    codes: list[int] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for river_id, run_id in runs:
            response = api.client.get(f"{api.prefix}/rivers/{river_id}/runs/{run_id}", timeout=10)
            codes.append(response.status_code)
        time.sleep(0.2)
    return codes


def _outcome(meta_url: str, run_ids: list[str], group_ids: list[str]) -> Outcome:
    engine = make_engine(meta_url)
    try:
        with engine.connect() as conn:
            groups = conn.execute(
                select(RunGroup.id, RunGroup.status).where(RunGroup.id.in_(group_ids))
            ).all()
            workers = conn.execute(select(Run.worker).where(Run.id.in_(run_ids))).scalars()
            copies = conn.execute(
                select(RunLog.run_id).where(
                    RunLog.run_id.in_(run_ids), RunLog.message.like("copying %")
                )
            ).scalars()
            return Outcome(
                {str(g): str(s) for g, s in groups},
                Counter(str(w) for w in workers),
                Counter(str(r) for r in copies),
            )
    finally:
        engine.dispose()


def test_redis_restart_loses_no_run_and_runs_none_twice(
    tmp_path: Path, pg_databases: dict[str, str], redis: PrivateRedis
) -> None:
    slow_source(pg_databases["src"], ROWS, SLOW_EVERY)
    _slower_views(pg_databases["src"])
    cluster = make_cluster(
        tmp_path,
        pg_databases,
        HEADWATER_EXECUTOR="celery",
        HEADWATER_CELERY_BROKER_URL=redis.url,
        HEADWATER_REQUEUE_AFTER_SECONDS=str(REQUEUE_AFTER),
    )
    queue = cluster.env["HEADWATER_CELERY_QUEUE"]
    _, base = cluster.server(command="server")
    api = Api(base, cluster.token(*TOKEN_SCOPES))
    try:
        worker = cluster.start("worker", "worker", "--concurrency", "2", "--name", "w@test")
        source = api.pg_connection("src", pg_databases["src"].rsplit("/", 1)[1])
        target = api.pg_connection("dst", pg_databases["dst"].rsplit("/", 1)[1])
        rivers = [
            _append_river(api, source, target, relation, i)
            for i, relation in enumerate([*SOURCES, LATE_SOURCE])
        ]
        late_river = rivers.pop()

        started = [api.run(river) for river in rivers]
        runs = [(r, s["runs"][0]["run_id"]) for r, s in zip(rivers, started, strict=True)]
        for river_id, run_id in reversed(runs[:2]):
            wait_moving(api, river_id, run_id)
        waiting = [api.call("GET", f"/rivers/{r}/runs/{i}")["status"] for r, i in runs[2:]]
        assert waiting == ["pending"] * len(runs[2:]), waiting
        # (more than one message per group once the sweeper re-sent groups pending for long)
        queued = _queue_length(redis.url, queue)
        assert queued >= len(runs[2:]), queued

        redis.kill()
        killed_at = time.monotonic()
        late = api.client.post(f"{api.prefix}/rivers/{late_river}/run", timeout=30)
        late_seconds = time.monotonic() - killed_at
        # Recorded and accepted: the requeue sweeper hands it over once the broker is back.
        assert late.status_code == 202, late.text
        assert late.json()["status"] == "pending", late.json()
        assert late_seconds < 10, f"triggering during the outage took {late_seconds:.1f} s"
        codes = _poll(api, runs, OUTAGE_SECONDS - (time.monotonic() - killed_at))
        assert set(codes) == {200}, codes
        during = [api.call("GET", f"/rivers/{r}/runs/{i}")["status"] for r, i in runs]
        redis.start()
        restarted_at = time.monotonic()
        runs.append((late_river, late.json()["runs"][0]["run_id"]))

        finals = {run_id: api.wait_run(river_id, run_id, limit=60) for river_id, run_id in runs}
        settled = time.monotonic() - restarted_at
        assert {r["status"] for r in finals.values()} == {"succeeded"}, finals
        assert {r["total_rows"] for r in finals.values()} == {ROWS}, finals
        assert worker.process.poll() is None, "the worker died with the broker"

        group_ids = [s["run_group_id"] for s in started] + [late.json()["run_group_id"]]
        run_ids = [run_id for _, run_id in runs]
        outcome = _outcome(pg_databases["meta"], run_ids, group_ids)
        assert set(outcome.groups.values()) == {"succeeded"}, outcome.groups
        assert len(outcome.groups) == len(group_ids)
        # One worker process ran everything, before and after the restart: it reconnected
        # by itself (no new worker was started).
        assert [w.rsplit(":", 1)[1] for w in outcome.workers] == [str(worker.process.pid)]
        assert worker.log().count("Connected to redis://") >= 2, worker.log()
        assert outcome.copies == dict.fromkeys(run_ids, 1), "a run executed more than once"
        expected = checksum(pg_databases["src"], "events")
        for index in range(len(runs)):
            assert id_multiplicity(pg_databases["dst"], f"copy_{index}") == {1: ROWS}
            assert checksum(pg_databases["dst"], f"copy_{index}") == expected
        deliveries = worker.log().count("] received")
        print(
            f"statuses when the broker came back: {Counter(during)}; trigger during the"
            f" outage answered in {late_seconds:.2f} s; all {len(runs)} runs succeeded"
            f" {settled:.1f} s after the restart; {queued} messages lost in the restart,"
            f" {deliveries} task deliveries"
        )
    except AssertionError:
        print(cluster.logs())
        raise
    finally:
        api.close()
        cluster.stop_all()
