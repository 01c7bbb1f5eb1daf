"""Running rivers through the v1 and legacy APIs, against real PostgreSQL source and target.

Runs execute on the app's local executor (threads), on both metadata backends.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import httpx
import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine

from headwater.services.bootstrap import BootstrapResult
from headwater.settings import Settings
from headwater.store.models.run_parts import RunPart
from tests._services import require_service
from tests.api.tokenhelp import Minted, add_environment, mint
from tests.conftest import create_pg_database, drop_pg_database, statements_sent
from tests.runner.code_steps_help import console_run_page

pytestmark = pytest.mark.anyio

ROWS = 2000
SLOW_QUERY = "SELECT g AS id FROM generate_series(1, 5) g, pg_sleep(30) s"


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture(scope="module")
def pg_pair() -> Iterator[tuple[str, str]]:
    """A source database with an ``events`` table and an empty target database."""
    require_service("postgres")
    source, target = create_pg_database("hw_src"), create_pg_database("hw_dst")
    with psycopg.connect(_libpq(source), autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE events (id bigint PRIMARY KEY, name text, amount numeric(12,2),"
            " created_at timestamptz NOT NULL)"
        )
        conn.execute(
            "INSERT INTO events SELECT g, 'name ' || g, (g * 1.25)::numeric(12,2),"
            " timestamptz '2026-01-01' + g * interval '1 minute'"
            f" FROM generate_series(1, {ROWS}) g"
        )
    yield source, target
    drop_pg_database(source)
    drop_pg_database(target)


def _pg_props(url: str) -> dict[str, Any]:
    return {
        "host": "127.0.0.1",
        "port": 5432,
        "database": url.rsplit("/", 1)[1],
        "username": "postgres",
        "password": "not-needed-with-trust",
    }


class Env:
    def __init__(self, client: httpx.AsyncClient, boot: BootstrapResult, token: Minted) -> None:
        self.client = client
        self.headers = token.headers
        self.prefix = f"/v1/accounts/{boot.account_id}/environments/{boot.environment_id}"

    async def call(self, method: str, path: str, expect: int = 200, **kw: Any) -> Any:
        response = await self.client.request(method, path, headers=self.headers, **kw)
        assert response.status_code == expect, response.text
        return response.json() if "json" in response.headers.get("content-type", "") else response

    async def river(
        self, pg_pair: tuple[str, str], *, table: dict[str, Any], expect: int = 201, **extra: Any
    ) -> Any:
        source, target = pg_pair
        ids = []
        for name, url in (("src", source), ("dst", target)):
            body = {
                "connection_name": f"{name}-{uuid.uuid4().hex[:6]}",
                "connection_type": "postgres",
                "properties": _pg_props(url),
            }
            ids.append(
                (await self.call("POST", f"{self.prefix}/connections", 201, json=body))[
                    "connection_id"
                ]
            )
        river = {
            "name": f"river {uuid.uuid4().hex[:8]}",
            "type": "source_to_target",
            "properties": {
                "source": {"connection_id": ids[0], "run_type": "multi_tables"},
                "target": {
                    "connection_id": ids[1],
                    "schema_name": "public",
                    "loading_method": "overwrite",
                },
                "schemas": [{"name": "public", "tables": [table]}],
            },
            **extra,
        }
        created = await self.call("POST", f"{self.prefix}/rivers", expect, json=river)
        return str(created["cross_id"]) if expect == 201 else created

    async def wait_run(self, river_id: str, run_id: str, limit: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + limit
        while True:
            run = await self.call("GET", f"{self.prefix}/rivers/{river_id}/runs/{run_id}")
            if run["status"] not in {"pending", "running"}:
                return dict(run)
            assert time.monotonic() < deadline, f"run still {run['status']} after {limit} s"
            await anyio.sleep(0.1)


@pytest.fixture
def env(client: httpx.AsyncClient, bootstrap: BootstrapResult, app: FastAPI) -> Env:
    token = mint(app.state.session_factory, bootstrap.account_id, created_by=bootstrap.admin_id)
    return Env(client, bootstrap, token)


def _target_rows(target: str, table: str) -> list[tuple[Any, ...]] | None:
    with psycopg.connect(_libpq(target)) as conn:
        exists = conn.execute("SELECT to_regclass(%s)", (f"public.{table}",)).fetchone()
        if exists is None or exists[0] is None:
            return None
        return conn.execute(f'SELECT count(*), sum(amount) FROM "{table}"').fetchall()


EVENTS = {"name": "events", "details": {"target_table": "events_copy"}}


async def test_run_copies_rows_and_reports_them(env: Env, pg_pair: tuple[str, str]) -> None:
    river_id = await env.river(pg_pair, table=EVENTS)
    started = await env.call("POST", f"{env.prefix}/rivers/{river_id}/run", 202)
    assert started["river_cross_id"] == river_id and len(started["run_group_id"]) == 32
    assert [r["status"] for r in started["runs"]] == ["pending"]
    run = await env.wait_run(river_id, started["runs"][0]["run_id"])
    assert run["status"] == "succeeded", run["error_description"]
    assert run["total_rows"] == ROWS and run["total_size"] > 0 and run["units"] > 0
    assert run["target_name"] == "events_copy" and run["trigger"] == "api"
    assert run["end_date_in_milliseconds"] >= run["start_date_in_milliseconds"] > 0
    expected = sum(round(g * 1.25, 2) for g in range(1, ROWS + 1))
    rows = _target_rows(pg_pair[1], "events_copy")
    assert rows is not None and rows[0][0] == ROWS and float(rows[0][1]) == pytest.approx(expected)
    logs = await env.call("GET", f"{env.prefix}/data_flows/{river_id}/runs/{run['run_id']}/logs")
    lines = logs.text.splitlines()
    assert lines[0] == "timestamp,level,msg" and any("finished" in line for line in lines)
    assert logs.headers["content-type"].startswith("text/csv")


async def test_units_follow_the_metering_settings(
    env: Env, pg_pair: tuple[str, str], settings: Settings
) -> None:
    # The same Settings object the app's runner reads: HEADWATER_UNITS_* set for this install.
    settings.units_bytes_per_unit = 1000
    settings.units_minimum = 0.0
    river_id = await env.river(pg_pair, table=EVENTS)
    started = await env.call("POST", f"{env.prefix}/rivers/{river_id}/run", 202)
    run = await env.wait_run(river_id, started["runs"][0]["run_id"])
    assert run["status"] == "succeeded", run["error_description"]
    assert run["units"] == pytest.approx(round(run["total_size"] / 1000, 3))
    assert run["units"] > 1  # far above the default formula's 0.001 for this small table


async def test_failure_names_the_table_and_costs_nothing(
    env: Env, pg_pair: tuple[str, str]
) -> None:
    river_id = await env.river(pg_pair, table={"name": "no_such_table"})
    started = await env.call("POST", f"{env.prefix}/rivers/{river_id}/run", 202)
    run = await env.wait_run(river_id, started["runs"][0]["run_id"])
    assert run["status"] == "failed" and run["units"] == 0
    assert "no_such_table" in run["error_description"]


async def test_second_trigger_is_skipped_then_cancel_stops_within_5s(
    env: Env, pg_pair: tuple[str, str]
) -> None:
    table = {"query": SLOW_QUERY, "details": {"target_table": "slow_copy"}}
    river_id = await env.river(pg_pair, table=table)
    first = await env.call("POST", f"{env.prefix}/rivers/{river_id}/run", 202)
    run_id = first["runs"][0]["run_id"]
    deadline = time.monotonic() + 15
    while (await env.call("GET", f"{env.prefix}/rivers/{river_id}/runs/{run_id}"))[
        "status"
    ] != "running":
        assert time.monotonic() < deadline
        await anyio.sleep(0.05)
    second = await env.call("POST", f"{env.prefix}/data%20flows/{river_id}/run", 202)
    assert second["runs"][0]["status"] == "skipped"
    assert first["run_group_id"] in second["runs"][0]["message"]
    asked = time.monotonic()
    answer = await env.call(
        "POST", f"{env.prefix}/rivers/{river_id}/cancel_run", json={"run_id": run_id}
    )
    assert answer["cancel_requested"] is True
    run = await env.wait_run(river_id, run_id, limit=10)
    assert run["status"] == "canceled"
    assert time.monotonic() - asked < 5
    assert _target_rows(pg_pair[1], "slow_copy") is None
    again = await env.call(
        "POST", f"{env.prefix}/rivers/{river_id}/cancel_run", 409, json={"run_id": run_id}
    )
    assert "already ended" in again["detail"]


async def test_timeout_fails_the_run_with_a_message(env: Env, pg_pair: tuple[str, str]) -> None:
    table = {"query": SLOW_QUERY, "details": {"target_table": "timeout_copy"}}
    river_id = await env.river(pg_pair, table=table, settings={"run_timeout_seconds": 1})
    started = await env.call("POST", f"{env.prefix}/rivers/{river_id}/run", 202)
    run = await env.wait_run(river_id, started["runs"][0]["run_id"], limit=15)
    assert run["status"] == "failed"
    assert "timeout of 1 seconds" in run["error_description"]


async def test_disabled_river_refuses_to_run(env: Env, pg_pair: tuple[str, str]) -> None:
    river_id = await env.river(pg_pair, table=EVENTS)
    await env.call("POST", f"{env.prefix}/rivers/{river_id}/disable_river")
    refused = await env.call("POST", f"{env.prefix}/rivers/{river_id}/run", 400)
    assert "disabled" in refused["detail"]


@contextlib.contextmanager
def counted_hand_offs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The names of the functions the request hands to a worker thread, in order."""
    names: list[str] = []
    run_sync = anyio.to_thread.run_sync

    async def counting(func: Any, *args: Any, **kwargs: Any) -> Any:
        names.append(getattr(getattr(func, "func", func), "__name__", "?"))  # through partial
        return await run_sync(func, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(anyio.to_thread, "run_sync", counting)
        yield names


async def test_a_trigger_checks_token_and_scope_before_its_body(
    env: Env, app: FastAPI, bootstrap: BootstrapResult
) -> None:
    """The trigger checks its token in the route's thread, after FastAPI validated the body;
    a caller without a valid token or the scope is still refused first, as by other routes."""
    path = f"{env.prefix}/rivers/{'0' * 24}/run"
    bad = {"variables": 5}
    forged = await env.client.post(path, json=bad, headers={"Authorization": "Bearer hw_forged"})
    assert (forged.status_code, forged.json()) == (401, {"detail": "Credentials are not valid"})
    narrow = mint(
        app.state.session_factory, bootstrap.account_id, created_by=None, scopes=["activities:list"]
    )
    denied = await env.client.post(path, json=bad, headers=narrow.headers)
    assert denied.status_code == 403 and "river:execute" in denied.json()["detail"]
    invalid = await env.call("POST", path, 422, json=bad)
    assert invalid["detail"][0]["loc"] == ["body", "variables"]
    missing = await env.call("POST", path, 404, json={})
    assert missing["detail"] == f"River {'0' * 24} was not found"


async def test_unknown_river_and_run_are_404(env: Env, pg_pair: tuple[str, str]) -> None:
    await env.call("POST", f"{env.prefix}/rivers/{'0' * 24}/run", 404)
    river_id = await env.river(pg_pair, table=EVENTS)
    await env.call("GET", f"{env.prefix}/rivers/{river_id}/runs/{'0' * 32}", 404)


async def test_a_status_poll_reads_its_run_in_one_query_and_404s_like_separate_reads(
    env: Env,
    pg_pair: tuple[str, str],
    engine: Engine,
    app: FastAPI,
    bootstrap: BootstrapResult,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The most frequent request: the token with the environment, then the river, the run and
    its parts together; a run of another river, or a river of another environment, is 404."""
    river_id = await env.river(pg_pair, table=EVENTS)
    other_id = await env.river(
        pg_pair, table={"name": "events", "details": {"target_table": "events_other"}}
    )
    run_id = (await env.call("POST", f"{env.prefix}/rivers/{river_id}/run", 202))["runs"][0][
        "run_id"
    ]
    await env.wait_run(river_id, run_id)
    await env.call("GET", f"{env.prefix}/rivers/{river_id}/runs/{run_id}")  # last_used_at write
    with statements_sent(engine) as seen, counted_hand_offs(monkeypatch) as hand_offs:
        run = await env.call("GET", f"{env.prefix}/rivers/{river_id}/runs/{run_id}")
    # The token check, the read and the session's close in one hand-off. A sync route (the
    # logs) takes three: its dependency, itself, the close (and a fourth to validate JSON).
    assert hand_offs == ["checked_work"]
    with counted_hand_offs(monkeypatch) as hand_offs:
        await env.call("GET", f"{env.prefix}/rivers/{river_id}/runs/{run_id}/logs")
    assert hand_offs == ["require_scope_activities_list", "_run_sync_endpoint", "close"]
    assert run["run_id"] == run_id and run["status"] == "succeeded" and run["parts"] == []
    statements = [s for s in seen if not s.lstrip().upper().startswith(("SELECT 1", "ROLLBACK"))]
    assert len(statements) == 2, statements
    assert "FROM api_tokens" in statements[0] and "environments" in statements[0]
    assert "run_parts" in statements[1] and "rivers" in statements[1]

    wrong_river = await env.call("GET", f"{env.prefix}/rivers/{other_id}/runs/{run_id}", 404)
    assert wrong_river["detail"] == f"Run {run_id} was not found"
    other_environment = add_environment(app.state.session_factory, bootstrap.account_id, "other")
    elsewhere = env.prefix.rsplit("/", 1)[0] + f"/{other_environment}"
    for missing_river, prefix in ((river_id, elsewhere), ("0" * 24, env.prefix)):
        missing = await env.call("GET", f"{prefix}/rivers/{missing_river}/runs/{run_id}", 404)
        assert missing["detail"] == f"River {missing_river} was not found"


async def test_legacy_run_check_and_logs(env: Env, pg_pair: tuple[str, str]) -> None:
    river_id = await env.river(
        pg_pair, table={"name": "events", "details": {"target_table": "legacy"}}
    )
    started = await env.call("POST", "/api/run", json={"river_id": {"$oid": river_id}})
    assert started["river_id"] == river_id and started["river_run_status"] in {"W", "R"}
    deadline = time.monotonic() + 60
    while True:
        status = await env.call("GET", "/api/check_run", params={"run_id": started["run_id"]})
        if status["river_run_status"] in {"D", "E"}:
            break
        assert time.monotonic() < deadline
        await anyio.sleep(0.1)
    assert status["river_run_status"] == "D", status
    first = await env.client.get(
        "/api/activities/runs/logs", params={"id": started["run_id"]}, headers=env.headers
    )
    assert first.status_code == 202 and first.headers["queryid"]
    logs = await env.client.get(
        "/api/activities/runs/logs",
        params={"id": started["run_id"], "queryId": first.headers["queryid"]},
        headers=env.headers,
    )
    assert logs.status_code == 200 and logs.text.startswith("timestamp,level,msg\n")
    assert "finished" in logs.text


RESET_QUERY = "SELECT g AS id FROM generate_series(1, 5) g, pg_sleep(1.5) s"


def _terminate_source_query(source: str, marker: str, limit: float = 15) -> None:
    """Kill the backend running the river's source query: a connection reset, seen from the run.

    Only the read: in this test's source database (a query of an earlier test's run may still
    be sleeping in its own), and not the statement that describes the query's columns (a
    ``CREATE TEMP VIEW`` holding the same text for a few milliseconds before the read).
    """
    deadline = time.monotonic() + limit
    with psycopg.connect(_libpq(source), autocommit=True) as conn:
        while time.monotonic() < deadline:
            killed = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE query LIKE %s AND query NOT LIKE 'CREATE TEMP VIEW%%'"
                " AND datname = current_database() AND pid <> pg_backend_pid()"
                " AND state = 'active'",
                (f"%{marker}%",),
            ).fetchall()
            if killed:
                return
            time.sleep(0.05)
    raise AssertionError("the source query never showed up in pg_stat_activity")


@pytest.mark.parametrize("retries", [0, 2])
async def test_connection_reset_is_retried_when_the_river_allows_it(
    env: Env, pg_pair: tuple[str, str], retries: int
) -> None:
    table = {"query": RESET_QUERY, "details": {"target_table": f"reset_{retries}"}}
    settings = {"retry_attempts": retries, "retry_delay_seconds": 0.2}
    river_id = await env.river(pg_pair, table=table, settings=settings)
    started = await env.call("POST", f"{env.prefix}/rivers/{river_id}/run", 202)
    await anyio.to_thread.run_sync(_terminate_source_query, pg_pair[0], "pg_sleep(1.5)")
    run = await env.wait_run(river_id, started["runs"][0]["run_id"])
    logs = await env.call("GET", f"{env.prefix}/rivers/{river_id}/runs/{run['run_id']}/logs")
    if retries:
        assert run["status"] == "succeeded", run["error_description"]
        assert run["total_rows"] == 5
        assert "attempt 1 failed with a transient error" in logs.text
        assert "retrying in 0.2 s" in logs.text
    else:
        assert run["status"] == "failed"
        assert "connection lost" in run["error_description"]


async def test_cancel_during_the_wait_before_a_retry_stops_the_run(
    env: Env, pg_pair: tuple[str, str]
) -> None:
    """The wait between attempts (here 60 s) does not delay a cancel."""
    table = {"query": RESET_QUERY, "details": {"target_table": "reset_wait"}}
    settings = {"retry_attempts": 2, "retry_delay_seconds": 60}
    river_id = await env.river(pg_pair, table=table, settings=settings)
    started = await env.call("POST", f"{env.prefix}/rivers/{river_id}/run", 202)
    run_id = started["runs"][0]["run_id"]
    await anyio.to_thread.run_sync(_terminate_source_query, pg_pair[0], "pg_sleep(1.5)")
    logs_path = f"{env.prefix}/rivers/{river_id}/runs/{run_id}/logs"
    deadline = time.monotonic() + 15
    while "retrying in 60 s" not in (await env.call("GET", logs_path)).text:
        assert time.monotonic() < deadline, "the retry wait never started"
        await anyio.sleep(0.05)
    asked = time.monotonic()
    await env.call("POST", f"{env.prefix}/rivers/{river_id}/cancel_run", json={"run_id": run_id})
    run = await env.wait_run(river_id, run_id, limit=10)
    assert run["status"] == "canceled", run
    assert time.monotonic() - asked < 5
    assert "attempt 2" not in (await env.call("GET", logs_path)).text
    assert _target_rows(pg_pair[1], "reset_wait") is None


def _target_columns(target: str, table: str) -> list[str]:
    with psycopg.connect(_libpq(target)) as conn:
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s"
            " ORDER BY ordinal_position",
            (table,),
        ).fetchall()
    return [r[0] for r in rows]


async def test_unselected_columns_stay_out_of_the_target(
    env: Env, pg_pair: tuple[str, str]
) -> None:
    details = {
        "target_table": "events_narrow",
        "loading_method": "merge",
        "modified_columns": [
            {"name": "id", "is_key": True},
            {"name": "name", "is_selected": False},
        ],
    }
    river_id = await env.river(pg_pair, table={"name": "events", "details": details})
    started = await env.call("POST", f"{env.prefix}/rivers/{river_id}/run", 202)
    run = await env.wait_run(river_id, started["runs"][0]["run_id"])
    assert run["status"] == "succeeded", run["error_description"]
    assert _target_columns(pg_pair[1], "events_narrow") == ["id", "amount", "created_at"]


async def test_key_and_cursor_must_be_selected_columns(env: Env, pg_pair: tuple[str, str]) -> None:
    details = {
        "loading_method": "merge",
        "extract_method": "incremental",
        "incremental_field": "created_at",
        "incremental_type": "timestamp",
        "modified_columns": [
            {"name": "id", "is_key": True, "is_selected": False},
            {"name": "created_at", "is_selected": False},
        ],
    }
    refused = await env.river(pg_pair, table={"name": "events", "details": details}, expect=422)
    fields = {".".join(map(str, e["loc"])): e["msg"] for e in refused["detail"]}
    key = fields["body.properties.schemas.0.tables.0.details.modified_columns"]
    cursor = fields["body.properties.schemas.0.tables.0.details.incremental_field"]
    assert "the merge key column 'id' is not selected" in key
    assert "the cursor column 'created_at' is not selected" in cursor


async def test_parallel_partitions_on_the_local_executor_read_in_threads_and_say_so(
    env: Env, pg_pair: tuple[str, str]
) -> None:
    river_id = await env.river(
        pg_pair,
        table={"name": "events", "details": {"target_table": "events_local_parts"}},
        settings={"parallel_partitions": 3},
    )
    started = await env.call("POST", f"{env.prefix}/rivers/{river_id}/run", 202)
    run = await env.wait_run(river_id, started["runs"][0]["run_id"])
    assert run["status"] == "succeeded", run["error_description"]
    assert run["total_rows"] == ROWS and run["parts"] == []
    logs = await env.call("GET", f"{env.prefix}/data_flows/{river_id}/runs/{run['run_id']}/logs")
    assert "not distributed across workers: the local executor reads the ranges in this " in (
        logs.text
    )
    assert "3 reader(s)" in logs.text


async def test_a_runs_parts_show_in_the_api_the_activities_list_and_the_console(
    env: Env, pg_pair: tuple[str, str], app: FastAPI
) -> None:
    river_id = await env.river(
        pg_pair, table={"name": "events", "details": {"target_table": "events_parts_view"}}
    )
    started = await env.call("POST", f"{env.prefix}/rivers/{river_id}/run", 202)
    run_id = started["runs"][0]["run_id"]
    assert (await env.wait_run(river_id, run_id))["status"] == "succeeded"
    now = datetime.now(UTC)
    with app.state.session_factory() as session:
        session.add_all(
            [
                RunPart(
                    run_id=run_id,
                    part=1,
                    bounds={"column": "id", "lower": None, "upper": 51, "snapshot": "x"},
                    status="committed",
                    attempts=2,
                    worker="host-a:11",
                    rows=50,
                    started_at=now - timedelta(seconds=2),
                    finished_at=now,
                ),
                RunPart(
                    run_id=run_id,
                    part=2,
                    bounds={"column": "id", "lower": 51, "upper": None},
                    status="failed",
                    attempts=1,
                    worker="host-b:22",
                    error="bad row 60",
                ),
            ]
        )
        session.commit()
    run = await env.call("GET", f"{env.prefix}/rivers/{river_id}/runs/{run_id}")
    assert run["parts"] == [
        {
            "part": 1,
            "lower": None,
            "upper": 51,
            "column": "id",
            "status": "committed",
            "worker": "host-a:11",
            "rows": 50,
            "attempts": 2,
            "seconds": 2.0,
            "error": None,
        },
        {
            "part": 2,
            "lower": 51,
            "upper": None,
            "column": "id",
            "status": "failed",
            "worker": "host-b:22",
            "rows": 0,
            "attempts": 1,
            "seconds": None,
            "error": "bad row 60",
        },
    ]
    began = datetime.fromisoformat(run["start_date_utc"].replace("Z", "+00:00"))
    window = {
        "start_time": (began - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S"),
        "end_time": (began + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S"),
    }
    listed = await env.call("GET", f"{env.prefix}/rivers/{river_id}/runs", params=window)
    assert [p["worker"] for p in listed["items"][0]["parts"]] == ["host-a:11", "host-b:22"]
    page = await console_run_page(env, river_id, run_id)  # type: ignore[arg-type]
    assert 'id="run-parts"' in page and "host-b:22" in page and "bad row 60" in page
    assert "id &lt; 51" in page
