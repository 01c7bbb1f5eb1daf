"""The finding as it was found, on every SQL connection type: a token holding only
``river:execute`` runs a logic river with ``{"variables": {"day": "x' <> ''; DROP TABLE victim;
SELECT 1 WHERE '"}}``. The value must reach the SQL as a value (the ``victim`` table survives and
the step matches no rows), and the explicit raw opt-in can never be supplied by a run."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import duckdb
import httpx
import pytest

from headwater.services.bootstrap import BootstrapResult
from tests.api.rivers_help import env_path
from tests.connectors.dbkit import mysql_database, mysql_exec, mysql_rows, pg_database, pg_exec
from tests.connectors.dbkit import pg_rows as pg_query

pytestmark = pytest.mark.anyio

PAYLOAD = "x' <> ''; DROP TABLE victim; SELECT 1 WHERE '"
SETUP = (
    "CREATE TABLE events (day varchar(40))",
    "INSERT INTO events VALUES ('2026-01-01'), ('2026-01-02')",
    "CREATE TABLE victim (id int, note varchar(20))",
    "INSERT INTO victim VALUES (1, 'keep me')",
)
VICTIM = "SELECT id, note FROM victim"
TokenFactory = Callable[..., dict[str, str]]


class Target:
    def __init__(self, kind: str, props: dict[str, Any], rows: Callable[[str], list[Any]]):
        self.kind = kind
        self.props = props
        self.rows = rows


@contextlib.contextmanager
def _target(kind: str, tmp: Path) -> Iterator[Target]:
    if kind == "postgres":
        with pg_database("hw_victim") as props:
            pg_exec(props, *SETUP)
            yield Target(kind, props, lambda q: pg_query(props, q))
    elif kind == "mysql":
        with mysql_database("hw_victim") as props:
            mysql_exec(props, *SETUP)
            yield Target(kind, props, lambda q: mysql_rows(props, q))
    elif kind == "sqlite":
        path = tmp / "victim.sqlite"
        with contextlib.closing(sqlite3.connect(path)) as conn:
            for statement in SETUP:
                conn.execute(statement)
            conn.commit()

        def sqlite_rows(query: str) -> list[Any]:
            with contextlib.closing(sqlite3.connect(path)) as conn:
                return conn.execute(query).fetchall()

        yield Target(kind, {"path": str(path)}, sqlite_rows)
    else:
        path = tmp / "victim.duckdb"
        with duckdb.connect(str(path)) as conn:
            for statement in SETUP:
                conn.execute(statement)

        def duck_rows(query: str) -> list[Any]:
            with duckdb.connect(str(path)) as conn:
                return conn.execute(query).fetchall()

        yield Target(kind, {"path": str(path)}, duck_rows)


@pytest.fixture(params=["postgres", "mysql", "sqlite", "duckdb"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    with _target(request.param, tmp_path) as found:
        yield found


class Api:
    def __init__(self, client: httpx.AsyncClient, boot: BootstrapResult, admin: dict[str, str]):
        self.client = client
        self.boot = boot
        self.admin = admin

    async def call(
        self, method: str, path: str, expect: int, headers: dict[str, str] | None = None, **kw: Any
    ) -> Any:
        response = await self.client.request(
            method, env_path(self.boot, path), headers=headers or self.admin, **kw
        )
        assert response.status_code == expect, response.text
        return response.json()

    async def finished(self, river_id: str, run_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + 60
        while True:
            run = await self.call("GET", f"/rivers/{river_id}/runs/{run_id}", 200)
            if run["status"] not in {"pending", "running"}:
                return dict(run)
            assert time.monotonic() < deadline, "the run did not finish"
            await anyio.sleep(0.05)


async def _setup(api: Api, target: Target, variables: dict[str, Any], sql: str) -> str:
    connection = await api.call(
        "POST",
        "/connections",
        201,
        json={
            "connection_name": f"{target.kind} with a victim",
            "connection_type": target.kind,
            "properties": target.props,
        },
    )
    river = await api.call(
        "POST",
        "/rivers",
        201,
        json={
            "name": "daily count",
            "type": "logic",
            "variables": variables,
            "properties": {
                "steps": [
                    {
                        "type": "sql",
                        "name": "count",
                        "connection_id": connection["connection_id"],
                        "sql": sql,
                        "target_variable": "matches",
                    }
                ]
            },
        },
    )
    return str(river["river_id"])


async def test_execute_only_token_cannot_inject_sql_through_run_variables(
    client: httpx.AsyncClient,
    make_token: TokenFactory,
    bootstrap: BootstrapResult,
    target: Target,
) -> None:
    api = Api(client, bootstrap, make_token())
    river_id = await _setup(
        api,
        target,
        {"day": "2026-01-01"},
        "SELECT count(*) FROM events WHERE day = '{day}'",
    )
    executor = make_token(scopes=["river:execute"])

    started = await api.call(
        "POST", f"/rivers/{river_id}/run", 202, executor, json={"variables": {"day": PAYLOAD}}
    )
    run = await api.finished(river_id, started["runs"][0]["run_id"])

    assert [tuple(r) for r in target.rows(VICTIM)] == [(1, "keep me")]
    assert run["status"] == "succeeded", run
    variables = await api.call("GET", f"/rivers/{river_id}/runs/{run['run_id']}/variables", 200)
    assert variables["variables"]["matches"] == 0  # the payload was compared as a value
    assert variables["variables"]["day"] == PAYLOAD

    # The legitimate use still works: the river's own value, quoted.
    started = await api.call("POST", f"/rivers/{river_id}/run", 202, executor)
    run = await api.finished(river_id, started["runs"][0]["run_id"])
    variables = await api.call("GET", f"/rivers/{river_id}/runs/{run['run_id']}/variables", 200)
    assert run["status"] == "succeeded" and variables["variables"]["matches"] == 1


@pytest.fixture
def pg_target(tmp_path: Path) -> Iterator[Target]:
    """The raw opt-in does not depend on the dialect: one database is enough."""
    with _target("postgres", tmp_path) as found:
        yield found


async def test_raw_variables_are_definitions_only(
    client: httpx.AsyncClient,
    make_token: TokenFactory,
    bootstrap: BootstrapResult,
    pg_target: Target,
) -> None:
    target = pg_target
    api = Api(client, bootstrap, make_token())
    river_id = await _setup(
        api,
        target,
        {"table": {"value": "events", "raw": True}, "day": "2026-01-02"},
        "SELECT count(*) FROM {table} WHERE day = '{day}'",
    )
    shown = await api.call("GET", f"/rivers/{river_id}", 200)
    assert shown["variables"]["table"] == {"value": "events", "is_private": False, "raw": True}
    executor = make_token(scopes=["river:execute"])

    # A run parameter may not set a raw variable, whoever sends it.
    for headers in (executor, api.admin):
        refused = await api.call(
            "POST",
            f"/rivers/{river_id}/run",
            422,
            headers,
            json={"variables": {"table": "victim; DROP TABLE victim; SELECT 1 FROM events"}},
        )
        assert refused["detail"][0]["loc"][-2:] == ["variables", "table"], refused
        assert "raw variable" in refused["detail"][0]["msg"]
    # Nor can an execute-only token change the definition.
    await api.call(
        "PUT",
        f"/rivers/{river_id}/variables",
        403,
        executor,
        json={"variables": {"table": {"value": "victim; DROP TABLE victim", "raw": True}}},
    )
    await api.call(
        "PUT",
        "/variables",
        403,
        executor,
        json={"variables": [{"name": "table", "value": "x", "raw": True}]},
    )

    # The defined raw value is spliced; the plain one next to it is still quoted.
    started = await api.call("POST", f"/rivers/{river_id}/run", 202, executor)
    run = await api.finished(river_id, started["runs"][0]["run_id"])
    variables = await api.call("GET", f"/rivers/{river_id}/runs/{run['run_id']}/variables", 200)
    assert run["status"] == "succeeded", run
    assert variables["variables"]["matches"] == 1

    # An environment variable declared raw is protected the same way.
    await api.call(
        "PUT", "/variables", 200, json={"variables": [{"name": "day", "value": "x", "raw": True}]}
    )
    listed = await api.call("GET", "/variables", 200)
    assert [v["raw"] for v in listed["items"] if v["name"] == "day"] == [True]
    refused = await api.call(
        "POST", f"/rivers/{river_id}/run", 422, executor, json={"variables": {"day": PAYLOAD}}
    )
    assert "variables.day" in str(refused) or refused["detail"][0]["loc"][-2:] == [
        "variables",
        "day",
    ]
    assert [tuple(r) for r in target.rows(VICTIM)] == [(1, "keep me")]


async def test_an_action_url_host_must_come_from_a_raw_variable(
    client: httpx.AsyncClient, make_token: TokenFactory, bootstrap: BootstrapResult
) -> None:
    api = Api(client, bootstrap, make_token())

    def action(host: Any) -> dict[str, Any]:
        return {
            "name": f"call {len(str(host))}",
            "type": "actions",
            "variables": {"host": host},
            "properties": {"request": {"method": "GET", "url": "https://{host}/v1/{host}"}},
        }

    refused = await api.call("POST", "/rivers", 422, json=action("api.example.com"))
    assert refused["detail"][0]["loc"][-3:] == ["properties", "request", "url"], refused
    assert "only a raw variable" in refused["detail"][0]["msg"]
    await api.call("POST", "/rivers", 201, json=action({"value": "api.example.com", "raw": True}))
