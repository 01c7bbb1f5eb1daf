"""Names: no control characters, and no two names in one scope that differ only in letter case
or Unicode form (findings: NUL accepted in names, e-mails and URLs; ``Orders``/``orders`` and
composed/decomposed ``café`` coexisted)."""

from __future__ import annotations

import unicodedata
from typing import Any

import httpx
import pytest

from headwater.services.bootstrap import BootstrapResult
from headwater.services.names import name_key
from tests.api.rivers_help import env_path, pg_connection

pytestmark = pytest.mark.anyio

COMPOSED = unicodedata.normalize("NFC", "café orders")
DECOMPOSED = unicodedata.normalize("NFD", "café orders")
FULL_WIDTH = "ＯＲＤＥＲＳ"  # noqa: RUF001 - the look-alike is the point


def _river(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "type": "actions",
        "properties": {"request": {"url": "https://api.example.com/x"}},
    }


def test_the_comparison_key() -> None:
    assert COMPOSED != DECOMPOSED
    assert name_key(COMPOSED) == name_key(DECOMPOSED)
    assert name_key("Orders") == name_key("orders") == name_key(FULL_WIDTH)
    assert name_key("Straße") == name_key("STRASSE")
    assert name_key("orders") != name_key("order")


@pytest.mark.parametrize(
    "first, second",
    [("Orders", "orders"), (COMPOSED, DECOMPOSED), ("orders", FULL_WIDTH)],
)
async def test_rivers_connections_groups_and_environments_are_unique_up_to_case(
    client: httpx.AsyncClient,
    bootstrap: BootstrapResult,
    make_token: Any,
    first: str,
    second: str,
) -> None:
    headers = make_token()
    cases = [
        ("/rivers", _river),
        ("/connections", lambda n: pg_connection(name=n)),
        ("/river_groups", lambda n: {"name": n}),
    ]
    for path, body in cases:
        created = await client.post(env_path(bootstrap, path), json=body(first), headers=headers)
        assert created.status_code == 201, (path, created.text)
        clash = await client.post(env_path(bootstrap, path), json=body(second), headers=headers)
        assert clash.status_code == 409, (path, clash.text)
        assert "already exists" in clash.json()["detail"]
    environments = f"/v1/accounts/{bootstrap.account_id}/environments"
    made = await client.post(environments, json={"name": first}, headers=headers)
    assert made.status_code == 201, made.text
    again = await client.post(environments, json={"name": second}, headers=headers)
    assert again.status_code == 409, again.text


async def test_a_rename_to_a_look_alike_is_refused_but_a_case_change_of_itself_is_not(
    client: httpx.AsyncClient, bootstrap: BootstrapResult, make_token: Any
) -> None:
    headers = make_token()
    first = await client.post(env_path(bootstrap, "/rivers"), json=_river("alpha"), headers=headers)
    second = await client.post(env_path(bootstrap, "/rivers"), json=_river("beta"), headers=headers)
    beta = second.json()["river_id"]
    assert first.status_code == second.status_code == 201
    renamed = await client.put(
        env_path(bootstrap, f"/rivers/{beta}"), json=_river("ALPHA"), headers=headers
    )
    assert renamed.status_code == 409
    assert "letter case or Unicode form" in renamed.json()["detail"]
    own = await client.put(
        env_path(bootstrap, f"/rivers/{beta}"), json=_river("BETA"), headers=headers
    )
    assert own.status_code == 200, own.text


async def test_names_are_stored_in_nfc(
    client: httpx.AsyncClient, bootstrap: BootstrapResult, make_token: Any
) -> None:
    created = await client.post(
        env_path(bootstrap, "/rivers"), json=_river(DECOMPOSED), headers=make_token()
    )
    assert created.status_code == 201
    assert created.json()["name"] == COMPOSED


async def test_variables_differing_only_in_case_are_refused(
    client: httpx.AsyncClient, bootstrap: BootstrapResult, make_token: Any
) -> None:
    path = env_path(bootstrap, "/variables")
    first = await client.put(
        path, json={"variables": [{"name": "token", "value": "a"}]}, headers=make_token()
    )
    assert first.status_code == 200, first.text
    second = await client.put(
        path, json={"variables": [{"name": "Token", "value": "b"}]}, headers=make_token()
    )
    assert second.status_code == 422, second.text
    assert second.json()["detail"][0]["loc"] == ["body", "variables", 0, "name"]


async def test_user_emails_are_unique_up_to_case_and_form(
    client: httpx.AsyncClient, bootstrap: BootstrapResult, make_token: Any
) -> None:
    users = f"/v1/accounts/{bootstrap.account_id}/users"
    email = unicodedata.normalize("NFD", "josé@example.com")
    made = await client.post(users, json={"email": email, "role": "member"}, headers=make_token())
    assert made.status_code == 201, made.text
    assert made.json()["email"] == unicodedata.normalize("NFC", email)
    for variant in ("JOSÉ@example.com", unicodedata.normalize("NFC", "José@Example.com")):
        again = await client.post(
            users, json={"email": variant, "role": "member"}, headers=make_token()
        )
        assert again.status_code == 409, again.text


@pytest.mark.parametrize(
    "path, body, loc",
    [
        ("/rivers", _river("tab\there"), ["body", "name"]),
        ("/rivers", _river("line\nbreak"), ["body", "name"]),
        ("/connections", pg_connection(name="esc\x1bape"), ["body", "connection_name"]),
        ("/river_groups", {"name": "bell\x07"}, ["body", "name"]),
    ],
)
async def test_control_characters_in_names_are_422_naming_the_field(
    client: httpx.AsyncClient,
    bootstrap: BootstrapResult,
    make_token: Any,
    path: str,
    body: dict[str, Any],
    loc: list[str],
) -> None:
    response = await client.post(env_path(bootstrap, path), json=body, headers=make_token())
    assert response.status_code == 422, response.text
    assert any(e["loc"] == loc for e in response.json()["detail"]), response.text


async def test_nul_in_emails_urls_and_legacy_group_names_is_refused(
    client: httpx.AsyncClient, bootstrap: BootstrapResult, make_token: Any
) -> None:
    users = f"/v1/accounts/{bootstrap.account_id}/users"
    for email in ("a\x00b@example.com", "a\tb@example.com"):
        response = await client.post(
            users, json={"email": email, "role": "member"}, headers=make_token()
        )
        assert response.status_code == 422, response.text
    hook = await client.post(
        env_path(bootstrap, "/webhooks"),
        json={"name": "h", "url": "https://example.com/\x00", "events": ["run.failed"]},
        headers=make_token(),
    )
    assert hook.status_code == 422, hook.text
    river = _river("u")
    river["properties"]["request"]["url"] = "https://api.example.com/\tx"
    response = await client.post(env_path(bootstrap, "/rivers"), json=river, headers=make_token())
    assert response.status_code == 422
    legacy = await client.put(
        "/api/river_groups", json={"group_name": "tab\tgroup"}, headers=make_token()
    )
    assert legacy.status_code == 422, legacy.text
    assert legacy.json()["detail"][0]["loc"] == ["body", "name"]
