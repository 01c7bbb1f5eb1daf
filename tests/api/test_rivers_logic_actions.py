"""Logic rivers (references, cycles, variables) and action rivers (secrets, variables)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from headwater.security.crypto import MASK, SecretBox
from headwater.services import rivers as river_service
from headwater.services.bootstrap import BootstrapResult
from headwater.settings import Settings
from headwater.store.models import AuditEvent, River, RiverVersion
from tests.api.rivers_help import (
    SECRET,
    action_body,
    create_connection,
    env_path,
    locs,
    logic_body,
    s2t_body,
)

pytestmark = pytest.mark.anyio

TokenFactory = Callable[..., dict[str, str]]


async def _post(
    client: httpx.AsyncClient, boot: BootstrapResult, headers: dict[str, str], body: object
) -> httpx.Response:
    return await client.post(env_path(boot, "/rivers"), json=body, headers=headers)


async def test_logic_river_with_loop_and_river_step(
    client: httpx.AsyncClient, make_token: TokenFactory, bootstrap: BootstrapResult
) -> None:
    headers = make_token()
    connection = await create_connection(client, bootstrap, headers)
    copy = (await _post(client, bootstrap, headers, s2t_body(connection, connection))).json()
    created = await _post(client, bootstrap, headers, logic_body(connection, copy["river_id"]))
    assert created.status_code == 201, created.text
    steps = created.json()["properties"]["steps"]
    assert [s["type"] for s in steps] == ["sql", "loop", "river"]
    assert steps[1]["mode"] == "sequential" and steps[1]["steps"][0]["is_enabled"] is True

    in_use = await client.delete(
        env_path(bootstrap, f"/rivers/{copy['river_id']}"), headers=headers
    )
    assert in_use.status_code == 409 and "nightly" in in_use.json()["detail"]


async def test_unknown_variables_and_references_are_422(
    client: httpx.AsyncClient, make_token: TokenFactory, bootstrap: BootstrapResult
) -> None:
    headers = make_token()
    connection = await create_connection(client, bootstrap, headers)
    body = logic_body(connection)
    body["properties"]["steps"][1]["steps"][0]["sql"] = "SELECT '{region}', '{nowhere}'"
    response = await _post(client, bootstrap, headers, body)
    assert locs(response) == ["properties.steps.1.steps.0.sql"]
    assert "{nowhere}" in response.text

    body = logic_body(connection, river_id="e" * 24)
    assert locs(await _post(client, bootstrap, headers, body)) == ["properties.steps.2.river_id"]

    action = (await _post(client, bootstrap, headers, action_body())).json()
    wrong_kind = logic_body(connection, river_id=action["river_id"])
    response = await _post(client, bootstrap, headers, wrong_kind)
    assert "is not a source-to-target or logic river" in response.text

    # an environment variable makes the reference known
    body = logic_body(connection)
    body["properties"]["steps"][0]["sql"] = "SELECT '{shared_day}'"
    assert (await _post(client, bootstrap, headers, body)).status_code == 422
    put = await client.put(
        env_path(bootstrap, "/variables"),
        json={"variables": [{"name": "shared_day", "value": "2026-01-01"}]},
        headers=headers,
    )
    assert put.status_code == 200
    assert (await _post(client, bootstrap, headers, body)).status_code == 201

    # a step may use a variable only after the step that sets it
    body = logic_body(connection, name="order matters")
    body["properties"]["steps"].reverse()
    assert "properties.steps.0.variable" in locs(await _post(client, bootstrap, headers, body))


async def test_logic_river_cannot_run_itself(
    client: httpx.AsyncClient, make_token: TokenFactory, bootstrap: BootstrapResult
) -> None:
    headers = make_token()
    connection = await create_connection(client, bootstrap, headers)
    inner = (await _post(client, bootstrap, headers, logic_body(connection, name="inner"))).json()
    outer_body = logic_body(connection, river_id=inner["river_id"], name="outer")
    outer = (await _post(client, bootstrap, headers, outer_body)).json()

    cyclic = logic_body(connection, river_id=outer["river_id"], name="inner")
    path = env_path(bootstrap, f"/rivers/{inner['river_id']}")
    response = await client.put(path, json=cyclic, headers=headers)
    assert locs(response) == ["properties.steps"]
    assert "would run itself" in response.text and "'outer'" in response.text

    itself = logic_body(connection, river_id=inner["river_id"], name="inner")
    assert "would run itself" in (await client.put(path, json=itself, headers=headers)).text


async def test_action_secret_encrypted_masked_and_kept(
    client: httpx.AsyncClient,
    make_token: TokenFactory,
    bootstrap: BootstrapResult,
    sessions: sessionmaker[Session],
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    headers = make_token()
    created = await _post(client, bootstrap, headers, action_body())
    assert created.status_code == 201, created.text
    river = created.json()
    assert river["type"] == "actions"
    assert river["properties"]["auth"] == {"type": "bearer", "token": MASK}
    assert SECRET not in created.text

    path = env_path(bootstrap, f"/rivers/{river['river_id']}")
    river["properties"]["request"]["headers"]["X-Trace"] = "1"
    replaced = await client.put(path, json=river, headers=headers)
    assert replaced.status_code == 200, replaced.text
    versions = (await client.get(f"{path}/versions", headers=headers)).json()["items"]
    first = await client.get(f"{path}/versions/{versions[-1]['version_id']}", headers=headers)
    assert first.json()["definition"]["properties"]["auth"]["token"] == MASK

    box = SecretBox.from_settings(settings)
    with sessions() as session:
        row = session.get_one(River, river["river_id"])
        assert SECRET not in str(row.definition)
        assert river_service.definition_for_run(box, row)["properties"]["auth"]["token"] == SECRET
        for version in session.scalars(select(RiverVersion)).all():
            assert SECRET not in str(version.definition)
        assert all(SECRET not in str(e.details) for e in session.scalars(select(AuditEvent)))
    for response in (replaced, first, await client.get(path, headers=headers)):
        assert SECRET not in response.text
    assert SECRET not in caplog.text

    broken = action_body(token=MASK, name="no stored secret")
    assert locs(await _post(client, bootstrap, headers, broken)) == ["properties.auth.token"]

    typo = action_body(name="typo")
    typo["properties"]["auth"] = {"type": "bearr", "token": SECRET}
    rejected = await _post(client, bootstrap, headers, typo)
    assert rejected.status_code == 422 and SECRET not in rejected.text


async def test_action_unknown_variable_in_url_and_body(
    client: httpx.AsyncClient, make_token: TokenFactory, bootstrap: BootstrapResult
) -> None:
    headers = make_token()
    body = action_body()
    body["properties"]["request"]["url"] = "https://x.example.com/{missing_host}"
    body["properties"]["request"]["body"]["content"] = {"a": ["{also_missing}"]}
    response = await _post(client, bootstrap, headers, body)
    assert sorted(locs(response)) == ["properties.request.body", "properties.request.url"]

    logic_uses_action = {
        "name": "uses action output",
        "type": "logic",
        "properties": {"steps": []},
    }
    action = (await _post(client, bootstrap, headers, action_body())).json()
    connection = await create_connection(client, bootstrap, headers)
    logic_uses_action["properties"] = {
        "steps": [
            {"type": "action", "river_id": action["river_id"]},
            {"type": "sql", "connection_id": connection, "sql": "SELECT '{item_id}'"},
        ]
    }
    assert (await _post(client, bootstrap, headers, logic_uses_action)).status_code == 201
