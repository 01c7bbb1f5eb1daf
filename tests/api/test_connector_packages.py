"""``/v1/instance/connectors``: instance admins only; installs run in a thread with progress.

The install here fails on purpose (an empty wheelhouse, no network): what is checked is the
API's contract (202 at once, progress and a clear error when polled, nothing left installed);
real installs are tested in ``tests/connectors/bridges``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from headwater.services.bootstrap import BootstrapResult
from headwater.services.connector_installs import Installer
from headwater.settings import Settings
from tests.api.tokenhelp import mint

pytestmark = pytest.mark.anyio
URL = "/v1/instance/connectors"


async def test_install_runs_in_the_background_and_reports_its_failure(
    app: FastAPI,
    client: httpx.AsyncClient,
    sessions: sessionmaker[Session],
    bootstrap: BootstrapResult,
    settings: Settings,
    tmp_path: Path,
) -> None:
    wheels = tmp_path / "wheelhouse"
    wheels.mkdir()
    ops = mint(
        sessions, bootstrap.account_id, created_by=bootstrap.admin_id, scopes=["instance:admin"]
    )
    off = await client.post(URL, json={"package": "tap-x"}, headers=ops.headers)
    assert off.status_code == 403 and "HEADWATER_CONNECTORS_API_INSTALL" in off.text
    app.state.connector_installer = Installer(
        settings.model_copy(
            update={
                "connectors_dir": tmp_path / "connectors",
                "connectors_index_url": str(wheels),
                "connectors_api_install": True,
            }
        )
    )
    member = mint(sessions, bootstrap.account_id, created_by=bootstrap.admin_id, scopes=["me:list"])
    for method, body in (("GET", None), ("POST", {"package": "tap-x"})):
        denied = await client.request(method, URL, json=body, headers=member.headers)
        assert denied.status_code == 403
    for bad in ("tap-x @ file:///etc", "--index-url=http://evil", "tap x", ""):
        refused = await client.post(URL, json={"package": bad}, headers=ops.headers)
        assert refused.status_code == 422, bad
    started = await client.post(
        URL, json={"package": "airbyte-source-headwater-nope==0.0.1"}, headers=ops.headers
    )
    assert started.status_code == 202, started.text
    install = started.json()
    assert install["status"] == "running" and install["name"] == "airbyte-source-headwater-nope"
    for _ in range(600):
        polled = await client.get(f"{URL}/installs/{install['id']}", headers=ops.headers)
        assert polled.status_code == 200
        if polled.json()["status"] != "running":
            break
        await asyncio.sleep(0.1)
    outcome = polled.json()
    assert outcome["status"] == "failed"
    assert "installing airbyte-source-headwater-nope==0.0.1 failed" in outcome["error"]
    assert outcome["progress"]  # pip's lines, for the console
    listed = (await client.get(URL, headers=ops.headers)).json()
    assert listed["installed"] == []
    assert [i["id"] for i in listed["installs"]] == [install["id"]]
    missing = await client.delete(f"{URL}/airbyte-source-headwater-nope", headers=ops.headers)
    assert missing.status_code == 404
    unknown = await client.get(f"{URL}/installs/nope", headers=ops.headers)
    assert unknown.status_code == 404
