"""A river of many tables: every table copied exactly, pipelined over shared connections.

The group's tables run on ``HEADWATER_TABLE_CONCURRENCY`` threads that share PostgreSQL
connections and one catalogue read per schema (``connectors.reuse``); this checks the outcome
is what the one-table-at-a-time path gave: each target table holds its source's rows, each
run reports its own rows, a missing table fails alone with a message naming it, and the group
settles to ``partially succeeded`` once every run ended.
"""

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

from headwater.connectors.base import TableRef
from headwater.connectors.postgres.source import PostgresSource
from headwater.connectors.postgres.target import PostgresTarget
from headwater.connectors.reuse import reusing
from headwater.services.bootstrap import BootstrapResult
from headwater.store.models.runs import RunGroup
from tests._services import require_service
from tests.api.tokenhelp import mint
from tests.conftest import create_pg_database, drop_pg_database
from tests.connectors.dbkit import pg_props

TABLES = 30


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _props(url: str) -> dict[str, Any]:
    return pg_props(url.rsplit("/", 1)[1])


@pytest.fixture(scope="module")
def many() -> Iterator[tuple[str, str]]:
    """A source of TABLES tables (table i has 20 + i rows) and an empty target."""
    require_service("postgres")
    source, target = create_pg_database("hw_many_src"), create_pg_database("hw_many_dst")
    with psycopg.connect(_libpq(source), autocommit=True) as conn:
        for i in range(TABLES):
            conn.execute(
                f"CREATE TABLE t{i} (id bigint PRIMARY KEY, name text, amount numeric(12,2),"
                " at timestamptz)"
            )
            conn.execute(
                f"INSERT INTO t{i} SELECT g, 't{i} ' || g, (g * 1.25 + {i})::numeric(12,2),"
                " timestamptz '2026-01-01' + g * interval '1 hour'"
                f" FROM generate_series(1, {20 + i}) g"
            )
    yield source, target
    drop_pg_database(source)
    drop_pg_database(target)


def _digest(url: str, table: str) -> tuple[Any, ...] | None:
    with psycopg.connect(_libpq(url)) as conn:
        found = conn.execute("SELECT to_regclass(%s)", (f"public.{table}",)).fetchone()
        if found is None or found[0] is None:
            return None
        row = conn.execute(
            f"SELECT count(*), md5(string_agg((id, name, amount, at)::text, ',' ORDER BY id))"
            f" FROM {table}"
        ).fetchone()
        assert row is not None
        return tuple(row)


@pytest.mark.anyio
async def test_many_tables_copy_exactly_and_fail_alone(
    client: httpx.AsyncClient, bootstrap: BootstrapResult, app: FastAPI, many: tuple[str, str]
) -> None:
    source, target = many
    token = mint(app.state.session_factory, bootstrap.account_id, created_by=bootstrap.admin_id)
    prefix = f"/v1/accounts/{bootstrap.account_id}/environments/{bootstrap.environment_id}"

    async def call(method: str, path: str, expect: int = 200, **kw: Any) -> Any:
        response = await client.request(method, prefix + path, headers=token.headers, **kw)
        assert response.status_code == expect, response.text
        json_body = "json" in response.headers.get("content-type", "")
        return response.json() if json_body else response.text

    ids = []
    for name, url in (("src", source), ("dst", target)):
        body = {
            "connection_name": f"{name}-{uuid.uuid4().hex[:6]}",
            "connection_type": "postgres",
            "properties": _props(url),
        }
        ids.append((await call("POST", "/connections", 201, json=body))["connection_id"])
    tables = [{"name": f"t{i}"} for i in range(TABLES)] + [{"name": "no_such_table"}]
    river = {
        "name": f"many {uuid.uuid4().hex[:6]}",
        "type": "source_to_target",
        "properties": {
            "source": {"connection_id": ids[0]},
            "target": {"connection_id": ids[1], "schema_name": "public"},
            "schemas": [{"name": "public", "tables": tables}],
        },
    }
    river_id = (await call("POST", "/rivers", 201, json=river))["cross_id"]
    started = await call("POST", f"/rivers/{river_id}/run", 202)
    assert len(started["runs"]) == TABLES + 1
    runs = []
    deadline = time.monotonic() + 120
    for pending in started["runs"]:
        while True:
            run = await call("GET", f"/rivers/{river_id}/runs/{pending['run_id']}")
            if run["status"] not in {"pending", "running"}:
                break
            assert time.monotonic() < deadline, run
            await anyio.sleep(0.1)
        runs.append(run)
    by_table = {run["source_name"].rsplit(".", 1)[-1]: run for run in runs}
    assert len(by_table) == TABLES + 1, sorted(by_table)
    missing = by_table.pop("no_such_table")
    assert missing["status"] == "failed"
    assert "no_such_table" in missing["error_description"]
    for i in range(TABLES):
        run = by_table[f"t{i}"]
        assert run["status"] == "succeeded", run["error_description"]
        assert run["total_rows"] == 20 + i
        assert _digest(target, f"t{i}") == _digest(source, f"t{i}")
    logs = await call("GET", f"/rivers/{river_id}/runs/{by_table['t3']['run_id']}/logs")
    assert "finished: 23 rows" in str(logs)
    # The group settles once every run ended, even when the last ones ended together.
    group_deadline = time.monotonic() + 10
    while True:
        with app.state.session_factory() as session:
            group = session.get(RunGroup, started["run_group_id"])
            assert group is not None
            if group.status not in {"pending", "running"}:
                break
        assert time.monotonic() < group_deadline, group.status
        await anyio.sleep(0.1)
    assert group.status == "partially succeeded"
    assert group.total_rows == sum(20 + i for i in range(TABLES))


def _backends(url: str) -> int:
    database = url.rsplit("/", 1)[1]
    with psycopg.connect(_libpq(url)) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
            " AND application_name = 'headwater'",
            (database,),
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_connections_and_catalogue_are_shared_inside_a_group(many: tuple[str, str]) -> None:
    source_url, target_url = many
    source, target = PostgresSource(_props(source_url)), PostgresTarget(_props(target_url))
    with reusing():
        first = source.describe(TableRef("t1", "public"))
        for i in range(TABLES):
            assert source.describe(TableRef(f"t{i}", "public")).columns[0].name == "id"
            target.describe(TableRef(f"t{i}", "public"))
        # One idle connection each, reused for every table, instead of one per call.
        assert _backends(source_url) == 1
        assert _backends(target_url) == 1
        assert [c.name for c in first.columns] == ["id", "name", "amount", "at"]
        assert first.column("id") is not None and first.column("id").primary_key  # type: ignore[union-attr]
        # A table created after the schema was read is still found (per-table fallback).
        with psycopg.connect(_libpq(source_url), autocommit=True) as conn:
            conn.execute("CREATE TABLE late (k int)")
        try:
            assert [c.name for c in source.describe(TableRef("late", "public")).columns] == ["k"]
        finally:
            with psycopg.connect(_libpq(source_url), autocommit=True) as conn:
                conn.execute("DROP TABLE late")
    assert _backends(source_url) == 0  # closed with the group
    assert _backends(target_url) == 0
    # Outside a group nothing is kept.
    source.describe(TableRef("t1", "public"))
    assert _backends(source_url) == 0
