"""The environment switcher and copying a data flow to another environment (connections by
name, created disabled, a missing connection named in the refusal)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from headwater.security.crypto import SecretBox
from headwater.services import rivers
from headwater.services.bootstrap import BootstrapResult
from headwater.settings import Settings
from headwater.store.models import River
from tests.api.rivers_help import create_connection, env_path, s2t_body
from tests.api.tokenhelp import mint
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.web.forms import page_csrf, sign_in

pytestmark = pytest.mark.anyio


async def test_switch_and_copy_to_another_environment(
    client: httpx.AsyncClient,
    bootstrap: BootstrapResult,
    sessions: sessionmaker[Session],
    settings: Settings,
) -> None:
    headers = mint(sessions, bootstrap.account_id, created_by=bootstrap.admin_id).headers
    made = await client.post(
        f"/v1/accounts/{bootstrap.account_id}/environments", json={"name": "prod"}, headers=headers
    )
    assert made.status_code == 201, made.text
    prod = str(made.json()["environment_id"])
    dev_conn = await create_connection(client, bootstrap, headers, name="shop")
    body = {
        **s2t_body(dev_conn, dev_conn),
        "variables": {"key": {"value": "k3y", "is_private": True}},
    }
    river = await client.post(env_path(bootstrap, "/rivers"), json=body, headers=headers)
    river_id = river.json()["river_id"]

    assert (await sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)).status_code == 303
    dev_base = f"/console/accounts/{bootstrap.account_id}/environments/{bootstrap.environment_id}"
    page = await client.get(f"{dev_base}/rivers/{river_id}")
    assert 'id="env-switch"' in page.text and ">prod</option>" in page.text
    switched = await client.get(
        f"/console/accounts/{bootstrap.account_id}/switch-environment", params={"to": prod}
    )
    assert switched.status_code == 303 and prod in switched.headers["location"]
    elsewhere = await client.get(
        f"/console/accounts/{bootstrap.account_id}/switch-environment", params={"to": "f" * 24}
    )
    assert elsewhere.status_code == 404

    csrf = await page_csrf(client, f"{dev_base}/rivers/{river_id}")
    copy = f"{dev_base}/rivers/{river_id}/copy"
    form = {"csrf_token": csrf, "to_environment": prod, "name": "events (prod)"}
    refused = await client.post(copy, data=form)
    assert refused.status_code == 400
    assert "no connection &#39;shop&#39;" in refused.text

    prod_body = {
        "connection_name": "shop",
        "connection_type": "postgres",
        "properties": {"host": "127.0.0.1", "database": "x", "username": "postgres"},
    }
    prod_path = f"/v1/accounts/{bootstrap.account_id}/environments/{prod}/connections"
    prod_conn = (await client.post(prod_path, json=prod_body, headers=headers)).json()
    copied = await client.post(copy, data=form)
    assert copied.status_code == 303, copied.text
    assert f"/environments/{prod}/rivers/" in copied.headers["location"]
    with sessions() as session:
        new = session.get_one(River, copied.headers["location"].rsplit("/", 1)[1].split("?")[0])
        assert new.environment_id == prod and new.status == "disabled"
        target = new.definition["properties"]["target"]["connection_id"]
        assert target == prod_conn["connection_id"] and new.name == "events (prod)"
        assert session.get_one(River, river_id).environment_id == bootstrap.environment_id
        assert "k3y" not in str(new.definition)  # sealed again for the copy
        opened = rivers.definition_for_run(SecretBox.from_settings(settings), new)
        assert opened["variables"]["key"]["value"] == "k3y"
