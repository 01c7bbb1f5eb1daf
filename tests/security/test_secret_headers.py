"""An action river's sensitive request headers are secrets (finding: ``Authorization: Bearer``
in ``request.headers`` was shown to a ``river:list`` token, exported in clear and stored
unencrypted), and short secrets are not masked as substrings (finding: a one-character secret
masked every occurrence of that character)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from headwater.cli.main import app as cli_app
from headwater.security.crypto import MASK, SecretBox, is_encrypted
from headwater.security.redact import Redactor, header_secret_parts, is_sensitive_header
from headwater.services import rivers
from headwater.services.bootstrap import BootstrapResult
from headwater.services.connections import _scrub
from headwater.store.models import River
from tests.api.rivers_help import env_path

pytestmark = pytest.mark.anyio

TOKEN = "hdr-bearer-7f3a9c1e-never-shown"
KEY = "hdr-api-key-55b2d0aa-never-shown"
SECRET_KEY = "test-secret-key-not-for-production"


def _body(headers: dict[str, str]) -> dict[str, Any]:
    return {
        "name": "header call",
        "type": "actions",
        "properties": {"request": {"url": "https://api.example.com/items", "headers": headers}},
    }


HEADERS = {"Authorization": f"Bearer {TOKEN}", "X-Api-Key": KEY, "Accept": "application/json"}


def _stored(sessions: sessionmaker[Session]) -> dict[str, Any]:
    with sessions() as session:
        river = session.scalars(select(River).where(River.name == "header call")).one()
        stored: dict[str, Any] = river.definition["properties"]["request"]["headers"]
        opened = rivers.definition_for_run(SecretBox(SECRET_KEY), river)
        assert opened["properties"]["request"]["headers"] == HEADERS
        return stored


async def test_sensitive_headers_are_encrypted_masked_and_kept_on_update(
    client: httpx.AsyncClient,
    bootstrap: BootstrapResult,
    make_token: Any,
    sessions: sessionmaker[Session],
) -> None:
    created = await client.post(
        env_path(bootstrap, "/rivers"), json=_body(HEADERS), headers=make_token()
    )
    assert created.status_code == 201, created.text
    river_id = created.json()["river_id"]
    for text in (created.text,):
        assert TOKEN not in text and KEY not in text
    stored = _stored(sessions)
    assert is_encrypted(stored["Authorization"]) and is_encrypted(stored["X-Api-Key"])
    assert stored["Accept"] == "application/json"  # not a credential: stays readable

    reader = make_token(scopes=["river:list"])
    shown = await client.get(env_path(bootstrap, f"/rivers/{river_id}"), headers=reader)
    assert shown.status_code == 200
    headers = shown.json()["properties"]["request"]["headers"]
    assert headers == {"Authorization": MASK, "X-Api-Key": MASK, "Accept": "application/json"}
    legacy = await client.post("/api/rivers/list", json={"_id": river_id}, headers=reader)
    assert legacy.status_code == 200 and TOKEN not in legacy.text and KEY not in legacy.text
    versions = await client.get(env_path(bootstrap, f"/rivers/{river_id}/versions"), headers=reader)
    assert TOKEN not in versions.text and KEY not in versions.text

    # the masks sent back keep the stored values
    body = shown.json()
    sent = {k: body[k] for k in ("name", "type", "properties")}
    updated = await client.put(
        env_path(bootstrap, f"/rivers/{river_id}"), json=sent, headers=make_token()
    )
    assert updated.status_code == 200, updated.text
    _stored(sessions)


async def test_a_mask_without_a_stored_header_is_422(
    client: httpx.AsyncClient, bootstrap: BootstrapResult, make_token: Any
) -> None:
    response = await client.post(
        env_path(bootstrap, "/rivers"), json=_body({"Authorization": MASK}), headers=make_token()
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == "Authorization"


def test_export_refers_to_header_secrets_and_apply_keeps_them(
    db_url: str,
    tmp_path: Path,
    bootstrap: BootstrapResult,
    sessions: sessionmaker[Session],
) -> None:
    env = {
        "HEADWATER_DATA_DIR": str(tmp_path / "data"),
        "HEADWATER_DATABASE_URL": db_url,
        "HEADWATER_SECRET_KEY": SECRET_KEY,
        "HDR_TOKEN": f"Bearer {TOKEN}",
        "HDR_KEY": KEY,
    }
    document = {
        "rivers": [
            {
                **_body({"Authorization": "${HDR_TOKEN}", "X-Api-Key": "${HDR_KEY}"}),
                "type": "action",
            }
        ]
    }
    document["rivers"][0]["properties"]["request"]["headers"]["Accept"] = "application/json"
    source = tmp_path / "flows.yaml"
    source.write_text(yaml.safe_dump(document))
    runner = CliRunner()
    applied = runner.invoke(cli_app, ["apply", "-f", str(source)], env=env)
    assert applied.exit_code == 0, applied.output
    _stored(sessions)

    exported = runner.invoke(cli_app, ["export"], env=env)
    assert exported.exit_code == 0, exported.output
    assert TOKEN not in exported.output and KEY not in exported.output
    river = yaml.safe_load(exported.output)["rivers"][0]
    headers = river["properties"]["request"]["headers"]
    assert headers["Authorization"] == "${HW_RIVER_HEADER_CALL_HEADER_AUTHORIZATION}"
    assert headers["Accept"] == "application/json"

    # applied back without the variables set: the stored values stay
    again = tmp_path / "exported.yaml"
    again.write_text(exported.output)
    bare = {k: v for k, v in env.items() if not k.startswith("HDR_")}
    reapplied = runner.invoke(cli_app, ["apply", "-f", str(again)], env=bare)
    assert reapplied.exit_code == 0, reapplied.output
    _stored(sessions)


@pytest.mark.parametrize(
    "name",
    [
        "Authorization",
        "proxy-authorization",
        "Cookie",
        "X-Api-Key",
        "X-Auth-Token",
        "Client-Secret",
    ],
)
def test_sensitive_header_names(name: str) -> None:
    assert is_sensitive_header(name)


@pytest.mark.parametrize("name", ["Accept", "Content-Type", "User-Agent", "X-Request-Id"])
def test_plain_header_names(name: str) -> None:
    assert not is_sensitive_header(name)


def test_a_scheme_credential_is_redacted_without_its_scheme() -> None:
    redactor = Redactor(header_secret_parts(f"Bearer {TOKEN}"))
    assert redactor.redact(f"upstream said: invalid token {TOKEN}") == (
        f"upstream said: invalid token {MASK}"
    )


def test_a_one_character_secret_does_not_mask_that_character_everywhere() -> None:
    message = "password authentication failed for user postgres at 127.0.0.1"
    assert Redactor(["a"]).redact(message) == message
    assert _scrub(message, ["a"]) == message  # connection tests: was "p********ssword ..."
    assert _scrub(f"key {TOKEN} refused", [TOKEN, "a"]) == f"key {MASK} refused"


async def test_rest_source_table_headers_are_secrets_too(
    client: httpx.AsyncClient,
    bootstrap: BootstrapResult,
    make_token: Any,
    sessions: sessionmaker[Session],
) -> None:
    headers = make_token()
    api = await client.post(
        env_path(bootstrap, "/connections"),
        json={
            "connection_name": "api",
            "connection_type": "http",
            "properties": {"base_url": "https://api.example.com"},
        },
        headers=headers,
    )
    assert api.status_code == 201, api.text
    api_id = api.json()["connection_id"]
    target = await client.post(
        env_path(bootstrap, "/connections"),
        json={
            "connection_name": "duck",
            "connection_type": "duckdb",
            "properties": {"path": "/tmp/never-opened.duckdb"},
        },
        headers=headers,
    )
    assert target.status_code == 201, target.text
    options = {"path": "/items", "headers": {"Authorization": f"Bearer {TOKEN}", "Accept": "x"}}
    body = {
        "name": "rest copy",
        "type": "source_to_target",
        "properties": {
            "source": {"connection_id": api_id},
            "target": {"connection_id": target.json()["connection_id"]},
            "schemas": [
                {
                    "name": "",
                    "tables": [
                        {"name": "items", "details": {"source_options": options}},
                    ],
                }
            ],
        },
    }
    created = await client.post(env_path(bootstrap, "/rivers"), json=body, headers=headers)
    assert created.status_code == 201, created.text
    assert TOKEN not in created.text
    shown = created.json()["properties"]["schemas"][0]["tables"][0]["details"]["source_options"]
    assert shown["headers"] == {"Authorization": MASK, "Accept": "x"}
    with sessions() as session:
        river = session.scalars(select(River).where(River.name == "rest copy")).one()
        table = river.definition["properties"]["schemas"][0]["tables"][0]
        assert is_encrypted(table["details"]["source_options"]["headers"]["Authorization"])
        opened = rivers.definition_for_run(SecretBox(SECRET_KEY), river)
        table = opened["properties"]["schemas"][0]["tables"][0]
        assert table["details"]["source_options"]["headers"]["Authorization"] == f"Bearer {TOKEN}"


async def test_headers_stored_in_clear_by_an_earlier_version_are_sealed_at_start(
    client: httpx.AsyncClient,
    bootstrap: BootstrapResult,
    make_token: Any,
    sessions: sessionmaker[Session],
) -> None:
    from headwater.services.river_reseal import reseal_clear_secrets
    from headwater.store.models import RiverVersion

    created = await client.post(
        env_path(bootstrap, "/rivers"), json=_body(HEADERS), headers=make_token()
    )
    river_id = created.json()["river_id"]
    with sessions() as session:  # as an earlier version stored it
        river = session.get_one(River, river_id)
        old = copy.deepcopy(river.definition)
        old["properties"]["request"]["headers"] = dict(HEADERS)
        river.definition = old
        for version in session.scalars(select(RiverVersion)):
            version.definition = copy.deepcopy(old)
        session.commit()
    box = SecretBox(SECRET_KEY)
    with sessions() as session:
        assert reseal_clear_secrets(session, box) == 2  # the river and its one version
        assert reseal_clear_secrets(session, box) == 0
    _stored(sessions)
    with sessions() as session:
        for version in session.scalars(select(RiverVersion)):
            assert TOKEN not in str(version.definition)
