"""The generated Postman collection: every OpenAPI operation, variables, auth, CLI output."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from headwater.cli.main import app as cli_app
from headwater.services.postman import SCHEMA_URL

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("backend", ["sqlite"])]

METHODS = {"get", "post", "put", "patch", "delete"}


def operations(openapi: dict[str, Any]) -> set[tuple[str, str]]:
    """(METHOD, path with {{var}} placeholders) of every documented operation."""
    return {
        (method.upper(), re.sub(r"\{([^}]+)\}", r"{{\1}}", path))
        for path, item in openapi["paths"].items()
        for method in item
        if method in METHODS
    }


def requests_of(collection: dict[str, Any]) -> set[tuple[str, str]]:
    found = set()
    for folder in collection["item"]:
        for item in folder["item"]:
            url = item["request"]["url"]
            assert url["host"] == ["{{base-url}}"]
            assert url["raw"].startswith("{{base-url}}/")
            found.add((item["request"]["method"], "/" + "/".join(url["path"])))
    return found


async def test_collection_covers_every_openapi_operation(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    response = await client.get("/v1/postman_collection")  # public: no token
    assert response.status_code == 200
    collection = response.json()
    assert collection["info"]["schema"] == SCHEMA_URL
    expected = operations(app.openapi())
    assert ("GET", "/v1/accounts/{{account_id}}/environments/{{environment_id}}/activities") in (
        expected
    )
    assert requests_of(collection) == expected
    assert collection["auth"] == {
        "type": "bearer",
        "bearer": [{"key": "token", "value": "{{access_token}}", "type": "string"}],
    }
    variables = {v["key"]: v["value"] for v in collection["variable"]}
    assert variables["base-url"] == "http://testserver"
    assert {"account_id", "environment_id", "river_id", "run_id", "access_token"} <= set(variables)
    tags = {
        tag
        for item in app.openapi()["paths"].values()
        for op in item.values()
        for tag in op.get("tags", [])
    }
    assert {folder["name"] for folder in collection["item"]} == tags

    folder = next(f for f in collection["item"] if f["name"] == "activities")
    rollup = next(i for i in folder["item"] if i["request"]["url"]["path"][-1] == "activities")
    query = {q["key"]: q for q in rollup["request"]["url"]["query"]}
    assert query["start_time"]["value"] == "{{start_date}}"
    assert "disabled" not in query["start_time"]
    assert query["status"]["disabled"] is True and query["return_last_runs"]["disabled"] is True

    # ``headwater postman`` prints the same collection (building the document needs no DB)
    result = CliRunner().invoke(cli_app, ["postman", "--base-url", "https://hw.example.com/"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert {v["key"]: v["value"] for v in printed["variable"]}["base-url"] == (
        "https://hw.example.com"
    )
    assert requests_of(printed) == expected
