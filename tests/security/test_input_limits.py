"""Hostile request input gets a 4xx in the one error shape, never a 500 (findings of the
fresh-install attack): deep JSON, non-finite numbers, control characters, and 422 answers that
echoed a non-JSON body with its password."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from headwater.api.input_guard import MAX_JSON_DEPTH, json_body_problem, json_depth_exceeds
from headwater.services.bootstrap import BootstrapResult
from tests.api.rivers_help import env_path

pytestmark = pytest.mark.anyio

DEEP = b"[" * 4096
LEGACY = [
    ("POST", "/api/run"),
    ("PUT", "/api/rivers/modify"),
    ("PATCH", "/api/rivers/modify"),
    ("POST", "/api/rivers/list"),
    ("PUT", "/api/river_groups"),
    ("DELETE", "/api/river_groups"),
    ("GET", "/api/river_groups"),
]
PASSWORD = "hunter2-Pa55word-in-a-form"


def _no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"


@pytest.mark.parametrize("method, path", LEGACY)
async def test_deep_json_on_legacy_routes_is_400_without_token(
    client: httpx.AsyncClient, method: str, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    for content_type in ("application/json", "text/plain", ""):
        headers = {"content-type": content_type} if content_type else {}
        response = await client.request(method, path, content=DEEP, headers=headers)
        assert response.status_code == 400, response.text
        assert "deeper than" in response.json()["detail"]
    _no_traceback(caplog)


async def test_deep_json_on_v1_routes_is_400(
    client: httpx.AsyncClient,
    bootstrap: BootstrapResult,
    make_token: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    headers = make_token()
    for suffix in ("/rivers", "/connections", "/variables"):
        response = await client.post(
            env_path(bootstrap, suffix),
            content=b'{"name": ' + b"[" * 3000 + b"]" * 3000 + b"}",
            headers={**headers, "content-type": "application/json"},
        )
        assert response.status_code == 400, response.text
    _no_traceback(caplog)


async def test_depth_at_the_limit_is_not_refused(client: httpx.AsyncClient) -> None:
    nested = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    # reaches the route (no token: 401), so the guard let it through
    assert (await client.post("/api/run", content=nested)).status_code == 401
    assert not json_depth_exceeds(b'{"a": "' + b"[" * 500 + b'"}')  # brackets inside a string


@pytest.mark.parametrize("number", ["1e999", "-1e999", "NaN", "Infinity", "-Infinity"])
async def test_non_finite_numbers_are_422_naming_the_field(
    client: httpx.AsyncClient,
    bootstrap: BootstrapResult,
    make_token: Any,
    number: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = (
        '{"name": "n", "type": "actions", "properties": {"request": {"url": "http://x"},'
        f' "timeout_seconds": {number}}}}}'
    )
    response = await client.post(
        env_path(bootstrap, "/rivers"),
        content=body,
        headers={**make_token(), "content-type": "application/json"},
    )
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "properties", "timeout_seconds"]
    assert "finite" in error["msg"]
    # legacy and unauthenticated too
    legacy = await client.post("/api/run", content=f'{{"river_id": {number}}}')
    assert legacy.status_code == 422
    assert legacy.json()["detail"][0]["loc"] == ["body", "river_id"]
    _no_traceback(caplog)


def test_a_huge_exponent_inside_a_string_is_not_a_number() -> None:
    assert json_body_problem(b'{"sql": "select 1e999, \'NaN\'"}') is None
    assert json_body_problem(b'{"a": [1, {"b": 2e400}]}') == (
        ["a", 1, "b"],
        "must be a finite number (NaN, Infinity and numbers out of range are refused)",
    )


@pytest.mark.parametrize(
    "content_type, content",
    [
        ("text/plain", f'{{"connection_name": "c", "password": "{PASSWORD}"}}x'),
        ("application/x-www-form-urlencoded", f"connection_name=c&password={PASSWORD}"),
        ("text/plain", f"password={PASSWORD}"),
    ],
)
async def test_422_never_echoes_a_body_that_is_not_json(
    client: httpx.AsyncClient,
    bootstrap: BootstrapResult,
    make_token: Any,
    content_type: str,
    content: str,
) -> None:
    for path in ("/rivers", "/variables", "/connections"):
        response = await client.post(
            env_path(bootstrap, path),
            content=content,
            headers={**make_token(), "content-type": content_type},
        )
        assert 400 <= response.status_code < 500, response.text
        assert PASSWORD not in response.text
        assert "hunter2" not in response.text


async def test_multipart_body_is_not_echoed(
    client: httpx.AsyncClient, bootstrap: BootstrapResult, make_token: Any
) -> None:
    response = await client.post(
        env_path(bootstrap, "/rivers"),
        files={"password": ("p.txt", PASSWORD.encode())},
        headers=make_token(),
    )
    assert response.status_code in {400, 422}, response.text
    assert PASSWORD not in response.text


async def test_validation_errors_never_echo_input(
    client: httpx.AsyncClient, bootstrap: BootstrapResult, make_token: Any
) -> None:
    response = await client.post(
        env_path(bootstrap, "/rivers"),
        json={"name": PASSWORD, "type": "actions", "properties": {"request": {"url": 5}}},
        headers=make_token(),
    )
    assert response.status_code == 422
    assert all(e["input"] is None for e in response.json()["detail"])
    assert PASSWORD not in response.text


@pytest.mark.parametrize(
    "field, value",
    [("name", "river\u0000name"), ("name", "tab\u0007bell")],
)
async def test_control_characters_in_json_are_422_naming_the_field(
    client: httpx.AsyncClient,
    bootstrap: BootstrapResult,
    make_token: Any,
    field: str,
    value: str,
) -> None:
    response = await client.post(
        env_path(bootstrap, "/connections"),
        json={"connection_name": "c", "connection_type": "http", "properties": {field: value}},
        headers=make_token(),
    )
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "properties", field]
    assert "control character" in error["msg"]


async def test_nul_in_query_form_and_path_is_refused(
    client: httpx.AsyncClient, bootstrap: BootstrapResult, make_token: Any
) -> None:
    query = await client.get(env_path(bootstrap, "/rivers?river_name=a%00b"), headers=make_token())
    assert query.status_code == 422
    assert query.json()["detail"][0]["loc"] == ["query", "river_name"]
    path = await client.get(env_path(bootstrap, "/rivers/abc%00def"), headers=make_token())
    assert path.status_code == 400
    assert "NUL" in path.json()["detail"]
    form = await client.post(
        "/console/login",
        content="email=a%00b@example.com&password=x",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert form.status_code == 422
    assert form.json()["detail"][0]["loc"] == ["body", "email"]


async def test_free_text_keeps_tabs_and_newlines(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    # reaches the route (no token: 401)
    response = await client.post("/api/run", json={"river_id": "a\tb\r\nc"})
    assert response.status_code == 401
