"""The edit page of an ``airbyte`` connection: a form from the installed connector's ``spec``.

The connector here is a real program (a script answering ``spec`` like an Airbyte source),
recorded in a connectors dir as ``headwater connectors install`` would; one more test uses the
real ``airbyte-source-faker`` when the bridge tests' cache holds it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from headwater.security.crypto import SecretBox
from headwater.services.bootstrap import BootstrapResult
from headwater.services.connections import PURPOSE
from headwater.settings import Settings
from headwater.store.models import Connection
from tests.api.tokenhelp import mint
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.web.connector_fake import fake_connector
from tests.web.forms import csrf_of, sign_in

pytestmark = pytest.mark.anyio
FAKER_CACHE = Path.home() / ".cache" / "headwater-test-venvs" / "connectors"


async def _airbyte_connection(
    client: httpx.AsyncClient,
    sessions: sessionmaker[Session],
    boot: BootstrapResult,
    properties: dict[str, Any],
) -> str:
    minted = mint(sessions, boot.account_id, created_by=boot.admin_id)
    url = f"/v1/accounts/{boot.account_id}/environments/{boot.environment_id}/connections"
    body = {"connection_name": "src", "connection_type": "airbyte", "properties": properties}
    created = await client.post(url, json=body, headers=minted.headers)
    assert created.status_code == 201, created.text
    return str(created.json()["connection_id"])


def _edit_url(boot: BootstrapResult, connection_id: str) -> str:
    base = f"/console/accounts/{boot.account_id}/environments/{boot.environment_id}"
    return f"{base}/connections/{connection_id}/edit"


async def test_spec_form_round_trip(
    client: httpx.AsyncClient,
    sessions: sessionmaker[Session],
    bootstrap: BootstrapResult,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HEADWATER_CONNECTORS_DIR", str(tmp_path))
    props = {"package": "airbyte-source-hwspec", "config": json.dumps({"nested": {"a": 1}})}
    connection_id = await _airbyte_connection(client, sessions, bootstrap, props)
    await sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    edit = _edit_url(bootstrap, connection_id)
    missing = await client.get(edit)
    assert missing.status_code == 200
    assert "airbyte-source-hwspec is not installed" in missing.text  # the JSON fields remain
    assert 'name="p_config"' in missing.text
    fake_connector(tmp_path)
    page = await client.get(edit)
    assert '<label for="s-count">Count <span class="req">(required)</span>' in page.text
    assert 'id="s-token-state">not set<' in page.text and 'type="password"' in page.text
    assert '<option value="fast">fast</option>' in page.text
    assert "Set nested in the JSON fields below" in page.text
    form = {
        "csrf_token": csrf_of(page.text),
        "connection_name": "src",
        "spec_form": "1",
        "p_package": "airbyte-source-hwspec",
        "p_config": json.dumps({"nested": {"a": 1}}),
        "p_secret_config": "",
        "s_count": "0",
        "s_mode": "fast",
        "s_token": "",
    }
    bad = await client.post(edit, data=form)
    assert bad.status_code == 422
    assert 'id="s-count-d">The smallest value allowed is 1.<' in bad.text
    assert 'id="s-token-d">Required by the connector.<' in bad.text
    form.update({"s_count": "3", "s_token": "tok-secret-123"})
    saved = await client.post(edit, data=form)
    assert saved.status_code == 303, saved.text
    box = SecretBox.from_settings(settings)
    with sessions() as session:
        stored = session.get_one(Connection, connection_id)
        config = json.loads(stored.properties["config"])
        secrets = json.loads(box.decrypt(stored.secrets["secret_config"], purpose=PURPOSE))
    assert config == {"nested": {"a": 1}, "count": 3, "mode": "fast"}
    assert secrets == {"token": "tok-secret-123"}
    again = await client.get(edit)
    assert 'id="s-token-state">set<' in again.text and "tok-secret-123" not in again.text
    assert 'id="s-count" name="s_count" type="number" value="3"' in again.text
    form.update({"s_count": "4", "s_token": ""})  # an empty secret keeps the stored one
    assert (await client.post(edit, data=form)).status_code == 303
    with sessions() as session:
        stored = session.get_one(Connection, connection_id)
        assert json.loads(stored.properties["config"])["count"] == 4
        kept = json.loads(box.decrypt(stored.secrets["secret_config"], purpose=PURPOSE))
    assert kept == {"token": "tok-secret-123"}


async def test_new_connection_form_from_the_spec(
    client: httpx.AsyncClient,
    sessions: sessionmaker[Session],
    bootstrap: BootstrapResult,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HEADWATER_CONNECTORS_DIR", str(tmp_path))
    fake_connector(tmp_path)
    await sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    base = f"/console/accounts/{bootstrap.account_id}/environments/{bootstrap.environment_id}"
    chooser = await client.get(f"{base}/connections/new?type=airbyte")
    assert '<label for="c-spec-package">Package</label>' in chooser.text
    assert 'id="spec-form"' not in chooser.text
    page = await client.get(f"{base}/connections/new?type=airbyte&package=airbyte-source-hwspec")
    assert '<label for="s-count">Count <span class="req">(required)</span>' in page.text
    form = {
        "csrf_token": csrf_of(page.text),
        "connection_type": "airbyte",
        "connection_name": "made from spec",
        "spec_form": "1",
        "p_package": "airbyte-source-hwspec",
        "p_config": "",
        "s_count": "x",
        "s_token": "tok-new-456",
    }
    bad = await client.post(f"{base}/connections", data=form)
    assert bad.status_code == 422
    assert 'id="s-count-d">Enter a whole number.<' in bad.text
    assert "tok-new-456" not in bad.text
    form["s_count"] = "2"
    created = await client.post(f"{base}/connections", data=form)
    assert created.status_code == 303, created.text
    box = SecretBox.from_settings(settings)
    with sessions() as session:
        stored = session.scalars(select(Connection).filter_by(name="made from spec")).one()
        assert json.loads(stored.properties["config"]) == {"count": 2}
        secrets = box.decrypt(stored.secrets["secret_config"], purpose=PURPOSE)
    assert json.loads(secrets) == {"token": "tok-new-456"}


async def test_spec_form_of_the_real_faker(
    client: httpx.AsyncClient,
    sessions: sessionmaker[Session],
    bootstrap: BootstrapResult,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not (FAKER_CACHE / "airbyte-source-faker.json").exists():
        pytest.skip("airbyte-source-faker is not in the bridge tests' cache (run those first)")
    monkeypatch.setenv("HEADWATER_CONNECTORS_DIR", str(FAKER_CACHE))
    props = {"package": "airbyte-source-faker==7.2.1"}
    connection_id = await _airbyte_connection(client, sessions, bootstrap, props)
    await sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    page = await client.get(_edit_url(bootstrap, connection_id))
    assert page.status_code == 200
    assert 'id="spec-form"' in page.text and 'name="spec_form"' in page.text, page.text[-3000:]
    assert '<label for="s-count">' in page.text and 'name="s_seed"' in page.text
