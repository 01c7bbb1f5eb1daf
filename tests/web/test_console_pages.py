"""Console pages over HTTP: tokens, users, connections, data flows and activities."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from headwater.services import accounts
from headwater.services.auth import principal_for_user
from headwater.services.bootstrap import BootstrapResult
from headwater.store.models import User
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, FakeClock
from tests.web.forms import page_csrf, sign_in

pytestmark = pytest.mark.anyio


def _acct(boot: BootstrapResult) -> str:
    return f"/console/accounts/{boot.account_id}"


def _env(boot: BootstrapResult) -> str:
    return f"{_acct(boot)}/environments/{boot.environment_id}"


@pytest.fixture
async def admin(client: httpx.AsyncClient, bootstrap: BootstrapResult) -> httpx.AsyncClient:
    response = await sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    assert response.status_code == 303
    return client


async def test_token_pages_create_show_once_view_and_delete(
    admin: httpx.AsyncClient, bootstrap: BootstrapResult
) -> None:
    tokens = f"{_acct(bootstrap)}/settings/api-tokens"
    empty = await admin.get(tokens)
    assert "No API tokens yet" in empty.text
    assert bootstrap.account_id in empty.text and bootstrap.environment_id in empty.text
    assert "http://testserver" in empty.text  # the API base URL of this deployment
    csrf = await page_csrf(admin, tokens + "/new")
    none = await admin.post(tokens, data={"csrf_token": csrf, "name": "x"})
    assert none.status_code == 422
    assert "Select at least one scope" in none.text
    created = await admin.post(
        tokens, data={"csrf_token": csrf, "name": "ci export", "scopes": ["me:list", "river:list"]}
    )
    assert created.status_code == 201
    assert created.headers["cache-control"] == "no-store"
    match = re.search(r'id="new-token" readonly value="([^"]+)"', created.text)
    assert match
    secret = match.group(1)
    me = await admin.get("/api/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 200
    listing = await admin.get(tokens)
    assert "ci export" in listing.text and ADMIN_EMAIL in listing.text
    assert secret not in listing.text  # shown once, never again
    token_id = re.search(r'data-token-id="([0-9a-f]{24})"', listing.text)
    assert token_id
    view = await admin.get(f"{tokens}/{token_id.group(1)}")
    assert "river:list" in view.text and "List data flows" in view.text
    deleted = await admin.post(f"{tokens}/{token_id.group(1)}/delete", data={"csrf_token": csrf})
    assert deleted.status_code == 303
    after = await admin.get(deleted.headers["location"])
    assert "The token was deleted" in after.text and "ci export" not in after.text
    gone = await admin.get("/api/me", headers={"Authorization": f"Bearer {secret}"})
    assert gone.status_code == 401


async def test_token_page_shows_the_downgrade_notice_and_refuses_new_tokens(
    admin: httpx.AsyncClient,
    bootstrap: BootstrapResult,
    sessions: sessionmaker[Session],
    clock: FakeClock,
) -> None:
    with sessions() as session:
        user = session.get_one(User, bootstrap.admin_id)
        accounts.change_plan(
            session,
            principal_for_user(user),
            bootstrap.account_id,
            "starter",
            now=clock(),
            notice_days=14,
        )
    tokens = f"{_acct(bootstrap)}/settings/api-tokens"
    page = await admin.get(tokens)
    assert 'id="plan-notice"' in page.text
    assert "2026-11-15 12:00 UTC" in page.text  # the FakeClock's now + 14 days
    csrf = await page_csrf(admin, tokens + "/new")
    refused = await admin.post(tokens, data={"csrf_token": csrf, "name": "t", "scopes": "me:list"})
    assert refused.status_code == 403
    assert "not available on the starter plan" in refused.text


async def test_users_page_creates_a_member_and_keeps_the_last_admin(
    admin: httpx.AsyncClient, bootstrap: BootstrapResult
) -> None:
    users = f"{_acct(bootstrap)}/settings/users"
    csrf = await page_csrf(admin, users)
    created = await admin.post(
        users, data={"csrf_token": csrf, "email": "new@example.com", "role": "member"}
    )
    assert created.status_code == 201
    assert 'id="generated-password"' in created.text
    demote = await admin.post(
        f"{users}/{bootstrap.admin_id}/role", data={"csrf_token": csrf, "role": "member"}
    )
    assert demote.status_code == 409
    assert "last admin" in demote.text
    duplicate = await admin.post(
        users, data={"csrf_token": csrf, "email": "new@example.com", "role": "member"}
    )
    assert duplicate.status_code == 409


async def test_connection_form_comes_from_the_type_and_never_echoes_secrets(
    admin: httpx.AsyncClient, bootstrap: BootstrapResult
) -> None:
    base = f"{_env(bootstrap)}/connections"
    assert "No connections yet" in (await admin.get(base)).text
    form = await admin.get(base + "/new?type=postgres")
    assert 'name="p_password" type="password"' in form.text
    assert 'name="p_port" type="number" value="5432"' in form.text
    csrf = await page_csrf(admin, base + "/new?type=postgres")
    fields = {
        "csrf_token": csrf,
        "connection_type": "postgres",
        "connection_name": "closed port",
        "p_host": "127.0.0.1",
        "p_port": "1",
        "p_username": "postgres",
        "p_password": "hunter2-secret",
    }
    missing = await admin.post(base, data=fields)
    assert missing.status_code == 422
    assert "field required" in missing.text  # the database field, marked beside it
    assert "hunter2-secret" not in missing.text
    created = await admin.post(base, data={**fields, "p_database": "nothing"})
    assert created.status_code == 303
    listing = await admin.get(created.headers["location"])
    assert "The connection was created" in listing.text
    connection_id = re.search(r'data-connection-id="([0-9a-f]{24})"', listing.text)
    assert connection_id
    tested = await admin.post(f"{base}/{connection_id.group(1)}/test", data={"csrf_token": csrf})
    assert "Connection test failed" in tested.text
    assert "hunter2-secret" not in tested.text
    deleted = await admin.post(f"{base}/{connection_id.group(1)}/delete", data={"csrf_token": csrf})
    assert deleted.status_code == 303
    assert "closed port" not in (await admin.get(base)).text


async def test_rivers_and_activities_pages_without_runs(
    admin: httpx.AsyncClient, bootstrap: BootstrapResult
) -> None:
    rivers = await admin.get(f"{_env(bootstrap)}/rivers?q=nothing")
    assert "No data flow matches these filters" in rivers.text
    missing = await admin.get(f"{_env(bootstrap)}/rivers/{'a' * 24}")
    assert missing.status_code == 404
    assert "was not found" in missing.text
    activities = await admin.get(f"{_env(bootstrap)}/activities?days=30")
    assert activities.status_code == 200
    assert "No runs in this window" in activities.text
    assert activities.text.count('class="day"') == 30  # one bar group per day
    swapped = await admin.get(f"{_env(bootstrap)}/activities?start=2026-11-10&end=2026-11-01")
    assert swapped.status_code == 400
    assert "end date is before the start date" in swapped.text


async def test_run_status_json_needs_a_session(
    client: httpx.AsyncClient, bootstrap: BootstrapResult
) -> None:
    url = f"{_env(bootstrap)}/rivers/{'a' * 24}/runs/{'b' * 32}/status.json"
    response = await client.get(url)
    assert response.status_code == 401
    assert response.json() == {"detail": "Your console session has ended"}
