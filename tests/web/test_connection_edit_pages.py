"""Connection edit (secrets as set/unset, kept when left empty), field errors, discovery."""

from __future__ import annotations

import httpx
import psycopg
import pytest
from sqlalchemy.orm import Session, sessionmaker

from headwater.services.bootstrap import BootstrapResult
from headwater.store.models import Connection
from tests._services import require_service
from tests.api.rivers_help import SECRET, create_connection
from tests.api.tokenhelp import mint
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, create_pg_database, drop_pg_database
from tests.live import libpq
from tests.web.forms import page_csrf, sign_in

pytestmark = pytest.mark.anyio


async def test_edit_keeps_the_secret_shows_errors_and_discovers(
    client: httpx.AsyncClient, bootstrap: BootstrapResult, sessions: sessionmaker[Session]
) -> None:
    require_service("postgres")
    url = create_pg_database("hw_conn_edit")
    try:
        with psycopg.connect(libpq(url), autocommit=True) as conn:
            conn.execute("CREATE TABLE visits (id int PRIMARY KEY, at timestamptz)")
        minted = mint(sessions, bootstrap.account_id, created_by=bootstrap.admin_id)
        connection_id = await create_connection(client, bootstrap, minted.headers, name="db")
        with sessions() as session:
            sealed = session.get_one(Connection, connection_id).secrets["password"]
        assert (await sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)).status_code == 303
        base = f"/console/accounts/{bootstrap.account_id}/environments/{bootstrap.environment_id}"
        edit = f"{base}/connections/{connection_id}/edit"
        page = await client.get(edit)
        assert 'id="p-password-state">set<' in page.text and SECRET not in page.text
        csrf = await page_csrf(client, edit)
        form = {
            "csrf_token": csrf,
            "connection_name": "shop db",
            "p_host": "127.0.0.1",
            "p_port": "not a port",
            "p_database": url.rsplit("/", 1)[1],
            "p_username": "postgres",
            "p_password": "",
        }
        bad = await client.post(edit, data=form)
        assert bad.status_code == 422
        assert 'aria-invalid="true" aria-describedby="p-port-d"' in bad.text
        assert SECRET not in bad.text
        form["p_port"] = "5432"
        saved = await client.post(edit, data=form)
        assert saved.status_code == 303, saved.text
        with sessions() as session:
            stored = session.get_one(Connection, connection_id)
            assert stored.name == "shop db" and stored.secrets["password"] == sealed
        found = await client.get(f"{base}/connections/{connection_id}/discover")
        assert found.status_code == 200
        assert "<td>visits</td>" in found.text and "timestamp with time zone" in found.text
        missing = await client.get(f"{base}/connections/{connection_id}/discover?schema=nope")
        assert "No tables in this schema" in missing.text
    finally:
        drop_pg_database(url)
