"""Legacy ``/api/...`` river, connection and group endpoints (the shapes rivery-cli uses)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from headwater.security.crypto import MASK
from headwater.services.bootstrap import BootstrapResult
from tests.api.rivers_help import SECRET, create_connection, env_path, logic_body

pytestmark = pytest.mark.anyio

TokenFactory = Callable[..., dict[str, str]]


def _raw(payload: Any) -> bytes:
    """A body as rivery-cli sends it: JSON text without a Content-Type header."""
    return json.dumps(payload).encode()


async def test_list_get_and_full_river_shapes(
    client: httpx.AsyncClient, make_token: TokenFactory, bootstrap: BootstrapResult
) -> None:
    headers = make_token()
    connection = await create_connection(client, bootstrap, headers)
    group = await client.put(
        "/api/river_groups", content=_raw({"group_name": "nightly"}), headers=headers
    )
    assert group.status_code == 200, group.text
    group_id = group.json()["cross_id"]
    body = logic_body(connection)
    body["group_id"] = group_id
    river = (await client.post(env_path(bootstrap, "/rivers"), json=body, headers=headers)).json()
    river_id = river["river_id"]

    listed = (await client.get("/api/rivers", headers=headers)).json()
    assert listed[0]["cross_id"] == {"$oid": river_id} and listed[0]["river_id"] == river_id
    definitions = listed[0]["river_definitions"]
    assert definitions["river_name"] == "nightly" and definitions["river_type_id"] == "logic"
    assert listed[0]["created_at"]["$date"].endswith("Z")
    assert (await client.get("/api/rivers", params={"group": "nightly"}, headers=headers)).json()
    assert (
        await client.get("/api/rivers", params={"group": "other"}, headers=headers)
    ).json() == []
    one = (await client.get(f"/api/rivers/{river_id}", headers=headers)).json()
    assert len(one) == 1 and one[0]["river_id"] == river_id

    full = await client.post(
        "/api/rivers/list", content=_raw({"_id": {"$oid": river_id}}), headers=headers
    )
    assert full.json()["cross_id"] == river_id
    task = full.json()["tasks_definitions"][0]
    assert task["task_type_id"] == "logic"
    logic_steps = task["task_config"]["logic_steps"]
    assert logic_steps[0]["content"]["gConnection"] == connection
    assert logic_steps[1]["container_running"] == "loop_over"
    assert task["task_config"]["variables"]["regions"]["set_by_step"] is True

    probe = await client.post("/api/rivers/list", content=_raw({"_id": river_id}), headers=headers)
    assert probe.json()["cross_id"] == river_id and "tasks_definitions" not in probe.json()
    missing = await client.post(
        "/api/rivers/list", content=_raw({"_id": "c" * 24}), headers=headers
    )
    assert missing.status_code == 404


async def test_modify_create_update_delete(
    client: httpx.AsyncClient, make_token: TokenFactory, bootstrap: BootstrapResult
) -> None:
    headers = make_token()
    connection = await create_connection(client, bootstrap, headers)
    payload = {
        "river_definitions": {
            "river_name": "legacy made",
            "river_type": "logic",
            "river_desc": "x",
        },
        "tasks_definitions": [
            {
                "task_type_id": "logic",
                "task_config": {
                    "logic_steps": [
                        {
                            "step_name": "one",
                            "isEnabled": True,
                            "content": {
                                "block_primary_type": "sql",
                                "gConnection": {"$oid": connection},
                                "sql_query": "SELECT 1",
                            },
                        }
                    ],
                    "variables": {},
                },
                "schedule": {"isEnabled": True, "cronExp": "0 0 12 * * ?"},
            }
        ],
    }
    created = await client.put("/api/rivers/modify", content=_raw(payload), headers=headers)
    assert created.status_code == 200, created.text
    river_id = created.json()["cross_id"]
    v1 = (await client.get(env_path(bootstrap, f"/rivers/{river_id}"), headers=headers)).json()
    assert v1["properties"]["steps"][0]["sql"] == "SELECT 1"
    assert v1["schedulers"] == [{"cron_expression": "0 12 * * *", "is_enabled": True}]
    assert v1["metadata"]["description"] == "x"

    payload["tasks_definitions"][0]["task_config"]["logic_steps"][0]["content"]["sql_query"] = (
        "SELECT 2"
    )
    update = {**payload, "cross_id": river_id, "_id": {"$oid": river_id}}
    patched = await client.patch("/api/rivers/modify", content=_raw(update), headers=headers)
    assert patched.status_code == 200, patched.text
    v1 = (await client.get(env_path(bootstrap, f"/rivers/{river_id}"), headers=headers)).json()
    assert v1["properties"]["steps"][0]["sql"] == "SELECT 2" and v1["version"] == 2

    bad = dict(update)
    bad["tasks_definitions"] = [
        {"task_config": {"logic_steps": [{"content": {"block_primary_type": "sql"}}]}}
    ]
    rejected = await client.patch("/api/rivers/modify", content=_raw(bad), headers=headers)
    assert rejected.status_code == 422

    unknown = await client.patch(
        "/api/rivers/modify", content=_raw({**payload, "cross_id": "d" * 24}), headers=headers
    )
    assert unknown.status_code == 404
    deleted = await client.request(
        "DELETE", "/api/rivers/modify", content=_raw({"_id": {"$oid": river_id}}), headers=headers
    )
    assert deleted.json() == {"cross_id": river_id, "deleted": True}
    assert (await client.get(f"/api/rivers/{river_id}", headers=headers)).status_code == 404


async def test_connections_types_and_groups(
    client: httpx.AsyncClient, make_token: TokenFactory, bootstrap: BootstrapResult
) -> None:
    headers = make_token()
    connection = await create_connection(client, bootstrap, headers)
    listed = await client.get("/api/connections/list", headers=headers)
    assert listed.json()[0]["_id"] == {"$oid": connection}
    assert listed.json()[0]["properties"]["password"] == MASK and SECRET not in listed.text
    types = (await client.get("/api/connection_types", headers=headers)).json()
    assert "postgres" in {t["connection_type"] for t in types}

    created = await client.put(
        "/api/river_groups", content=_raw({"group_name": "g1"}), headers=headers
    )
    group_id = created.json()["cross_id"]
    renamed = await client.patch(
        "/api/river_groups",
        content=_raw({"_id": {"$oid": group_id}, "group_name": "g2"}),
        headers=headers,
    )
    assert renamed.json()["group_name"] == "g2"
    assert [
        g["group_name"] for g in (await client.get("/api/river_groups", headers=headers)).json()
    ] == ["g2"]
    deleted = await client.request(
        "DELETE", "/api/river_groups", content=_raw({"_id": group_id}), headers=headers
    )
    assert deleted.json()["deleted"] is True
    denied = await client.get("/api/rivers", headers=make_token(["connection:list"]))
    assert denied.status_code == 403
