"""Helpers for connection and river API tests: paths and ready-made bodies."""

from __future__ import annotations

from typing import Any

import httpx

from headwater.services.bootstrap import BootstrapResult

SECRET = "s3cr3t-Pa55word-never-shown"


def env_path(boot: BootstrapResult, suffix: str = "") -> str:
    return f"/v1/accounts/{boot.account_id}/environments/{boot.environment_id}{suffix}"


def pg_connection(name: str = "warehouse", password: str = SECRET, **extra: Any) -> dict[str, Any]:
    return {
        "connection_name": name,
        "connection_type": "postgres",
        "properties": {
            "host": "127.0.0.1",
            "port": 5432,
            "database": "dst",
            "username": "postgres",
            "password": password,
            **extra,
        },
    }


async def create_connection(
    client: httpx.AsyncClient, boot: BootstrapResult, headers: dict[str, str], **kwargs: Any
) -> str:
    response = await client.post(
        env_path(boot, "/connections"), json=pg_connection(**kwargs), headers=headers
    )
    assert response.status_code == 201, response.text
    return str(response.json()["connection_id"])


def s2t_body(source_id: str, target_id: str, name: str = "events to warehouse") -> dict[str, Any]:
    """The exact source-to-target body of the wire reference."""
    return {
        "name": name,
        "type": "source_to_target",
        "metadata": {"description": "copy events"},
        "settings": {"run_timeout_seconds": 3600},
        "schedulers": [{"cron_expression": "0 * * * *", "is_enabled": False}],
        "properties": {
            "source": {"connection_id": source_id, "run_type": "multi_tables"},
            "target": {
                "connection_id": target_id,
                "schema_name": "public",
                "loading_method": "overwrite",
            },
            "schemas": [
                {
                    "name": "public",
                    "tables": [
                        {
                            "name": "events",
                            "details": {
                                "is_selected": True,
                                "target_table": "events_copy",
                                "extract_method": "all",
                            },
                        },
                        {
                            "name": "orders",
                            "details": {
                                "is_selected": True,
                                "target_table": "orders",
                                "extract_method": "incremental",
                                "incremental_field": "updated_at",
                                "incremental_type": "timestamp",
                                "loading_method": "merge",
                                "modified_columns": [{"name": "id", "is_key": True}],
                            },
                        },
                    ],
                }
            ],
        },
    }


def logic_body(
    connection_id: str, river_id: str | None = None, name: str = "nightly"
) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [
        {
            "type": "sql",
            "name": "regions",
            "connection_id": connection_id,
            "sql": "SELECT region FROM regions WHERE day = '{run_date}'",
            "target_variable": "regions",
        },
        {
            "type": "loop",
            "name": "per region",
            "variable": "regions",
            "item_variable": "region",
            "steps": [
                {
                    "type": "sql",
                    "name": "aggregate",
                    "connection_id": connection_id,
                    "sql": "INSERT INTO daily SELECT * FROM raw WHERE region = '{region}'",
                }
            ],
        },
    ]
    if river_id is not None:
        steps.append({"type": "river", "name": "copy", "river_id": river_id})
    return {"name": name, "type": "logic", "properties": {"steps": steps}}


def action_body(token: str = SECRET, name: str = "ping api") -> dict[str, Any]:
    return {
        "name": name,
        "type": "actions",
        "variables": {"base": {"value": "https://api.example.com", "raw": True}},
        "properties": {
            "request": {
                "method": "POST",
                "url": "{base}/v1/items?day={run_date}",
                "headers": {"Accept": "application/json"},
                "body": {"type": "json", "content": {"region": "{base}"}},
            },
            "auth": {"type": "bearer", "token": token},
            "pagination": {"type": "page", "page_param": "page"},
            "response": {"variables": [{"name": "item_id", "path": "$.items[0].id"}]},
        },
    }


def locs(response: httpx.Response) -> list[str]:
    """The dotted locations of a 422 body, without the leading ``body``."""
    assert response.status_code == 422, response.text
    found = []
    for error in response.json()["detail"]:
        parts = [str(p) for p in error["loc"]]
        found.append(".".join(parts[1:] if parts and parts[0] == "body" else parts))
    return found
