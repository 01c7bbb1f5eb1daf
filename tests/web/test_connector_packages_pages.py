"""Instance → Connectors: instance admins only, the API's installer, progress polled as JSON.

The install fails on purpose (an empty wheelhouse, no network); real installs are tested in
``tests/connectors/bridges``. What is checked is the page's contract: who may see it, the
setting's message, CSRF, and that the polled status ends with pip's lines and the error.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from headwater.services.bootstrap import BootstrapResult
from headwater.services.connector_installs import Installer
from headwater.settings import Settings
from tests.api.tokenhelp import add_user
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.web.connector_fake import fake_connector
from tests.web.forms import csrf_of, sign_in

pytestmark = pytest.mark.anyio
PAGE = "/console/instance/connectors"


async def test_only_instance_admins_see_the_connectors_page(
    client: httpx.AsyncClient,
    sessions: sessionmaker[Session],
    bootstrap: BootstrapResult,
) -> None:
    add_user(sessions, bootstrap.account_id, role="admin", email="second@example.com")
    assert (await sign_in(client, "second@example.com", "pw-for-tests")).status_code == 303
    rivers = f"/console/accounts/{bootstrap.account_id}/environments/{bootstrap.environment_id}"
    home = await client.get(f"{rivers}/rivers")
    assert home.status_code == 200 and "Users" in home.text
    assert PAGE not in home.text  # an account admin is not an instance admin: no nav link
    denied = await client.get(PAGE)
    assert denied.status_code == 403
    assert "instance:admin" in denied.text
    posted = await client.post(PAGE, data={"package": "tap-x", "csrf_token": "x"})
    assert posted.status_code == 403


async def test_page_says_how_to_enable_installs_when_they_are_off(
    client: httpx.AsyncClient, bootstrap: BootstrapResult
) -> None:
    await sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    page = await client.get(PAGE)
    assert page.status_code == 200, page.text
    assert f'href="{PAGE}"' in page.text  # the nav link
    assert "HEADWATER_CONNECTORS_API_INSTALL=true" in page.text
    assert "headwater connectors install" in page.text
    assert 'id="install-form"' not in page.text
    assert "No connector packages are installed yet" in page.text
    refused = await client.post(PAGE, data={"package": "tap-x", "csrf_token": csrf_of(page.text)})
    assert refused.status_code == 403
    assert "HEADWATER_CONNECTORS_API_INSTALL" in refused.text


@pytest.fixture
def use_installer(app: FastAPI, settings: Settings) -> Callable[..., Installer]:
    """Give the app an installer with these settings changed (the API and pages share it)."""

    def make(**update: Any) -> Installer:
        found = Installer(settings.model_copy(update=update))
        app.state.connector_installer = found
        return found

    return make


async def test_install_shows_progress_and_its_failure(
    use_installer: Callable[..., Installer],
    client: httpx.AsyncClient,
    bootstrap: BootstrapResult,
    tmp_path: Path,
) -> None:
    wheels = tmp_path / "wheelhouse"
    wheels.mkdir()
    installer = use_installer(
        connectors_dir=tmp_path / "connectors",
        connectors_index_url=str(wheels),
        connectors_api_install=True,
    )
    await sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    page = await client.get(PAGE)
    assert '<label for="c-package">Requirement</label>' in page.text
    token = csrf_of(page.text)
    no_csrf = await client.post(PAGE, data={"package": "tap-x"})
    assert no_csrf.status_code == 403
    bad = await client.post(PAGE, data={"package": "tap x @ file:///etc", "csrf_token": token})
    assert bad.status_code == 400 and "PyPI requirement" in bad.text
    assert 'value="tap x @ file:///etc"' in bad.text  # the form keeps what was typed
    started = await client.post(
        PAGE, data={"package": "airbyte-source-headwater-nope==0.0.1", "csrf_token": token}
    )
    assert started.status_code == 303
    follow = await client.get(started.headers["location"])
    assert "Installing airbyte-source-headwater-nope==0.0.1" in follow.text
    status_url = re.search(r'data-status-url="([^"]+)"', follow.text)
    assert status_url is not None
    for _ in range(600):
        polled = await client.get(status_url.group(1))
        assert polled.status_code == 200
        if polled.json()["install"]["status"] != "running":
            break
        await asyncio.sleep(0.1)
    state = polled.json()["install"]
    assert state["status"] == "failed"
    assert "installing airbyte-source-headwater-nope==0.0.1 failed" in state["error"]
    assert state["progress"]
    # The API sees the same install: one installer behind both.
    listed = installer.jobs()
    assert [j.package for j in listed] == ["airbyte-source-headwater-nope==0.0.1"]
    again = await client.get(started.headers["location"])
    assert 'data-final="true"' in again.text and "installing airbyte-source" in again.text
    missing = await client.get(f"{PAGE}/status.json?install=nope")
    assert missing.status_code == 404 and "no such connector install" in missing.text
    empty = await client.post(PAGE, data={"package": " ", "csrf_token": token})
    assert empty.status_code == 422 and "Type a requirement" in empty.text
    gone = await client.post(
        f"{PAGE}/uninstall",
        data={"package": "airbyte-source-headwater-nope", "csrf_token": token},
    )
    assert gone.status_code == 404 and "not installed" in gone.text


async def test_installed_packages_are_listed_and_removed(
    use_installer: Callable[..., Installer],
    client: httpx.AsyncClient,
    bootstrap: BootstrapResult,
    tmp_path: Path,
) -> None:
    fake_connector(tmp_path)  # as `headwater connectors install` records a package
    use_installer(connectors_dir=tmp_path)
    await sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    page = await client.get(PAGE)
    row = re.search(r'<tr data-package="airbyte-source-hwspec">(.*?)</tr>', page.text, re.S)
    assert row is not None, page.text
    assert "<td>1.0</td>" in row.group(1) and "<td>airbyte</td>" in row.group(1)
    assert "not discovered yet" in row.group(1)
    assert 'aria-label="Uninstall airbyte-source-hwspec"' in row.group(1)
    removed = await client.post(
        f"{PAGE}/uninstall",
        data={"package": "airbyte-source-hwspec", "csrf_token": csrf_of(page.text)},
    )
    assert removed.status_code == 303
    after = await client.get(removed.headers["location"])
    assert "The connector package was removed." in after.text
    assert "No connector packages are installed yet" in after.text
    assert not (tmp_path / "airbyte-source-hwspec.json").exists()
