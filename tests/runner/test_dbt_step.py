"""The ``dbt`` logic step with the real dbt-core, dbt-postgres and dbt-duckdb.

A logic river loads two tables with a source-to-target step, runs ``dbt build`` on the project
in ``tests/runner/dbt_project`` (sources over the loaded tables, a seed, two models, generic
tests and a singular test) against the target connection, then reads a model with a SQL step.

dbt lives in a virtualenv of its own, created once per change of ``dbt_requirements.txt``
under ``~/.cache/headwater-test-venvs`` (the same code creates the data dir's venv on a
worker), so only the first run pays for the install.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import psycopg
import pytest
from fastapi import FastAPI

from headwater.runner import dbt_env
from headwater.services.bootstrap import BootstrapResult
from headwater.settings import Settings
from tests._services import require_service
from tests.conftest import create_pg_database, drop_pg_database
from tests.runner.code_steps_help import (
    Env,
    cancel,
    console_run_page,
    logic,
    run_log,
    s2t,
    sql,
    start,
    steps_of,
)

# The first run on a machine installs dbt (minutes); later runs reuse the venv.
pytestmark = [pytest.mark.anyio, pytest.mark.timeout(1500)]

PROJECT = Path(__file__).with_name("dbt_project")
CACHE = Path(os.environ.get("HEADWATER_TEST_VENVS", "~/.cache/headwater-test-venvs")).expanduser()


@pytest.fixture(scope="session")
def dbt_venv() -> Path:
    venv = CACHE / f"dbt-{dbt_env.requirements_hash()}"
    dbt_env.ensure_venv(venv, lambda _level, _message: None, __import__("threading").Event())
    return venv


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(settings: Settings, dbt_venv: Path) -> Settings:
    return settings.model_copy(update={"dbt_venv": dbt_venv})


@pytest.fixture
def env(client: httpx.AsyncClient, bootstrap: BootstrapResult, app: FastAPI) -> Env:
    return Env(client, bootstrap, app)


@pytest.fixture(scope="module")
def source_db() -> Iterator[str]:
    require_service("postgres")
    url = create_pg_database("hw_dbtsrc")
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute("CREATE TABLE customers (id int PRIMARY KEY, name text, region text)")
        conn.execute("CREATE TABLE orders (id int PRIMARY KEY, customer_id int, amount int)")
        conn.execute(
            "INSERT INTO customers VALUES (1, 'a', 'north'), (2, 'b', 'south'), (3, 'c', 'east'),"
            " (4, 'd', 'north')"
        )
        conn.execute("INSERT INTO orders SELECT g, 1 + g % 4, g FROM generate_series(1, 20) g")
    yield url
    drop_pg_database(url)


@pytest.fixture
def target_db() -> Iterator[str]:
    url = create_pg_database("hw_dbtdst")
    yield url
    drop_pg_database(url)


async def duckdb_connection(env: Env, path: Path) -> str:
    body = {
        "connection_name": "duck",
        "connection_type": "duckdb",
        "properties": {"path": str(path)},
    }
    created = await env.call("POST", "/connections", 201, json=body)
    return str(created.get("connection_id") or created["id"])


def dbt_step(connection: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "dbt",
        "name": "transform",
        "connection_id": connection,
        "project_dir": str(PROJECT),
        "command": "build",
        "vars": {"source_schema": "public", "min_total": "{min_total}"},
        **extra,
    }


async def transform_river(env: Env, source_db: str, target: str, schema: str) -> str:
    src = await env.connection(source_db)
    load = s2t("load", src, target, "customers")
    tables = load["properties"]["schemas"][0]["tables"]
    tables.append({**tables[0], "name": "orders"})
    tables[1]["details"] = {**tables[0]["details"], "target_table": "orders"}
    load_id = await env.river(load)
    steps = [
        {"type": "river", "name": "load", "river_id": load_id},
        dbt_step(target),
        sql(
            "read",
            target,
            f"SELECT label FROM {schema}.region_totals ORDER BY label",
            target_variable="labels",
        ),
    ]
    return await env.river(logic("load and transform", steps, variables={"min_total": 0}))


def by_name(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in results}


async def check_build(env: Env, river: str) -> None:
    run = await env.wait(river, await start(env, river), limit=240)
    assert run["status"] == "succeeded", run["error_description"]
    steps = await steps_of(env, river, run["run_id"])
    dbt = next(s for s in steps if s["type"] == "dbt")
    results = by_name(dbt["output"]["results"])
    assert results["customer_totals"]["status"] == "success"
    assert results["customer_totals"]["resource_type"] == "model"
    assert results["region_totals"]["status"] == "success"
    assert results["regions"]["resource_type"] == "seed"
    assert results["regions"]["rows_affected"] == 3
    assert results["assert_min_total"]["status"] == "pass"
    assert all(r["duration_seconds"] >= 0 for r in results.values())
    assert any(n.startswith("unique_customer_totals") for n in results)
    variables = await env.call("GET", f"/rivers/{river}/runs/{run['run_id']}/variables")
    assert variables["variables"]["labels"] == ["East", "North", "South"]
    log = await run_log(env, river, run["run_id"])
    assert "dbt: " in log and "Completed successfully" in log
    assert "pg-password-unused" not in log
    page = await console_run_page(env, river, run["run_id"])
    assert 'id="run-steps"' in page and 'class="list dbt-results"' in page
    assert "<td>customer_totals</td><td>model</td><td>success</td>" in page


async def check_failing_test(env: Env, river: str) -> None:
    run = await env.wait(river, await start(env, river, {"min_total": 100000}), limit=240)
    assert run["status"] == "failed"
    assert "test assert_min_total (fail)" in run["error_description"]
    steps = await steps_of(env, river, run["run_id"])
    dbt = next(s for s in steps if s["type"] == "dbt")
    assert dbt["status"] == "failed"
    assert by_name(dbt["output"]["results"])["assert_min_total"]["status"] == "fail"
    assert [s["status"] for s in steps if s["type"] == "sql"] == []  # never reached


async def test_dbt_build_on_postgres(env: Env, source_db: str, target_db: str) -> None:
    target = await env.connection(target_db)
    river = await transform_river(env, source_db, target, "public")
    await check_build(env, river)
    await check_failing_test(env, river)


async def test_dbt_build_on_duckdb(env: Env, source_db: str, tmp_path: Path) -> None:
    target = await duckdb_connection(env, tmp_path / "warehouse.duckdb")
    # dbt-duckdb builds into the database's default schema, main; the load wrote to public.
    river = await transform_river(env, source_db, target, "main")
    await check_build(env, river)
    await check_failing_test(env, river)


def dbt_processes(run_id: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "dbt.cli.main" in cmdline and f"dbt-runs/{run_id}-" in cmdline:
            found.append(int(entry.name))
    return found


def sleeping(url: str) -> bool:
    """Whether the model's pg_sleep is running in the target database."""
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        query = (
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(%'"
            " AND pid <> pg_backend_pid() AND state = 'active' AND datname = current_database()"
        )
        row = conn.execute(query).fetchone()
    return bool(row and row[0])


async def test_cancel_stops_dbt(env: Env, source_db: str, target_db: str) -> None:
    target = await env.connection(target_db)
    slow = dbt_step(
        target,
        select="+region_totals",
        vars={
            "source_schema": "public",
            "sleep_seconds": 120,
        },
    )
    src = await env.connection(source_db)
    load = await env.river(s2t("load customers", src, target, "customers"))
    orders = await env.river(s2t("load orders", src, target, "orders"))
    river = await env.river(
        logic(
            "slow",
            [
                {"type": "river", "river_id": load},
                {"type": "river", "river_id": orders},
                slow,
            ],
        )
    )
    run_id = await start(env, river)
    deadline = time.monotonic() + 120
    while not dbt_processes(run_id):
        assert time.monotonic() < deadline, "dbt never started"
        await anyio.sleep(0.2)
    while not sleeping(target_db):
        assert time.monotonic() < deadline, "dbt never reached region_totals"
        await anyio.sleep(0.3)
    log = await run_log(env, river, run_id)
    while not ("START" in log and "region_totals" in log):  # info lines land within a second
        assert time.monotonic() < deadline, log
        await anyio.sleep(0.3)
        log = await run_log(env, river, run_id)
    asked = time.monotonic()
    assert (await cancel(env, river, run_id)).status_code == 200
    run = await env.wait(river, run_id, limit=30)
    assert run["status"] == "canceled"
    assert time.monotonic() - asked < 15
    assert dbt_processes(run_id) == []
    # dbt cancelled its query on the way out: the server drops it within moments (without the
    # cancel, the 120 s pg_sleep would go on long after dbt is gone)
    gone_by = time.monotonic() + 10
    while sleeping(target_db):
        assert time.monotonic() < gone_by, "dbt's query still runs 10 s after the cancel"
        await anyio.sleep(0.2)
    steps = await steps_of(env, river, run_id)
    assert steps[-1]["type"] == "dbt" and steps[-1]["status"] == "canceled"
