"""The console's Disable button of a change capture river: "Drop the replication slot",
ticked by the river's ``on_disable``, drops or keeps the slot at a real logical-replication
PostgreSQL through the same service as the API."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from headwater.services.bootstrap import BootstrapResult
from tests.api.test_runs_api import Env
from tests.api.test_runs_cdc import cdc_river, sql
from tests.api.tokenhelp import mint
from tests.cdc_servers import PgCluster, has_slot, logical_pg, river_slot
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.web.forms import csrf_of, sign_in

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]


@pytest.fixture(scope="module")
def cluster() -> Iterator[PgCluster]:
    with logical_pg() as running:
        yield running


async def test_disable_form_drops_the_slot_only_when_ticked(
    client: httpx.AsyncClient, bootstrap: BootstrapResult, app: FastAPI, cluster: PgCluster
) -> None:
    token = mint(app.state.session_factory, bootstrap.account_id, created_by=bootstrap.admin_id)
    env = Env(client, bootstrap, token)
    table = f"console_{uuid.uuid4().hex[:8]}"
    sql(cluster, f"CREATE TABLE {table} (id int PRIMARY KEY, v text)")
    river_id = await cdc_river(env, cluster, table, {"on_disable": "drop"})
    river_slot(cluster, river_id, table)
    assert (await sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)).status_code == 303
    page_url = (
        f"/console/accounts/{bootstrap.account_id}/environments/{bootstrap.environment_id}"
        f"/rivers/{river_id}"
    )

    page = await client.get(page_url)
    assert page.status_code == 200, page.text
    assert 'id="drop-slot" value="1" checked' in page.text  # the river's on_disable: drop
    assert "Drop the replication slot" in page.text
    form = {"csrf_token": csrf_of(page.text), "status": "disabled", "slot_choice": "1"}
    kept = await client.post(f"{page_url}/status", data=form)  # box unticked
    assert kept.status_code == 303 and kept.headers["location"].endswith("?notice=disabled")
    assert has_slot(cluster, river_id)

    page = await client.get(page_url)
    enabled = await client.post(
        f"{page_url}/status", data={"csrf_token": csrf_of(page.text), "status": "active"}
    )
    assert enabled.status_code == 303
    page = await client.get(page_url)
    form = {**form, "csrf_token": csrf_of(page.text), "drop_slot": "1"}
    dropped = await client.post(f"{page_url}/status", data=form)
    assert dropped.headers["location"].endswith("?notice=slot_dropped")
    assert not has_slot(cluster, river_id)
    shown = await client.get(dropped.headers["location"])
    assert "replication slot was dropped" in shown.text

    plain = await client.get(
        f"/console/accounts/{bootstrap.account_id}/environments/{bootstrap.environment_id}/rivers"
    )
    assert plain.status_code == 200
