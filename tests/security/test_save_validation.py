"""Settings that can only fail at run time are refused at save (finding: invalid ``headers``
JSON and an unknown ``auth_type`` were stored and failed only when a run started)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from headwater.services.bootstrap import BootstrapResult
from tests.api.rivers_help import env_path, pg_connection

pytestmark = pytest.mark.anyio

HEADER_SECRET = "hdr-json-secret-0b8e77-never-echoed"


def _http(**properties: Any) -> dict[str, Any]:
    return {
        "connection_name": "api",
        "connection_type": "http",
        "properties": {"base_url": "https://api.example.com", **properties},
    }


async def _refused(
    client: httpx.AsyncClient, boot: BootstrapResult, headers: dict[str, str], body: Any
) -> dict[str, Any]:
    response = await client.post(env_path(boot, "/connections"), json=body, headers=headers)
    assert response.status_code == 422, response.text
    assert HEADER_SECRET not in response.text
    (error,) = response.json()["detail"]
    return dict(error)


@pytest.mark.parametrize(
    "headers_json, problem",
    [
        (f'{{"X-Key": "{HEADER_SECRET}"', "not valid JSON"),
        (f'["{HEADER_SECRET}"]', "JSON object"),
        (f'{{"X Key": "{HEADER_SECRET}"}}', "header name"),
        (f'{{"X-Key": "{HEADER_SECRET}\\r\\nX-Evil: 1"}}', "line break"),
        (f'{{"X-Key": {{"nested": "{HEADER_SECRET}"}}}}', "not text"),
    ],
)
async def test_bad_headers_json_is_422_without_echoing_it(
    client: httpx.AsyncClient,
    bootstrap: BootstrapResult,
    make_token: Any,
    headers_json: str,
    problem: str,
) -> None:
    error = await _refused(client, bootstrap, make_token(), _http(headers=headers_json))
    assert error["loc"] == ["body", "properties", "headers"]
    assert problem in error["msg"]


@pytest.mark.parametrize(
    "body, field",
    [
        (_http(auth_type="bearr", token="t"), "auth_type"),
        (_http(api_key_in="cookie"), "api_key_in"),
        (pg_connection(sslmode="require&host=evil.example"), "sslmode"),
    ],
)
async def test_unknown_choices_are_422_naming_the_field(
    client: httpx.AsyncClient,
    bootstrap: BootstrapResult,
    make_token: Any,
    body: dict[str, Any],
    field: str,
) -> None:
    error = await _refused(client, bootstrap, make_token(), body)
    assert error["loc"] == ["body", "properties", field]
    assert "must be one of" in error["msg"]


async def test_good_headers_and_choices_are_stored(
    client: httpx.AsyncClient, bootstrap: BootstrapResult, make_token: Any
) -> None:
    body = _http(auth_type="Bearer", token="t0ken-value", headers='{"X-Key": "abc", "X-N": 5}')
    response = await client.post(
        env_path(bootstrap, "/connections"), json=body, headers=make_token()
    )
    assert response.status_code == 201, response.text
    assert response.json()["properties"]["auth_type"] == "bearer"
    types = await client.get("/v1/connections_types", headers=make_token())
    assert types.status_code == 200
    listed = types.json()
    items = listed["items"] if isinstance(listed, dict) else listed
    http = next(t for t in items if t["connection_type"] == "http")
    auth_type = next(p for p in http["properties"] if p["name"] == "auth_type")
    assert "oauth2_client_credentials" in auth_type["choices"]


@pytest.mark.parametrize(
    "headers, needle",
    [({"X Bad": "v"}, "header name"), ({"X-Ok": "a\r\nX-Evil: 1"}, "line break")],
)
async def test_action_river_headers_that_cannot_be_sent_are_422(
    client: httpx.AsyncClient,
    bootstrap: BootstrapResult,
    make_token: Any,
    headers: dict[str, str],
    needle: str,
) -> None:
    body = {
        "name": "call",
        "type": "actions",
        "properties": {"request": {"url": "https://api.example.com", "headers": headers}},
    }
    response = await client.post(env_path(bootstrap, "/rivers"), json=body, headers=make_token())
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "properties", "request", "headers"]
    assert needle in error["msg"]


async def test_unknown_action_auth_type_is_422(
    client: httpx.AsyncClient, bootstrap: BootstrapResult, make_token: Any
) -> None:
    body = {
        "name": "call",
        "type": "actions",
        "properties": {
            "request": {"url": "https://api.example.com"},
            "auth": {"type": "bearr", "token": HEADER_SECRET},
        },
    }
    response = await client.post(env_path(bootstrap, "/rivers"), json=body, headers=make_token())
    assert response.status_code == 422, response.text
    assert HEADER_SECRET not in response.text
    assert all(e["loc"][:3] == ["body", "properties", "auth"] for e in response.json()["detail"])
