"""Change capture rivers run through the API against a private logical-replication
PostgreSQL: the run record's ``cdc_*`` fields (live and final), the Activities runs, the
``cdc.slot_lag`` webhook event delivered to a real loopback receiver, and a continuous run
that outlives ``run_timeout_seconds`` until its river is disabled."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import psycopg
import pytest
from fastapi import FastAPI

from headwater.services import webhook_dispatch as dispatch
from headwater.services.bootstrap import BootstrapResult
from headwater.store.models.runs import Run
from tests.api.test_runs_api import Env
from tests.api.tokenhelp import mint
from tests.cdc_servers import PgCluster, has_slot, river_slot
from tests.cdc_servers import logical_pg as logical_cluster
from tests.services.webhookhelp import Receiver, box

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

WIDE = {"start_time": "2000-01-01T00:00:00", "end_time": "2100-01-01T00:00:00"}


@pytest.fixture(scope="module")
def logical_pg() -> Iterator[PgCluster]:
    with logical_cluster() as running:
        yield running


@pytest.fixture
def env(client: httpx.AsyncClient, bootstrap: BootstrapResult, app: FastAPI) -> Env:
    token = mint(app.state.session_factory, bootstrap.account_id, created_by=bootstrap.admin_id)
    return Env(client, bootstrap, token)


def sql(cluster: PgCluster, statement: str, database: str = "postgres") -> Any:
    url = cluster.url.rsplit("/", 1)[0] + "/" + database
    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(statement)
        return cursor.fetchall() if cursor.description else None


async def cdc_river(
    env: Env, cluster: PgCluster, table: str, cdc: dict[str, Any], **extra: Any
) -> str:
    ids = []
    for database in ("postgres", "target"):
        body = {
            "connection_name": f"{database}-{uuid.uuid4().hex[:6]}",
            "connection_type": "postgres",
            "properties": {**cluster.props, "database": database, "password": "trust"},
        }
        created = await env.call("POST", f"{env.prefix}/connections", 201, json=body)
        ids.append(created["connection_id"])
    river = {
        "name": f"cdc {uuid.uuid4().hex[:8]}",
        "type": "source_to_target",
        "properties": {
            "source": {"connection_id": ids[0], "cdc": cdc},
            "target": {"connection_id": ids[1], "loading_method": "merge"},
            "schemas": [
                {
                    "name": "public",
                    "tables": [{"name": table, "details": {"extract_method": "cdc"}}],
                }
            ],
        },
        **extra,
    }
    created = await env.call("POST", f"{env.prefix}/rivers", 201, json=river)
    return str(created["cross_id"])


def details(app: FastAPI, run_id: str) -> dict[str, Any]:
    with app.state.session_factory() as session:
        return dict(session.get_one(Run, run_id).details)


async def wait_details(app: FastAPI, run_id: str, done: Any, limit: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + limit
    while True:
        found = details(app, run_id)
        if done(found):
            return found
        assert time.monotonic() < deadline, f"run details never got there: {found}"
        await anyio.sleep(0.2)


async def test_continuous_run_outlives_its_timeout_reports_lag_and_warns_by_webhook(
    env: Env, app: FastAPI, logical_pg: PgCluster
) -> None:
    table = f"orders_{uuid.uuid4().hex[:8]}"
    sql(logical_pg, f"CREATE TABLE {table} (id int PRIMARY KEY, v text)")
    sql(logical_pg, f"INSERT INTO {table} SELECT g, 'v' FROM generate_series(1, 20) g")
    with Receiver() as receiver:
        hook = {"name": "slots", "url": receiver.url, "events": ["cdc.slot_lag"]}
        await env.call("POST", f"{env.prefix}/webhooks", 201, json=hook)
        cdc = {"mode": "continuous", "commit_seconds": 0.2, "retained_warning_bytes": 1048576}
        river_id = await cdc_river(env, logical_pg, table, cdc, settings={"run_timeout_seconds": 1})
        started = await env.call("POST", f"{env.prefix}/rivers/{river_id}/run", 202)
        run_id = started["runs"][0]["run_id"]
        began = time.monotonic()
        await wait_details(app, run_id, lambda d: d.get("cdc_snapshot_rows") == 20)
        sql(logical_pg, f"INSERT INTO {table} SELECT g, 'new' FROM generate_series(21, 25) g")
        # WAL the slot must keep: written in another database after the slot's position
        sql(
            logical_pg,
            f"CREATE TABLE filler_{table} AS SELECT g, repeat('x', 1000) AS pad "
            "FROM generate_series(1, 4000) g",
            database="target",
        )
        live = await wait_details(
            app, run_id, lambda d: d.get("cdc_changes", 0) >= 5 and "cdc_warning" in d
        )
        assert live["cdc_retained_bytes"] > 1048576
        await anyio.sleep(max(0.0, 2.5 - (time.monotonic() - began)))
        running = await env.call("GET", f"{env.prefix}/rivers/{river_id}/runs/{run_id}")
        assert running["status"] == "running"  # past run_timeout_seconds, still applying
        assert running["cdc_retained_bytes"] > 1048576 and running["cdc_lag_bytes"] is not None

        await env.call("POST", f"{env.prefix}/rivers/{river_id}/disable_river")
        ended = await env.wait_run(river_id, run_id, limit=60)
        assert ended["status"] == "succeeded", ended
        final = details(app, run_id)
        assert final["cdc_changes"] == 5 and final["cdc_snapshot_rows"] == 20
        assert "keeps" in final["cdc_warning"]
        rows = sql(logical_pg, f"SELECT count(*), count(*) FILTER (WHERE v = 'new') FROM {table}",
                   database="target")  # fmt: skip
        assert rows == [(25, 5)]

        activities = await env.call("GET", f"{env.prefix}/rivers/{river_id}/runs", params=WIDE)
        [listed] = activities["items"]
        assert listed["run_id"] == run_id and listed["cdc_retained_bytes"] > 1048576
        assert listed["cdc_lag_seconds"] is not None

        dispatch.dispatch_once(app.state.session_factory, box(), app.state.clock())
        events = [r.json() for r in receiver.requests]
        assert [e["event"] for e in events] == ["cdc.slot_lag"]  # once per run
        sent = events[0]["run"]
        assert (sent["run_id"], sent["river_id"]) == (run_id, river_id)
        assert sent["cdc_retained_bytes"] > 1048576 and "keeps" in sent["cdc_warning"]


async def test_disable_and_delete_drop_or_keep_the_slot_as_asked(
    env: Env, logical_pg: PgCluster
) -> None:
    """``drop_slot`` decides when given; otherwise the river's ``on_disable``."""
    table = f"slots_{uuid.uuid4().hex[:8]}"
    sql(logical_pg, f"CREATE TABLE {table} (id int PRIMARY KEY, v text)")
    river_id = await cdc_river(env, logical_pg, table, {"on_disable": "drop"})
    river = f"{env.prefix}/rivers/{river_id}"
    river_slot(logical_pg, river_id, table)
    await env.call("POST", f"{river}/disable_river", params={"drop_slot": "false"})
    assert has_slot(logical_pg, river_id)
    await env.call("POST", f"{river}/activate_river")
    await env.call("POST", f"{river}/disable_river")
    assert not has_slot(logical_pg, river_id)  # the river's on_disable: drop

    kept_id = await cdc_river(env, logical_pg, table, {"on_disable": "keep"})
    river_slot(logical_pg, kept_id, table)
    await env.call("DELETE", f"{env.prefix}/rivers/{kept_id}", 204)
    assert has_slot(logical_pg, kept_id)  # on_disable: keep
    other_id = await cdc_river(env, logical_pg, table, {"on_disable": "keep"})
    river_slot(logical_pg, other_id, table)
    await env.call("DELETE", f"{env.prefix}/rivers/{other_id}", 204, params={"drop_slot": "true"})
    assert not has_slot(logical_pg, other_id)
