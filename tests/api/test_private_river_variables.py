"""Private river variables end to end: encrypted in the stored definition, masked in every
answer (v1, versions, variables endpoint, legacy API, run variables), kept when the mask comes
back, opened for runs only (a real HTTP API and a real PostgreSQL target see the value) and
redacted from run logs."""

from __future__ import annotations

import json
import logging
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
from sqlalchemy.orm import Session, sessionmaker

from headwater.security.crypto import MASK, SecretBox, is_encrypted
from headwater.services import rivers as river_service
from headwater.services.bootstrap import BootstrapResult
from headwater.settings import Settings
from headwater.store.models import AuditEvent, River, RiverVersion
from tests._services import require_service
from tests.api.tokenhelp import mint
from tests.conftest import create_pg_database, drop_pg_database
from tests.runner import actions_server as srv

pytestmark = pytest.mark.anyio

API_KEY = "river-private-key-5c1e"
PASS_PHRASE = "pass-phrase-9d41b7"
CODES = ["code-alpha-7730", "code-beta-1142"]
SECRETS = (API_KEY, PASS_PHRASE, *CODES)


@pytest.fixture(scope="module")
def target_db() -> Iterator[str]:
    require_service("postgres")
    url = create_pg_database("hw_pvar")
    yield url
    drop_pg_database(url)


@pytest.fixture(scope="module")
def http_api() -> Iterator[srv.Served]:
    with srv.serve() as served:
        yield served


class Api:
    def __init__(self, client: httpx.AsyncClient, boot: BootstrapResult, app: FastAPI) -> None:
        token = mint(app.state.session_factory, boot.account_id, created_by=boot.admin_id)
        self.client = client
        self.headers = token.headers
        self.prefix = f"/v1/accounts/{boot.account_id}/environments/{boot.environment_id}"
        self.answers: list[str] = []

    async def call(self, method: str, path: str, expect: int = 200, **kw: Any) -> Any:
        url = path if path.startswith("/api/") else self.prefix + path
        response = await self.client.request(method, url, headers=self.headers, **kw)
        assert response.status_code == expect, response.text
        self.answers.append(response.text)
        return response.json() if "json" in response.headers.get("content-type", "") else None

    async def text(self, path: str) -> str:
        response = await self.client.get(self.prefix + path, headers=self.headers)
        assert response.status_code == 200, response.text
        self.answers.append(response.text)
        return response.text

    async def run(self, river_id: str) -> dict[str, Any]:
        started = await self.call("POST", f"/rivers/{river_id}/run", 202)
        run_id = started["runs"][0]["run_id"]
        deadline = time.monotonic() + 60
        while True:
            run = await self.call("GET", f"/rivers/{river_id}/runs/{run_id}")
            if run["status"] not in {"pending", "running"}:
                return dict(run)
            assert time.monotonic() < deadline, f"run still {run['status']}"
            await anyio.sleep(0.1)


@pytest.fixture
def api(client: httpx.AsyncClient, bootstrap: BootstrapResult, app: FastAPI) -> Api:
    return Api(client, bootstrap, app)


def _private(value: Any) -> dict[str, Any]:
    return {"value": value, "is_private": True}


async def _connection(api: Api, url: str) -> str:
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
    created = await api.call("POST", "/connections", 201, json=body)
    return str(created["connection_id"])


async def _rivers(api: Api, target: str, http_api: srv.Served) -> tuple[str, str]:
    """An action river sending its private key as a header, and a logic river using a private
    single and multi value in SQL and running the action."""
    action = await api.call(
        "POST",
        "/rivers",
        201,
        json={
            "name": "private call",
            "type": "actions",
            "variables": {"api_key": _private(API_KEY), "region": "north"},
            "properties": {
                "request": {
                    "method": "POST",
                    "url": f"{http_api.url}/calls/private",
                    "headers": {"X-Api-Key": "{api_key}"},
                    "body": {"type": "json", "content": {"region": "{region}"}},
                },
            },
        },
    )
    statement = (
        "CREATE TABLE IF NOT EXISTS private_echo (phrase text, codes text);"
        " INSERT INTO private_echo SELECT '{pass_phrase}', concat_ws('|', {codes})"
    )
    logic = await api.call(
        "POST",
        "/rivers",
        201,
        json={
            "name": "private logic",
            "type": "logic",
            "variables": {"pass_phrase": _private(PASS_PHRASE), "codes": _private(CODES)},
            "properties": {
                "steps": [
                    {"type": "sql", "name": "store", "connection_id": target, "sql": statement},
                    {
                        "type": "sql",
                        "name": "fails naming the secret",
                        "connection_id": target,
                        "sql": 'SELECT * FROM "{pass_phrase}"',
                        "continue_on_failure": True,
                    },
                    {"type": "action", "name": "call", "river_id": action["river_id"]},
                ]
            },
        },
    )
    return str(action["river_id"]), str(logic["river_id"])


def _assert_masked(variables: dict[str, Any]) -> None:
    assert variables["pass_phrase"] == _private(MASK)
    assert variables["codes"] == _private(MASK)


async def test_private_river_variables_are_sealed_masked_kept_and_used_by_runs(
    api: Api,
    target_db: str,
    http_api: srv.Served,
    sessions: sessionmaker[Session],
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    http_api.recorder.reset()
    target = await _connection(api, target_db)
    action_id, logic_id = await _rivers(api, target, http_api)

    # Every answer masks: the river, the list, versions, the variables endpoint, legacy API.
    river = await api.call("GET", f"/rivers/{logic_id}")
    _assert_masked(river["variables"])
    action = await api.call("GET", f"/rivers/{action_id}")
    assert action["variables"] == {"api_key": _private(MASK), "region": "north"}
    listed = await api.call("GET", "/rivers")
    assert {r["name"] for r in listed["items"]} >= {"private logic", "private call"}
    _assert_masked((await api.call("GET", f"/rivers/{logic_id}/variables"))["variables"])

    # Sending the masked river back keeps the stored values, as does the variables endpoint.
    river["metadata"]["description"] = "changed"
    _assert_masked((await api.call("PUT", f"/rivers/{logic_id}", json=river))["variables"])
    shown = (await api.call("GET", f"/rivers/{logic_id}/variables"))["variables"]
    answer = await api.call(
        "PUT", f"/rivers/{logic_id}/variables", json={"variables": {**shown, "extra": "x"}}
    )
    _assert_masked(answer["variables"])
    assert answer["variables"]["extra"] == "x"
    versions = (await api.call("GET", f"/rivers/{logic_id}/versions"))["items"]
    assert [v["change"] for v in versions] == ["variables", "updated", "created"]
    for version in versions:
        one = await api.call("GET", f"/rivers/{logic_id}/versions/{version['version_id']}")
        _assert_masked(one["definition"]["variables"])
    full = await api.call("POST", "/api/rivers/list", content=json.dumps({"_id": logic_id}))
    legacy = await api.call(
        "POST", "/api/rivers/list", content=json.dumps({"_id": {"$oid": logic_id}})
    )
    legacy_vars = legacy["tasks_definitions"][0]["task_config"]["variables"]
    assert legacy_vars["pass_phrase"] == _private(MASK)
    assert full["cross_id"] == logic_id
    pushed = await api.call(
        "PATCH",
        "/api/rivers/modify",
        content=json.dumps({**legacy, "_id": {"$oid": logic_id}}),
    )
    assert pushed["cross_id"] == logic_id

    # The mask of a variable that has no stored private value is refused.
    refused = await api.client.put(
        f"{api.prefix}/rivers/{logic_id}/variables",
        json={"variables": {**shown, "extra": _private(MASK)}},
        headers=api.headers,
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"][0]["loc"] == ["body", "variables", "extra", "value"]

    # Stored encrypted, in the river and in every version; opened only for runs.
    box = SecretBox.from_settings(settings)
    with sessions() as session:
        row = session.get_one(River, logic_id)
        stored = row.definition["variables"]
        assert is_encrypted(stored["pass_phrase"]["value"]) and is_encrypted(
            stored["codes"]["value"]
        )
        opened = river_service.definition_for_run(box, row)["variables"]
        assert opened["pass_phrase"] == _private(PASS_PHRASE)
        assert opened["codes"] == _private(CODES)
        rows = [row, session.get_one(River, action_id)]
        rows_text = [json.dumps(r.definition) for r in rows] + [
            json.dumps(v.definition) for v in session.scalars(select(RiverVersion))
        ]
    for text in rows_text:
        assert not any(secret in text for secret in SECRETS)

    # The run uses the real values: the HTTP API saw the key, the target holds the values.
    run = await api.run(logic_id)
    assert run["status"] == "succeeded", run
    calls = [c for c in http_api.recorder.calls if c["path"] == "/calls/private"]
    assert [c["headers"]["x-api-key"] for c in calls] == [API_KEY]
    with psycopg.connect(target_db.replace("postgresql+psycopg://", "postgresql://")) as conn:
        echoed = conn.execute("SELECT phrase, codes FROM private_echo").fetchall()
    assert set(echoed) == {(PASS_PHRASE, "|".join(CODES))}  # one row per metadata backend

    # ... and never shows them: run variables, step errors, logs.
    run_vars = await api.call("GET", f"/rivers/{logic_id}/runs/{run['run_id']}/variables")
    assert run_vars["variables"]["pass_phrase"] == MASK
    assert run_vars["variables"]["codes"] == MASK
    assert run_vars["variables"]["extra"] == "x"
    assert {"pass_phrase", "codes"} <= set(run_vars["private"])
    steps = (await api.call("GET", f"/rivers/{logic_id}/runs/{run['run_id']}/logic_steps"))["items"]
    failed = next(s for s in steps if s["name"] == "fails naming the secret")
    assert failed["status"] == "failed" and "does not exist" in failed["error"]
    logs = await api.text(f"/rivers/{logic_id}/runs/{run['run_id']}/logs")
    assert "does not exist" in logs

    action_run = await api.run(action_id)
    assert action_run["status"] == "succeeded", action_run
    action_vars = await api.call(
        "GET", f"/rivers/{action_id}/runs/{action_run['run_id']}/variables"
    )
    assert action_vars["variables"]["api_key"] == MASK
    await api.text(f"/rivers/{action_id}/runs/{action_run['run_id']}/logs")
    calls = [c for c in http_api.recorder.calls if c["path"] == "/calls/private"]
    assert [c["headers"]["x-api-key"] for c in calls] == [API_KEY, API_KEY]

    await api.call("GET", "/audit_events")
    with sessions() as session:
        audit = [json.dumps(e.details) for e in session.scalars(select(AuditEvent))]
    for text in [*api.answers, *audit, caplog.text]:
        assert not any(secret in text for secret in SECRETS), text[:300]
