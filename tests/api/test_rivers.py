"""Source-to-target rivers over the v1 API: the exact wire body, validation, versions, paths."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from headwater.services.bootstrap import BootstrapResult
from headwater.store.models import AuditEvent
from tests.api.rivers_help import create_connection, env_path, locs, s2t_body
from tests.api.tokenhelp import add_account, add_environment, mint

pytestmark = pytest.mark.anyio

TokenFactory = Callable[..., dict[str, str]]


async def _setup(
    client: httpx.AsyncClient, boot: BootstrapResult, headers: dict[str, str]
) -> tuple[str, str]:
    source = await create_connection(client, boot, headers, name="source db")
    target = await create_connection(client, boot, headers, name="target db")
    return source, target


async def test_create_exact_wire_body_and_read_it_under_three_spellings(
    client: httpx.AsyncClient, make_token: TokenFactory, bootstrap: BootstrapResult
) -> None:
    headers = make_token()
    source, target = await _setup(client, bootstrap, headers)
    body = s2t_body(source, target)
    created = await client.post(env_path(bootstrap, "/rivers"), json=body, headers=headers)
    assert created.status_code == 201, created.text
    river = created.json()
    assert river["cross_id"] == river["river_id"] and len(river["river_id"]) == 24
    assert river["type"] == "src_to_trgt"
    assert river["metadata"] == {"description": "copy events", "river_status": "active"}
    assert river["created_at"] and river["updated_at"] and river["version"] == 1
    assert river["settings"]["run_timeout_seconds"] == 3600
    assert river["schedulers"] == body["schedulers"]
    tables = river["properties"]["schemas"][0]["tables"]
    assert tables[1]["details"]["modified_columns"][0] == {
        "name": "id",
        "is_key": True,
        "target_name": None,
        "type": None,
        "is_selected": True,
    }
    assert river["properties"]["target"]["schema_drift"] == "evolve"
    for segment in ("rivers", "data%20flows", "data_flows"):
        got = await client.get(
            env_path(bootstrap, f"/{segment}/{river['river_id']}"), headers=headers
        )
        assert got.status_code == 200, segment
        assert got.json() == river
    via_space = await client.get(env_path(bootstrap, "/data flows"), headers=headers)
    assert via_space.json()["total_items"] == 1


@pytest.mark.parametrize(
    ("change", "expected_loc", "text"),
    [
        (lambda b: b.update(colour="red"), "colour", "Extra inputs"),
        (
            lambda b: b["properties"]["schemas"][0]["tables"][1]["details"].pop("modified_columns"),
            "properties.schemas.0.tables.1.details.modified_columns",
            "merge",
        ),
        (
            lambda b: b["schedulers"][0].update(cron_expression="61 * * * *"),
            "schedulers.0.cron_expression",
            "cron",
        ),
        (
            lambda b: b["properties"]["schemas"][0]["tables"][1]["details"].pop(
                "incremental_field"
            ),
            "properties.schemas.0.tables.1.details",
            "incremental_field",
        ),
        (
            lambda b: b["properties"]["source"].update(connection_id="f" * 24),
            "properties.source.connection_id",
            "not found",
        ),
        (
            lambda b: b["properties"]["target"].update(loading_method="upsert"),
            "properties.target.loading_method",
            "",
        ),
        (
            lambda b: b["properties"]["schemas"][0]["tables"].append(
                {"query": "SELECT 1", "details": {}}
            ),
            "properties.schemas.0.tables.2",
            "target_table",
        ),
    ],
)
async def test_invalid_definitions_are_422_naming_the_field(
    client: httpx.AsyncClient,
    make_token: TokenFactory,
    bootstrap: BootstrapResult,
    change: Callable[[dict[str, Any]], Any],
    expected_loc: str,
    text: str,
) -> None:
    headers = make_token()
    source, target = await _setup(client, bootstrap, headers)
    body = s2t_body(source, target)
    change(body)
    response = await client.post(env_path(bootstrap, "/rivers"), json=body, headers=headers)
    assert expected_loc in locs(response)
    assert text in response.text


async def test_merge_at_target_level_without_keys_is_rejected(
    client: httpx.AsyncClient, make_token: TokenFactory, bootstrap: BootstrapResult
) -> None:
    headers = make_token()
    source, target = await _setup(client, bootstrap, headers)
    body = s2t_body(source, target)
    body["properties"]["target"]["loading_method"] = "merge"
    response = await client.post(env_path(bootstrap, "/rivers"), json=body, headers=headers)
    assert locs(response) == ["properties.schemas.0.tables.0.details.modified_columns"]
    assert "needs key columns" in response.text


async def test_duplicate_name_409_and_replace_versions_restore(
    client: httpx.AsyncClient,
    make_token: TokenFactory,
    bootstrap: BootstrapResult,
    sessions: sessionmaker[Session],
) -> None:
    headers = make_token()
    source, target = await _setup(client, bootstrap, headers)
    body = s2t_body(source, target)
    river = (await client.post(env_path(bootstrap, "/rivers"), json=body, headers=headers)).json()
    duplicate = await client.post(env_path(bootstrap, "/rivers"), json=body, headers=headers)
    assert duplicate.status_code == 409

    path = env_path(bootstrap, f"/rivers/{river['river_id']}")
    changed = dict(river, name="renamed", properties={**river["properties"]})
    changed["properties"]["target"] = {**river["properties"]["target"], "table_prefix": "stg_"}
    replaced = await client.put(path, json=changed, headers=headers)
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["name"] == "renamed" and replaced.json()["version"] == 2

    versions = (await client.get(f"{path}/versions", headers=headers)).json()
    assert [v["version"] for v in versions["items"]] == [2, 1]
    assert versions["items"][1]["change"] == "created"
    assert versions["items"][0]["created_by"]["type"] == "token"
    first = versions["items"][1]["version_id"]
    old = (await client.get(f"{path}/versions/{first}", headers=headers)).json()
    assert old["definition"]["name"] == "events to warehouse"
    assert old["definition"]["properties"]["target"]["table_prefix"] is None

    restored = await client.put(f"{path}/restore", json={"version_id": first}, headers=headers)
    assert restored.status_code == 200, restored.text
    assert restored.json()["name"] == "events to warehouse" and restored.json()["version"] == 3
    after = (await client.get(f"{path}/versions", headers=headers)).json()["items"]
    assert (after[0]["version"], after[0]["change"]) == (3, "restored")
    unknown = await client.put(f"{path}/restore", json={"version_id": "a" * 24}, headers=headers)
    assert unknown.status_code == 404

    with sessions() as session:
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.entity_type == "river")
        ).all()
    assert actions == ["river.created", "river.updated", "river.restored"]


async def test_status_activate_disable_and_delete(
    client: httpx.AsyncClient, make_token: TokenFactory, bootstrap: BootstrapResult
) -> None:
    headers = make_token()
    source, target = await _setup(client, bootstrap, headers)
    river = (
        await client.post(
            env_path(bootstrap, "/rivers"), json=s2t_body(source, target), headers=headers
        )
    ).json()
    path = env_path(bootstrap, f"/data_flows/{river['river_id']}")
    write_only = make_token(["river:write", "river:list"])
    assert (await client.post(f"{path}/disable_river", headers=write_only)).status_code == 403
    disabled = await client.post(f"{path}/disable_river", headers=headers)
    assert disabled.json()["metadata"]["river_status"] == "disabled"
    assert disabled.json()["version"] == 2
    again = await client.post(f"{path}/disable_river", headers=headers)
    assert again.json()["version"] == 2
    active = await client.post(f"{path}/activate_river", headers=headers)
    assert active.json()["metadata"]["river_status"] == "active"

    no_delete = await client.delete(path, headers=make_token(["river:write"]))
    assert no_delete.status_code == 403
    assert (await client.delete(path, headers=headers)).status_code == 204
    assert (await client.get(path, headers=headers)).status_code == 404


async def test_list_filters_and_paging_envelope(
    client: httpx.AsyncClient, make_token: TokenFactory, bootstrap: BootstrapResult
) -> None:
    headers = make_token()
    source, target = await _setup(client, bootstrap, headers)
    group = await client.post(
        env_path(bootstrap, "/river_groups"), json={"name": "core"}, headers=headers
    )
    group_id = group.json()["group_id"]
    for index in range(3):
        body = s2t_body(source, target, name=f"Orders {index}")
        if index == 0:
            body["group_id"] = group_id
        assert (
            await client.post(env_path(bootstrap, "/rivers"), json=body, headers=headers)
        ).status_code == 201
    other = s2t_body(source, target, name="customers")
    await client.post(env_path(bootstrap, "/rivers"), json=other, headers=headers)

    page = await client.get(
        env_path(bootstrap, "/rivers"),
        params={"name": "ORDERS", "items_per_page": 2},
        headers=headers,
    )
    envelope = page.json()
    assert [r["name"] for r in envelope["items"]] == ["Orders 0", "Orders 1"]
    assert envelope["total_items"] == 3 and envelope["current_page_size"] == 2
    assert envelope["account_id"] == bootstrap.account_id
    assert envelope["environment_id"] == bootstrap.environment_id
    assert envelope["previous_page"] is None
    assert envelope["next_page"].startswith("http://testserver/v1/accounts/")
    assert "name=ORDERS" in envelope["next_page"] and "page=2" in envelope["next_page"]
    second = await client.get(envelope["next_page"], headers=headers)
    assert [r["name"] for r in second.json()["items"]] == ["Orders 2"]
    assert second.json()["next_page"] is None and second.json()["previous_page"]

    grouped = await client.get(
        env_path(bootstrap, "/rivers"), params={"group_id": group_id}, headers=headers
    )
    assert [r["name"] for r in grouped.json()["items"]] == ["Orders 0"]
    typed = await client.get(
        env_path(bootstrap, "/rivers"), params={"river_type": "logic"}, headers=headers
    )
    assert typed.json()["total_items"] == 0
    s2t = await client.get(
        env_path(bootstrap, "/rivers"), params={"river_type": "source_to_target"}, headers=headers
    )
    assert s2t.json()["total_items"] == 4


async def test_river_variables_get_put_make_a_version(
    client: httpx.AsyncClient, make_token: TokenFactory, bootstrap: BootstrapResult
) -> None:
    headers = make_token()
    source, target = await _setup(client, bootstrap, headers)
    river = (
        await client.post(
            env_path(bootstrap, "/rivers"), json=s2t_body(source, target), headers=headers
        )
    ).json()
    path = env_path(bootstrap, f"/rivers/{river['river_id']}/variables")
    assert (await client.get(path, headers=headers)).json() == {"variables": {}}
    put = await client.put(
        path, json={"variables": {"days": 3, "regions": ["eu", "us"]}}, headers=headers
    )
    assert put.status_code == 200, put.text
    assert (await client.get(path, headers=headers)).json()["variables"]["regions"] == ["eu", "us"]
    bad = await client.put(path, json={"variables": {"1bad": 1}}, headers=headers)
    assert bad.status_code == 422
    denied = await client.put(path, json={"variables": {}}, headers=make_token(["variables:list"]))
    assert denied.status_code == 403
    river_after = await client.get(
        env_path(bootstrap, f"/rivers/{river['river_id']}"), headers=headers
    )
    assert river_after.json()["version"] == 2


async def test_other_account_and_other_environment_answer_404(
    client: httpx.AsyncClient,
    make_token: TokenFactory,
    bootstrap: BootstrapResult,
    sessions: sessionmaker[Session],
) -> None:
    headers = make_token()
    source, target = await _setup(client, bootstrap, headers)
    river = (
        await client.post(
            env_path(bootstrap, "/rivers"), json=s2t_body(source, target), headers=headers
        )
    ).json()
    other = add_account(sessions)
    other_headers = mint(sessions, other.account_id, created_by=other.admin_id).headers
    base = f"/v1/accounts/{other.account_id}/environments/{other.environment_id}"
    assert (
        await client.get(f"{base}/rivers/{river['river_id']}", headers=other_headers)
    ).status_code == 404
    foreign = await client.get(
        env_path(bootstrap, f"/rivers/{river['river_id']}"), headers=other_headers
    )
    assert foreign.status_code == 404

    staging = add_environment(sessions, bootstrap.account_id, "staging")
    staging_path = f"/v1/accounts/{bootstrap.account_id}/environments/{staging}"
    assert (
        await client.get(f"{staging_path}/rivers/{river['river_id']}", headers=headers)
    ).status_code == 404
    # a river in staging cannot use the default environment's connections
    cross = await client.post(
        f"{staging_path}/rivers", json=s2t_body(source, target), headers=headers
    )
    assert "properties.source.connection_id" in locs(cross)
