"""``GET /metrics``: the guard, and the metric names and values after a real PostgreSQL copy."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import anyio
import httpx
import psycopg
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy import Engine

from headwater.server import create_server_app
from headwater.services.bootstrap import BootstrapResult
from headwater.settings import Settings
from headwater.store import migrate
from headwater.store.engine import make_engine
from headwater.store.models.runs import Run, RunGroup
from tests._services import require_service
from tests.api.test_runs_api import Env
from tests.api.tokenhelp import mint
from tests.conftest import FakeClock, create_pg_database, drop_pg_database

pytestmark = pytest.mark.anyio

TOKEN = "scrape-me-0123456789"
ROWS = 1500
RUN_ROUTE = "/v1/accounts/{account_id}/environments/{environment_id}/rivers/{river_id}/run"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


@pytest.fixture(scope="module")
def pg_pair() -> Iterator[tuple[str, str]]:
    require_service("postgres")
    source, target = create_pg_database("hw_msrc"), create_pg_database("hw_mdst")
    with psycopg.connect(source.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute("CREATE TABLE events (id bigint PRIMARY KEY, name text)")
        conn.execute(f"INSERT INTO events SELECT g, 'n' || g FROM generate_series(1, {ROWS}) g")
    yield source, target
    drop_pg_database(source)
    drop_pg_database(target)


@pytest.fixture
def metered_app(settings: Settings, engine: Engine, clock: FakeClock) -> Iterator[FastAPI]:
    on = settings.model_copy(update={"metrics_token": SecretStr(TOKEN)})
    application = create_server_app(on, engine=engine, clock=clock)
    yield application
    application.state.executor.stop()


async def _scrape(client: httpx.AsyncClient) -> Samples:
    answer = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return parse(answer.text)


async def test_metrics_are_off_without_a_token_and_need_it_when_on(
    client: httpx.AsyncClient, metered_app: FastAPI
) -> None:
    off = await client.get("/metrics")
    assert off.status_code == 404 and "HEADWATER_METRICS_TOKEN" in off.json()["detail"]
    transport = httpx.ASGITransport(app=metered_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as on:
        assert (await on.get("/metrics")).status_code == 401
        wrong = await on.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and "metrics token" in wrong.json()["detail"]
        await _scrape(on)


async def test_names_and_values_after_a_real_run(
    metered_app: FastAPI,
    bootstrap: BootstrapResult,
    pg_pair: tuple[str, str],
    clock: FakeClock,
) -> None:
    transport = httpx.ASGITransport(app=metered_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        token = mint(
            metered_app.state.session_factory, bootstrap.account_id, created_by=bootstrap.admin_id
        )
        env = Env(client, bootstrap, token)
        river_id = await env.river(pg_pair, table={"name": "events"})
        started = await env.call("POST", f"{env.prefix}/rivers/{river_id}/run", 202)
        run = await env.wait_run(river_id, started["runs"][0]["run_id"])
        assert run["status"] == "succeeded" and run["total_rows"] == ROWS
        kind = {"river_type": "src_to_trgt"}
        samples = await _scrape(client)
        for _ in range(100):  # the group settles right after its last table
            if (
                "headwater_runs_finished_total",
                frozenset({**kind, "status": "succeeded"}.items()),
            ) in samples:
                break
            await anyio.sleep(0.05)
            samples = await _scrape(client)

        assert value(samples, "headwater_runs_started_total", **kind) == 1
        assert value(samples, "headwater_runs_finished_total", status="succeeded", **kind) == 1
        assert (
            value(samples, "headwater_table_runs_finished_total", status="succeeded", **kind) == 1
        )
        assert value(samples, "headwater_rows_moved_total", **kind) == ROWS
        assert value(samples, "headwater_bytes_moved_total", **kind) == run["total_size"] > 0
        for family in ("headwater_run_duration_seconds", "headwater_table_duration_seconds"):
            assert value(samples, f"{family}_count", **kind) == 1
            assert value(samples, f"{family}_bucket", le="+Inf", **kind) == 1
            assert value(samples, f"{family}_sum", **kind) >= 0
        assert value(samples, "headwater_queue_depth") == 0
        assert value(samples, "headwater_queue_oldest_pending_age_seconds") == 0
        assert value(samples, "headwater_runs_in_progress") == 0
        trigger = {"method": "POST", "route": RUN_ROUTE, "status": "202"}
        assert value(samples, "headwater_http_request_duration_seconds_count", **trigger) == 1
        routes = {dict(labels).get("route", "") for _, labels in samples}
        assert river_id not in " ".join(routes)  # templates, never raw paths

        # a trigger nobody picked up yet: the queue shows it and its age
        with metered_app.state.session_factory() as session:
            session.add(
                RunGroup(
                    account_id=bootstrap.account_id,
                    environment_id=bootstrap.environment_id,
                    river_id=river_id,
                    river_type="src_to_trgt",
                    trigger="api",
                    status="pending",
                    start_time=clock() - timedelta(seconds=90),
                )
            )
            session.commit()
        samples = await _scrape(client)
        assert value(samples, "headwater_queue_depth") == 1
        assert value(samples, "headwater_queue_oldest_pending_age_seconds") == 90
        assert value(samples, "headwater_runs_started_total", **kind) == 2


SERVE_REQUESTS = """
import asyncio, sys
import httpx
from headwater.server import create_server_app
from headwater.settings import Settings

async def main() -> None:
    settings = Settings(data_dir=sys.argv[1], database_url="sqlite:///" + sys.argv[1] + "/m.db")
    app = create_server_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for _ in range(int(sys.argv[2])):
            assert (await client.get("/healthz")).status_code == 200
    app.state.executor.stop()

asyncio.run(main())
"""


@pytest.mark.slow
async def test_request_latency_adds_up_across_api_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two API processes in multiprocess mode; a scrape of a third process counts both."""
    database = f"sqlite:///{tmp_path / 'm.db'}"
    engine = make_engine(database)
    migrate.upgrade(engine)
    shared = tmp_path / "metrics"
    shared.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(shared)}
    env.pop("HEADWATER_DATABASE_URL", None)
    servers = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(SERVE_REQUESTS), str(tmp_path), str(count)],
            env=env,
        )
        for count in (3, 4)
    ]
    assert [await anyio.to_thread.run_sync(s.wait) for s in servers] == [0, 0]
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(shared))
    settings = Settings(data_dir=tmp_path, database_url=database, metrics_token=SecretStr(TOKEN))
    app = create_server_app(settings, engine=engine)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            samples = await _scrape(client)
        health = {"method": "GET", "route": "/healthz", "status": "200"}
        assert value(samples, "headwater_http_request_duration_seconds_count", **health) == 7
    finally:
        app.state.executor.stop()
        engine.dispose()


async def test_cdc_lag_comes_from_the_latest_run_of_each_river(
    metered_app: FastAPI, bootstrap: BootstrapResult, clock: FakeClock
) -> None:
    def run(river_id: str, ended_ago: float, details: dict[str, float]) -> None:
        with metered_app.state.session_factory() as session:
            group = RunGroup(
                account_id=bootstrap.account_id,
                environment_id=bootstrap.environment_id,
                river_id=river_id,
                river_type="src_to_trgt",
                trigger="scheduler",
                status="succeeded",
                start_time=clock() - timedelta(seconds=ended_ago + 5),
                end_time=clock() - timedelta(seconds=ended_ago),
            )
            session.add(group)
            session.flush()
            session.add(
                Run(
                    run_group_id=group.id,
                    account_id=group.account_id,
                    environment_id=group.environment_id,
                    river_id=river_id,
                    trigger="scheduler",
                    status="succeeded",
                    start_time=group.start_time,
                    end_time=group.end_time,
                    details=details,
                )
            )
            session.commit()

    run("cdcriver1", 600, {"cdc_lag_seconds": 9.0, "cdc_lag_bytes": 9000})
    run("cdcriver1", 60, {"cdc_lag_seconds": 1.5, "cdc_lag_bytes": 2048})  # the latest wins
    run("cdcriver2", 3 * 86400, {"cdc_lag_seconds": 99.0})  # stopped days ago: not reported
    run("plainriver", 60, {"load_id": "x"})  # not a CDC river
    transport = httpx.ASGITransport(app=metered_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        samples = await _scrape(client)
    assert value(samples, "headwater_cdc_lag_seconds", river_id="cdcriver1") == 1.5
    assert value(samples, "headwater_cdc_lag_bytes", river_id="cdcriver1") == 2048
    lagging = {dict(labels).get("river_id") for name, labels in samples if "cdc_lag" in name}
    assert lagging == {"cdcriver1"}
