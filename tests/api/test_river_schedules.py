"""Every API path that saves a schedule refuses a cron that never fires with a 422 naming the
field: v1 create and update, and the legacy ``/api/rivers/modify`` (rivery-cli)."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from headwater.services.bootstrap import BootstrapResult
from tests.api.rivers_help import create_connection, env_path, logic_body

pytestmark = pytest.mark.anyio


async def test_v1_and_legacy_refuse_31_february(
    client: httpx.AsyncClient,
    make_token: Callable[..., dict[str, str]],
    bootstrap: BootstrapResult,
) -> None:
    headers = make_token()
    connection = await create_connection(client, bootstrap, headers)
    body = logic_body(connection)
    body["schedulers"] = [{"cron_expression": "0 0 31 2 *", "is_enabled": True}]
    created = await client.post(env_path(bootstrap, "/rivers"), json=body, headers=headers)
    assert created.status_code == 422, created.text
    assert "cron_expression" in created.text and "never fires" in created.text

    body["schedulers"] = [{"cron_expression": "0 6 * * *", "is_enabled": True}]
    created = await client.post(env_path(bootstrap, "/rivers"), json=body, headers=headers)
    assert created.status_code == 201, created.text
    river_id = created.json()["river_id"]
    body["schedulers"] = [{"cron_expression": "0 0 30 2 *", "is_enabled": True}]
    updated = await client.put(
        env_path(bootstrap, f"/rivers/{river_id}"), json=body, headers=headers
    )
    assert updated.status_code == 422 and "never fires" in updated.text

    legacy = {
        "river_definitions": {"river_name": "legacy feb", "river_type": "logic"},
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
                "schedule": {"isEnabled": True, "cronExp": "0 0 0 31 2 ?"},
            }
        ],
    }
    response = await client.put(
        "/api/rivers/modify", content=json.dumps(legacy).encode(), headers=headers
    )
    assert response.status_code == 422, response.text
    assert "cron_expression" in response.text and "never fires" in response.text
