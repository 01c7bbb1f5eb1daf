"""River groups, environment variables (private ones masked and encrypted) and environments."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from headwater.security.crypto import MASK
from headwater.services.bootstrap import BootstrapResult
from headwater.store.models import AuditEvent, EnvironmentVariable
from tests.api.rivers_help import SECRET, create_connection, env_path, s2t_body
from tests.api.tokenhelp import add_environment, add_user, mint

pytestmark = pytest.mark.anyio

TokenFactory = Callable[..., dict[str, str]]


async def test_groups_create_rename_delete_and_non_empty_409(
    client: httpx.AsyncClient,
    make_token: TokenFactory,
    bootstrap: BootstrapResult,
    sessions: sessionmaker[Session],
) -> None:
    headers = make_token()
    path = env_path(bootstrap, "/river_groups")
    created = await client.post(path, json={"name": "core"}, headers=headers)
    assert created.status_code == 201
    group_id = created.json()["group_id"]
    assert (
        await client.post(path, json={"group_name": "core"}, headers=headers)
    ).status_code == 409
    renamed = await client.patch(f"{path}/{group_id}", json={"name": "core2"}, headers=headers)
    assert renamed.json()["name"] == "core2"
    put = await client.put(f"{path}/{group_id}", json={"name": "core3"}, headers=headers)
    assert put.json()["group_name"] == "core3"
    listing = (await client.get(path, headers=headers)).json()
    assert [g["name"] for g in listing["items"]] == ["core3"] and listing["total_items"] == 1

    connection = await create_connection(client, bootstrap, headers)
    body = s2t_body(connection, connection)
    body["group_id"] = group_id
    river = await client.post(env_path(bootstrap, "/rivers"), json=body, headers=headers)
    assert river.status_code == 201
    refused = await client.delete(f"{path}/{group_id}", headers=headers)
    assert refused.status_code == 409 and "1 river" in refused.json()["detail"]
    await client.delete(env_path(bootstrap, f"/rivers/{river.json()['river_id']}"), headers=headers)
    assert (await client.delete(f"{path}/{group_id}", headers=headers)).status_code == 204

    unknown_group = dict(body, group_id="b" * 24)
    bad = await client.post(env_path(bootstrap, "/rivers"), json=unknown_group, headers=headers)
    assert bad.status_code == 422 and "group_id" in bad.text
    with sessions() as session:
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.entity_type == "river_group")
        ).all()
    # Events of one request share the (fake) clock's time, so the table has no order among
    # them: compare what was recorded, not the order a scan returns it in.
    assert sorted(actions) == sorted(
        [
            "river_group.created",
            "river_group.renamed",
            "river_group.renamed",
            "river_group.deleted",
        ]
    )


async def test_environment_variables_private_values_masked_and_encrypted(
    client: httpx.AsyncClient,
    make_token: TokenFactory,
    bootstrap: BootstrapResult,
    sessions: sessionmaker[Session],
) -> None:
    headers = make_token()
    path = env_path(bootstrap, "/variables")
    body = {
        "variables": [
            {"name": "region", "value": "eu"},
            {"name": "api_key", "value": SECRET, "is_private": True},
            {"name": "days", "value": [1, 2]},
        ]
    }
    put = await client.put(path, json=body, headers=headers)
    assert put.status_code == 200, put.text
    values = {v["name"]: v["value"] for v in put.json()["items"]}
    assert values == {"region": "eu", "api_key": MASK, "days": [1, 2]}
    assert SECRET not in put.text
    with sessions() as session:
        stored = session.scalars(
            select(EnvironmentVariable).where(EnvironmentVariable.name == "api_key")
        ).one()
        assert SECRET not in str(stored.value)
        ciphertext = stored.value["v"]

    keep = {"variables": [{"name": "api_key", "value": MASK, "is_private": True}]}
    assert (await client.put(path, json=keep, headers=headers)).status_code == 200
    with sessions() as session:
        stored = session.scalars(
            select(EnvironmentVariable).where(EnvironmentVariable.name == "api_key")
        ).one()
        assert stored.value["v"] == ciphertext

    listed = await client.get(path, headers=make_token(["variables:list"]))
    assert SECRET not in listed.text and len(listed.json()["items"]) == 3
    denied = await client.put(path, json=body, headers=make_token(["variables:list"]))
    assert denied.status_code == 403

    deleted = await client.delete(path, params={"name": ["region", "days"]}, headers=headers)
    assert deleted.status_code == 204
    assert [v["name"] for v in (await client.get(path, headers=headers)).json()["items"]] == [
        "api_key"
    ]
    missing = await client.delete(path, params={"name": "nope"}, headers=headers)
    assert missing.status_code == 404


async def test_environments_list_create_admins_only_rename(
    client: httpx.AsyncClient,
    make_token: TokenFactory,
    bootstrap: BootstrapResult,
    sessions: sessionmaker[Session],
) -> None:
    headers = make_token()
    path = f"/v1/accounts/{bootstrap.account_id}/environments"
    listed = (await client.get(path, headers=headers)).json()
    assert [e["name"] for e in listed["items"]] == ["default"]
    assert listed["items"][0]["is_default"] is True

    created = await client.post(path, json={"name": "staging"}, headers=headers)
    assert created.status_code == 201
    env_id = created.json()["environment_id"]
    assert (await client.post(path, json={"name": "staging"}, headers=headers)).status_code == 409

    member = add_user(sessions, bootstrap.account_id, role="member")
    member_headers = mint(sessions, bootstrap.account_id, created_by=member).headers
    forbidden = await client.post(path, json={"name": "mine"}, headers=member_headers)
    assert forbidden.status_code == 403

    renamed = await client.patch(f"{path}/{env_id}", json={"name": "qa"}, headers=headers)
    assert renamed.json()["name"] == "qa"

    restricted = make_token(environment_ids=[bootstrap.environment_id])
    only_default = (await client.get(path, headers=restricted)).json()["items"]
    assert [e["environment_id"] for e in only_default] == [bootstrap.environment_id]
    other = add_environment(sessions, bootstrap.account_id, "hidden")
    assert (await client.get(f"{path}/{other}/rivers", headers=restricted)).status_code == 403
