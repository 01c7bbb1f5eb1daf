"""The ``cdc`` extract method in the river body: keys default to the primary key, a custom
query is refused naming the field, and the river-wide ``source.cdc`` settings round-trip."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from headwater.services.bootstrap import BootstrapResult
from tests.api.rivers_help import create_connection, env_path, locs, s2t_body

TokenFactory = Callable[..., dict[str, str]]

pytestmark = pytest.mark.anyio


async def test_cdc_tables_merge_on_the_primary_key_and_refuse_queries(
    client: httpx.AsyncClient, make_token: TokenFactory, bootstrap: BootstrapResult
) -> None:
    headers = make_token()
    source = await create_connection(client, bootstrap, headers, name="cdc source")
    target = await create_connection(client, bootstrap, headers, name="cdc target")
    body = s2t_body(source, target, name="orders cdc")
    body["properties"]["source"]["cdc"] = {"mode": "continuous", "on_disable": "drop"}
    body["properties"]["target"]["loading_method"] = "merge"
    body["properties"]["schemas"][0]["tables"] = [
        {"name": "orders", "details": {"extract_method": "cdc", "cdc_deletes": "soft"}}
    ]
    created = await client.post(env_path(bootstrap, "/rivers"), json=body, headers=headers)
    assert created.status_code == 201, created.text
    stored = created.json()["properties"]
    assert stored["source"]["cdc"]["mode"] == "continuous"
    assert stored["schemas"][0]["tables"][0]["details"]["cdc_deletes"] == "soft"

    body["name"] = "query cdc"
    body["properties"]["schemas"][0]["tables"] = [
        {"query": "SELECT 1", "details": {"extract_method": "cdc", "target_table": "one"}}
    ]
    refused = await client.post(env_path(bootstrap, "/rivers"), json=body, headers=headers)
    assert refused.status_code == 422
    assert locs(refused) == ["properties.schemas.0.tables.0.query"]
    assert "cdc" in refused.text
