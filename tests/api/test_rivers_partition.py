"""``details.partition_by`` in the river body: stored for an Iceberg target; a malformed
transform, a target that cannot partition, and an unselected partition column are each a 422
naming the field (the same checks the console's save goes through); a Delta target takes
column names only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from headwater.services.bootstrap import BootstrapResult
from tests.api.rivers_help import create_connection, env_path, locs, s2t_body

TokenFactory = Callable[..., dict[str, str]]

pytestmark = pytest.mark.anyio

LOC = "properties.schemas.0.tables.0.details.partition_by"


async def _lake(
    client: httpx.AsyncClient, boot: BootstrapResult, headers: Any, kind: str = "iceberg"
) -> str:
    props: dict[str, Any] = {"root": "s3://lake/delta"}
    if kind == "iceberg":
        props = {
            "catalog_type": "rest",
            "catalog_uri": "http://127.0.0.1:9/catalog",
            "warehouse": "s3://lake/warehouse",
        }
    body = {"connection_name": kind, "connection_type": kind, "properties": props}
    response = await client.post(env_path(boot, "/connections"), json=body, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["connection_id"])


def _body(source: str, target: str, details: dict[str, Any], name: str) -> dict[str, Any]:
    body = s2t_body(source, target, name=name)
    body["properties"]["schemas"][0]["tables"] = [{"name": "events", "details": details}]
    return body


async def test_partition_by_is_stored_and_checked_at_save(
    client: httpx.AsyncClient, make_token: TokenFactory, bootstrap: BootstrapResult
) -> None:
    headers = make_token()
    rivers = env_path(bootstrap, "/rivers")
    source = await create_connection(client, bootstrap, headers, name="pg source")
    lake = await _lake(client, bootstrap, headers)
    fields = ["day(created_at)", "bucket(4, id)", "country"]

    created = await client.post(
        rivers, json=_body(source, lake, {"partition_by": fields}, "ok"), headers=headers
    )
    assert created.status_code == 201, created.text
    stored = created.json()["properties"]["schemas"][0]["tables"][0]["details"]
    assert stored["partition_by"] == fields

    for bad in ("bucket(x, id)", "week(created_at)", "day()", "bucket(0, id)"):
        refused = await client.post(
            rivers, json=_body(source, lake, {"partition_by": [bad]}, "bad"), headers=headers
        )
        assert locs(refused) == [f"{LOC}.0"], bad
        assert "bucket(N, col)" in refused.text and bad in refused.text

    postgres = await create_connection(client, bootstrap, headers, name="pg target")
    refused = await client.post(
        rivers, json=_body(source, postgres, {"partition_by": ["id"]}, "pg"), headers=headers
    )
    assert locs(refused) == [LOC]
    assert "can partition tables (Iceberg, or Delta by column), not postgres" in refused.text

    unselected = {
        "partition_by": ["day(created_at)"],
        "modified_columns": [{"name": "created_at", "is_selected": False}],
    }
    refused = await client.post(
        rivers, json=_body(source, lake, unselected, "unselected"), headers=headers
    )
    assert locs(refused) == [LOC]
    assert "partition column 'created_at' is not selected" in refused.text

    delta = await _lake(client, bootstrap, headers, "delta")
    created = await client.post(
        rivers, json=_body(source, delta, {"partition_by": ["country"]}, "d"), headers=headers
    )
    assert created.status_code == 201, created.text
    refused = await client.post(
        rivers, json=_body(source, delta, {"partition_by": fields}, "d2"), headers=headers
    )
    assert locs(refused) == [LOC]
    assert (
        "column names only, not transforms: 'day(created_at)', 'bucket(4, id)'"
        in (refused.json()["detail"][0]["msg"])
    )
