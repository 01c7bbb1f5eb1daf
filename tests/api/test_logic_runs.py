"""Logic and action rivers end to end: real PostgreSQL source and target databases, a real
HTTP API served on loopback, runs on the app's local executor, both metadata backends."""

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
from sqlalchemy import select

from headwater.security.crypto import MASK
from headwater.services.bootstrap import BootstrapResult
from headwater.store.models.runs import Run
from tests._services import require_service
from tests.api.tokenhelp import mint
from tests.conftest import create_pg_database, drop_pg_database
from tests.runner import actions_server as srv

pytestmark = pytest.mark.anyio

API_TOKEN = "private-api-token-4711"


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture(scope="module")
def pg_pair() -> Iterator[tuple[str, str]]:
    """A source database with customers and orders, and an empty target database."""
    require_service("postgres")
    source, target = create_pg_database("hw_lsrc"), create_pg_database("hw_ldst")
    with psycopg.connect(_libpq(source), autocommit=True) as conn:
        conn.execute("CREATE TABLE customers (id int PRIMARY KEY, name text, region text)")
        conn.execute("CREATE TABLE orders (id int PRIMARY KEY, customer_id int, amount int)")
        conn.execute(
            "INSERT INTO customers VALUES (1, 'a', 'north'), (2, 'b', 'south'), (3, 'c', 'east'),"
            " (4, 'd', 'north')"
        )
        conn.execute("INSERT INTO orders SELECT g, 1 + g % 4, g FROM generate_series(1, 20) g")
    yield source, target
    drop_pg_database(source)
    drop_pg_database(target)


@pytest.fixture(scope="module")
def http_api() -> Iterator[srv.Served]:
    with srv.serve() as served:
        yield served


class Env:
    def __init__(self, client: httpx.AsyncClient, boot: BootstrapResult, app: FastAPI) -> None:
        token = mint(app.state.session_factory, boot.account_id, created_by=boot.admin_id)
        self.client = client
        self.app = app
        self.headers = token.headers
        self.prefix = f"/v1/accounts/{boot.account_id}/environments/{boot.environment_id}"

    async def call(self, method: str, path: str, expect: int = 200, **kw: Any) -> Any:
        response = await self.client.request(method, self.prefix + path, headers=self.headers, **kw)
        assert response.status_code == expect, response.text
        return response.json()

    async def connection(self, url: str) -> str:
        body = {
            "connection_name": f"pg-{uuid.uuid4().hex[:6]}",
            "connection_type": "postgres",
            "properties": {
                "host": "127.0.0.1",
                "port": 5432,
                "database": url.rsplit("/", 1)[1],
                "username": "postgres",
                "password": "pg-password-unused",
            },
        }
        created = await self.call("POST", "/connections", 201, json=body)
        return str(created.get("connection_id") or created["id"])

    async def river(self, body: dict[str, Any]) -> str:
        return str((await self.call("POST", "/rivers", 201, json=body))["cross_id"])

    async def run(self, river_id: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = {"variables": variables} if variables is not None else None
        started = await self.call("POST", f"/rivers/{river_id}/run", 202, json=body)
        return await self.wait(river_id, started["runs"][0]["run_id"])

    async def wait(self, river_id: str, run_id: str, limit: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + limit
        while True:
            run = await self.call("GET", f"/rivers/{river_id}/runs/{run_id}")
            if run["status"] not in {"pending", "running"}:
                return dict(run)
            assert time.monotonic() < deadline, f"run still {run['status']} after {limit} s"
            await anyio.sleep(0.1)

    def group_runs(self, run_group_id: str) -> list[Run]:
        with self.app.state.session_factory() as session:
            return list(
                session.scalars(
                    select(Run).where(Run.run_group_id == run_group_id).order_by(Run.position)
                )
            )


@pytest.fixture
def env(client: httpx.AsyncClient, bootstrap: BootstrapResult, app: FastAPI) -> Env:
    return Env(client, bootstrap, app)


def s2t(name: str, source: str, target: str, table: str) -> dict[str, Any]:
    return {
        "name": name,
        "type": "source_to_target",
        "properties": {
            "source": {"connection_id": source, "run_type": "multi_tables"},
            "target": {
                "connection_id": target,
                "schema_name": "public",
                "loading_method": "overwrite",
            },
            "schemas": [
                {
                    "name": "public",
                    "tables": [
                        {
                            "name": table,
                            "details": {
                                "is_selected": True,
                                "target_table": table,
                                "extract_method": "all",
                            },
                        }
                    ],
                }
            ],
        },
    }


def action(name: str, url: str, **properties: Any) -> dict[str, Any]:
    return {
        "name": name,
        "type": "actions",
        "variables": {"region": "none"},
        "properties": {
            "request": {
                "method": "POST",
                "url": url,
                "body": {"type": "json", "content": {"region": "{region}", "day": "{run_date}"}},
            },
            "auth": {"type": "bearer", "token": "{api_token}"},
            "response": {"variables": [{"name": "last_call", "path": "$.id"}]},
            **properties,
        },
    }


def sql(name: str, connection: str, statement: str, **extra: Any) -> dict[str, Any]:
    return {"type": "sql", "name": name, "connection_id": connection, "sql": statement, **extra}


async def test_logic_river_loads_joins_loops_and_branches(
    env: Env, pg_pair: tuple[str, str], http_api: srv.Served
) -> None:
    http_api.recorder.reset()
    source, target = pg_pair
    await env.call(
        "PUT",
        "/variables",
        json={"variables": [{"name": "api_token", "value": API_TOKEN, "is_private": True}]},
    )
    src, dst = await env.connection(source), await env.connection(target)
    customers = await env.river(s2t("load customers", src, dst, "customers"))
    orders = await env.river(s2t("load orders", src, dst, "orders"))
    notify = await env.river(action("notify", f"{http_api.url}/calls/notify"))
    join = (
        "SELECT c.region, sum(o.amount) AS total, count(*) AS orders FROM customers c"
        " JOIN orders o ON o.customer_id = c.id GROUP BY c.region"
    )
    logic = await env.river(
        {
            "name": "nightly",
            "type": "logic",
            "variables": {"regions": ["default-only"]},
            "properties": {
                "steps": [
                    {"type": "river", "name": "customers", "river_id": customers},
                    {"type": "river", "name": "orders", "river_id": orders},
                    sql("join", dst, join, target_table="region_totals"),
                    sql(
                        "count",
                        dst,
                        "SELECT count(*) FROM region_totals",
                        target_variable="region_count",
                    ),
                    {
                        "type": "loop",
                        "name": "per region",
                        "variable": "regions",
                        "item_variable": "region",
                        "steps": [{"type": "action", "name": "notify", "river_id": notify}],
                    },
                    {
                        "type": "condition",
                        "name": "many regions",
                        "variable": "region_count",
                        "operator": "greater_than",
                        "value": 2,
                        "steps": [sql("big", dst, "SELECT 'big'", target_variable="size")],
                    },
                    {
                        "type": "condition",
                        "name": "few regions",
                        "variable": "region_count",
                        "operator": "less_than",
                        "value": 2,
                        "steps": [sql("small", dst, "SELECT 'small'", target_variable="size")],
                    },
                    sql("off", dst, "SELECT 1/0", is_enabled=False),
                    sql("may fail", dst, "SELECT * FROM no_such_table", continue_on_failure=True),
                ]
            },
        }
    )
    # Run parameters override the river's own value for this run only.
    regions = ["north", "south", "east"]
    run = await env.run(logic, {"regions": regions})
    assert run["status"] == "succeeded", run

    with psycopg.connect(_libpq(target)) as conn:
        totals: dict[str, int] = dict(
            conn.execute("SELECT region, total FROM region_totals").fetchall()
        )
    assert totals == {"north": 115, "south": 45, "east": 50}

    calls = [c for c in http_api.recorder.calls if c["path"] == "/calls/notify"]
    assert [c["body"] for c in calls] == [
        f'{{"region": "{r}", "day": "2026-11-01"}}' for r in regions
    ]
    assert all(c["headers"]["authorization"] == f"Bearer {API_TOKEN}" for c in calls)

    runs = env.group_runs(run["run_group_id"])
    assert [(r.sub_river_id, r.status) for r in runs] == [
        (None, "succeeded"),
        (customers, "succeeded"),
        (orders, "succeeded"),
        (notify, "succeeded"),
        (notify, "succeeded"),
        (notify, "succeeded"),
    ]
    assert (runs[1].total_rows, runs[2].total_rows) == (4, 20)
    assert runs[1].units > 0 and runs[3].units > 0
    assert runs[0].total_rows == 3  # the join's rows; sub rivers count their own
    run_row = await env.call("GET", f"/rivers/{logic}/runs/{runs[1].id}")
    assert run_row["is_sub_river_run"] is True and run_row["sub_river_id"] == customers

    variables = await env.call("GET", f"/rivers/{logic}/runs/{run['run_id']}/variables")
    values = variables["variables"]
    assert values["region_count"] == 3
    assert values["size"] == "big"
    assert values["regions"] == regions
    assert values["last_call"] == f"call-{len(http_api.recorder.calls)}"
    assert values["run_date"] == "2026-11-01"
    assert values["api_token"] == MASK and "api_token" in variables["private"]
    assert API_TOKEN not in str(variables)

    steps = (await env.call("GET", f"/rivers/{logic}/runs/{run['run_id']}/logic_steps"))["items"]
    by_name: dict[str, list[dict[str, Any]]] = {}
    for step in steps:
        by_name.setdefault(step["name"], []).append(step)
    assert [s["status"] for s in by_name["customers"]] == ["succeeded"]
    assert by_name["customers"][0]["sub_run_id"] == runs[1].id
    assert by_name["join"][0]["output"]["rows"] == 3
    assert by_name["count"][0]["output"] == {"rows": 1, "variable": "region_count", "value": 3}
    assert by_name["per region"][0]["output"]["iterations"] == 3
    notify_steps = by_name["notify"]
    assert [(s["iteration_index"], s["iteration_value"]) for s in notify_steps] == list(
        enumerate(regions)
    )
    assert all(s["output"]["http_status"] == 200 for s in notify_steps)
    assert all(
        s["parent_step_run_id"] == by_name["per region"][0]["step_run_id"] for s in notify_steps
    )
    assert by_name["many regions"][0]["status"] == "succeeded"
    assert by_name["few regions"][0]["status"] == "skipped"
    assert "small" not in by_name
    assert by_name["off"][0]["status"] == "skipped"
    assert by_name["may fail"][0]["status"] == "failed"
    assert "no_such_table" in by_name["may fail"][0]["error"]

    # The river's own variable value is unchanged by the run parameters.
    river = await env.call("GET", f"/rivers/{logic}")
    assert river["variables"]["regions"] == ["default-only"]

    # One sub river on its own: a group of the logic river with one "sub:" run.
    started = await env.call("POST", f"/rivers/{logic}/sub_rivers/{orders}/run", 202)
    sub_run = await env.wait(logic, started["runs"][0]["run_id"])
    assert sub_run["status"] == "succeeded", sub_run
    assert sub_run["sub_river_id"] == orders and sub_run["total_rows"] == 20


async def test_failing_actions_fail_their_runs_with_clear_messages(
    env: Env, http_api: srv.Served
) -> None:
    await env.call("PUT", "/variables", json={"variables": [{"name": "api_token", "value": "t"}]})
    broken = await env.river(
        action(
            "broken",
            f"{http_api.url}/flaky/{uuid.uuid4().hex}?status=400&fail=5",
            retries={"max_attempts": 1},
        )
    )
    logic = await env.river(
        {
            "name": "calls broken",
            "type": "logic",
            "properties": {"steps": [{"type": "action", "name": "call", "river_id": broken}]},
        }
    )
    run = await env.run(logic)
    assert run["status"] == "failed"
    assert "step 'call' failed" in run["error_description"]
    assert "answered HTTP 400" in run["error_description"]
    runs = env.group_runs(run["run_group_id"])
    assert [(r.sub_river_id, r.status) for r in runs] == [(None, "failed"), (broken, "failed")]
    assert runs[1].units == 0

    slow = await env.river(
        action(
            "slow",
            f"{http_api.url}/slow?seconds=3",
            timeout_seconds=0.5,
            retries={"max_attempts": 1},
        )
    )
    # On its own, an action that times out fails its run with a clear message.
    run = await env.run(slow)
    assert run["status"] == "failed"
    assert "/slow timed out after 0.5 seconds" in run["error_description"]
    variables = await env.call("GET", f"/rivers/{slow}/runs/{run['run_id']}/variables")
    assert variables["variables"]["region"] == "none"


async def test_parallel_loop_respects_its_limit(env: Env, http_api: srv.Served) -> None:
    http_api.recorder.reset()
    await env.call("PUT", "/variables", json={"variables": [{"name": "api_token", "value": "t"}]})
    call = await env.river(action("par", f"{http_api.url}/calls/par?sleep=0.3"))
    logic = await env.river(
        {
            "name": "fan out",
            "type": "logic",
            "variables": {"items": [1, 2, 3, 4, 5, 6, 7]},
            "properties": {
                "steps": [
                    {
                        "type": "loop",
                        "variable": "items",
                        "item_variable": "region",
                        "mode": "parallel",
                        "max_parallel": 3,
                        "steps": [{"type": "action", "river_id": call}],
                    }
                ]
            },
        }
    )
    run = await env.run(logic)
    assert run["status"] == "succeeded", run
    assert len(http_api.recorder.calls) == 7
    assert 1 < http_api.recorder.max_active <= 3
    bodies = sorted(c["body"] for c in http_api.recorder.calls)
    assert bodies == sorted(f'{{"region": {i}, "day": "2026-11-01"}}' for i in range(1, 8))


async def test_cycles_and_unknown_variables_are_rejected_on_save(
    env: Env, pg_pair: tuple[str, str]
) -> None:
    dst = await env.connection(pg_pair[1])
    first = await env.river(
        {"name": "first", "type": "logic", "properties": {"steps": [sql("noop", dst, "SELECT 1")]}}
    )
    second = await env.river(
        {
            "name": "second",
            "type": "logic",
            "properties": {"steps": [{"type": "river", "river_id": first}]},
        }
    )
    cyclic = {
        "name": "first",
        "type": "logic",
        "properties": {"steps": [{"type": "river", "river_id": second}]},
    }
    response = await env.client.put(
        f"{env.prefix}/rivers/{first}", json=cyclic, headers=env.headers
    )
    assert response.status_code == 422, response.text
    assert "would run itself" in response.text
    itself = {**cyclic, "properties": {"steps": [{"type": "river", "river_id": first}]}}
    response = await env.client.put(
        f"{env.prefix}/rivers/{first}", json=itself, headers=env.headers
    )
    assert response.status_code == 422
    assert "would run itself" in response.text
    typo = {
        "name": "typo",
        "type": "logic",
        "properties": {"steps": [sql("q", dst, "SELECT '{run_dat}'")]},
    }
    response = await env.client.post(f"{env.prefix}/rivers", json=typo, headers=env.headers)
    assert response.status_code == 422
    assert "unknown variable {run_dat}" in response.text
