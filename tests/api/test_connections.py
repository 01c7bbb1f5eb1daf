"""Connections: catalogue, CRUD, per-type validation, secrets at rest, real tests, guards."""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from headwater.security.crypto import MASK
from headwater.services.bootstrap import BootstrapResult
from headwater.store.models import AuditEvent, Connection
from tests._services import require_service
from tests.api.rivers_help import SECRET, create_connection, env_path, locs, pg_connection
from tests.api.tokenhelp import add_account, mint

pytestmark = pytest.mark.anyio

TokenFactory = Callable[..., dict[str, str]]


async def test_catalogue_lists_types_roles_and_secret_properties(
    client: httpx.AsyncClient, make_token: TokenFactory
) -> None:
    headers = make_token(["connection:list"])
    response = await client.get("/v1/connections_types", headers=headers)
    assert response.status_code == 200
    types = {t["connection_type"]: t for t in response.json()["items"]}
    assert {"postgres", "mysql", "sqlite", "duckdb"} <= set(types)
    postgres = types["postgres"]
    assert postgres["is_source"] and postgres["is_target"]
    props = {p["name"]: p for p in postgres["properties"]}
    assert props["password"]["secret"] is True and props["host"]["secret"] is False
    assert props["port"]["type"] == "integer"
    sources = (await client.get("/v1/data_source_types", headers=headers)).json()["items"]
    targets = (await client.get("/v1/target_types", headers=headers)).json()["items"]
    assert all("source" in t["roles"] for t in sources)
    assert all("target" in t["roles"] for t in targets)
    denied = await client.get("/v1/connections_types", headers=make_token(["river:list"]))
    assert denied.status_code == 403


async def test_crud_masks_secret_and_keeps_it_when_mask_is_sent_back(
    client: httpx.AsyncClient,
    make_token: TokenFactory,
    bootstrap: BootstrapResult,
    sessions: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    headers = make_token()
    created = await client.post(
        env_path(bootstrap, "/connections"), json=pg_connection(), headers=headers
    )
    assert created.status_code == 201
    body = created.json()
    assert body["properties"]["password"] == MASK
    assert body["cross_id"] == body["connection_id"]
    connection_id = body["connection_id"]
    with sessions() as session:
        row = session.get_one(Connection, connection_id)
        assert SECRET not in str(row.secrets) and SECRET not in str(row.properties)
        assert row.secrets["password"].startswith("hwenc:v1:")
        stored_ciphertext = row.secrets["password"]

    listed = await client.get(env_path(bootstrap, "/connections"), headers=headers)
    assert [c["connection_name"] for c in listed.json()["items"]] == ["warehouse"]

    update = dict(body, properties={**body["properties"], "host": "db.internal"})
    replaced = await client.put(
        env_path(bootstrap, f"/connections/{connection_id}"), json=update, headers=headers
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["properties"]["host"] == "db.internal"
    with sessions() as session:
        assert session.get_one(Connection, connection_id).secrets["password"] == stored_ciphertext

    fetched = await client.get(
        env_path(bootstrap, f"/connections/{connection_id}"), headers=headers
    )
    assert fetched.json()["properties"]["password"] == MASK

    deleted = await client.delete(
        env_path(bootstrap, f"/connections/{connection_id}"), headers=headers
    )
    assert deleted.status_code == 204
    gone = await client.get(env_path(bootstrap, f"/connections/{connection_id}"), headers=headers)
    assert gone.status_code == 404

    with sessions() as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.entity_type == "connection")
        ).all()
        assert [e.action for e in events] == [
            "connection.created",
            "connection.updated",
            "connection.deleted",
        ]
        assert events[1].details["properties"] == ["host"]
        assert all(SECRET not in str(e.details) for e in events)
    assert SECRET not in caplog.text
    for response in (created, listed, replaced, fetched):
        assert SECRET not in response.text


async def test_property_validation_names_each_field(
    client: httpx.AsyncClient, make_token: TokenFactory, bootstrap: BootstrapResult
) -> None:
    headers = make_token()
    path = env_path(bootstrap, "/connections")
    body = pg_connection()
    body["properties"].update(port="not-a-port", colour="blue")
    del body["properties"]["database"]
    response = await client.post(path, json=body, headers=headers)
    assert sorted(locs(response)) == ["properties.colour", "properties.database", "properties.port"]
    messages = {e["loc"][-1]: e["msg"] for e in response.json()["detail"]}
    assert "integer" in messages["port"] and "required" in messages["database"]
    assert SECRET not in response.text

    wrong_type = await client.post(
        path, json={**pg_connection(), "connection_type": "oracle"}, headers=headers
    )
    assert locs(wrong_type) == ["connection_type"]

    missing_name = await client.post(
        path,
        json={"connection_type": "postgres", "properties": {"password": SECRET}},
        headers=headers,
    )
    assert locs(missing_name) == ["connection_name"]
    assert SECRET not in missing_name.text

    unknown_field = await client.post(path, json={**pg_connection(), "extra": 1}, headers=headers)
    assert locs(unknown_field) == ["extra"]

    mask_without_value = await client.post(path, json=pg_connection(password=MASK), headers=headers)
    assert locs(mask_without_value) == ["properties.password"]


async def test_duplicate_name_is_409(
    client: httpx.AsyncClient, make_token: TokenFactory, bootstrap: BootstrapResult
) -> None:
    headers = make_token()
    await create_connection(client, bootstrap, headers)
    again = await client.post(
        env_path(bootstrap, "/connections"), json=pg_connection(), headers=headers
    )
    assert again.status_code == 409
    assert "warehouse" in again.json()["detail"]


async def test_connection_in_use_cannot_be_deleted(
    client: httpx.AsyncClient, make_token: TokenFactory, bootstrap: BootstrapResult
) -> None:
    headers = make_token()
    connection_id = await create_connection(client, bootstrap, headers)
    river = {
        "name": "uses it",
        "type": "logic",
        "properties": {
            "steps": [{"type": "sql", "connection_id": connection_id, "sql": "SELECT 1"}]
        },
    }
    created = await client.post(env_path(bootstrap, "/rivers"), json=river, headers=headers)
    assert created.status_code == 201, created.text
    refused = await client.delete(
        env_path(bootstrap, f"/connections/{connection_id}"), headers=headers
    )
    assert refused.status_code == 409
    assert "uses it" in refused.json()["detail"]


async def test_other_account_and_environment_get_404(
    client: httpx.AsyncClient,
    make_token: TokenFactory,
    bootstrap: BootstrapResult,
    sessions: sessionmaker[Session],
) -> None:
    connection_id = await create_connection(client, bootstrap, make_token())
    other = add_account(sessions)
    other_headers = mint(sessions, other.account_id, created_by=other.admin_id).headers
    own_path = f"/v1/accounts/{other.account_id}/environments/{other.environment_id}"
    response = await client.get(f"{own_path}/connections/{connection_id}", headers=other_headers)
    assert response.status_code == 404
    foreign = await client.get(
        env_path(bootstrap, f"/connections/{connection_id}"), headers=other_headers
    )
    assert foreign.status_code == 404

    from tests.api.tokenhelp import add_environment

    second_env = add_environment(sessions, bootstrap.account_id, "staging")
    same_account = await client.get(
        f"/v1/accounts/{bootstrap.account_id}/environments/{second_env}/connections/{connection_id}",
        headers=make_token(),
    )
    assert same_account.status_code == 404


async def test_connection_test_against_real_postgres(
    client: httpx.AsyncClient, make_token: TokenFactory, bootstrap: BootstrapResult
) -> None:
    require_service("postgres")
    headers = make_token()
    good = await create_connection(
        client, bootstrap, headers, name="pg ok", password="", database="postgres"
    )
    ok = await client.post(env_path(bootstrap, f"/connections/{good}/test"), headers=headers)
    assert ok.status_code == 200
    assert ok.json() == {"ok": True, "message": None}

    missing_db = await create_connection(
        client, bootstrap, headers, name="pg bad db", database="no_such_database_hw"
    )
    bad = await client.post(env_path(bootstrap, f"/connections/{missing_db}/test"), headers=headers)
    assert bad.json()["ok"] is False
    assert "no_such_database_hw" in bad.json()["message"]
    assert SECRET not in bad.text

    bad_port = await create_connection(client, bootstrap, headers, name="pg bad port", port=1)
    refused = await client.post(
        env_path(bootstrap, f"/connections/{bad_port}/test"), headers=headers
    )
    assert refused.json()["ok"] is False and refused.json()["message"]

    bad_user = await create_connection(
        client, bootstrap, headers, name="pg bad user", database="postgres", username="nobody_hw"
    )
    denied = await client.post(
        env_path(bootstrap, f"/connections/{bad_user}/test"), headers=headers
    )
    assert denied.json()["ok"] is False
    assert "nobody_hw" in denied.json()["message"]
