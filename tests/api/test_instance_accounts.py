"""``/v1/instance/accounts``: only instance admins create, list, view, rename, re-plan and
disable accounts; a disabled account's tokens, logins and sessions stop; everything audited."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from headwater.security.scopes import ACCOUNT_SCOPES
from headwater.services.bootstrap import BootstrapResult
from headwater.store.models import AuditEvent, Environment, User
from tests.api.tokenhelp import Minted, add_environment, add_user, mint
from tests.conftest import FakeClock
from tests.web.forms import page_csrf, sign_in

pytestmark = pytest.mark.anyio

URL = "/v1/instance/accounts"


def _instance_admin(sessions: sessionmaker[Session], boot: BootstrapResult) -> Minted:
    return mint(sessions, boot.account_id, created_by=boot.admin_id, scopes=["instance:admin"])


async def _create(
    client: httpx.AsyncClient, headers: dict[str, str], **body: Any
) -> dict[str, Any]:
    payload = {"name": "Tenant B", "admin_email": "b-admin@example.com", **body}
    response = await client.post(URL, json=payload, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_instance_admin_creates_an_account_that_works_on_its_own(
    app: FastAPI,
    client: httpx.AsyncClient,
    sessions: sessionmaker[Session],
    bootstrap: BootstrapResult,
) -> None:
    ops = _instance_admin(sessions, bootstrap)
    created = await _create(client, ops.headers, plan="enterprise")
    password = created["generated_password"]
    assert password and len(password) >= 12
    assert created["plan"] == "enterprise" and created["disabled"] is False
    assert created["admin_emails"] == ["b-admin@example.com"] and created["users"] == 1
    tenant = created["id"]
    with sessions() as session:
        environment = session.get_one(Environment, created["default_environment_id"])
        assert environment.account_id == tenant and environment.is_default
        admin = session.get_one(User, created["admin_id"])
        assert admin.role == "admin" and not admin.is_instance_admin
        assert password not in admin.password_hash
        events = session.scalars(select(AuditEvent).where(AuditEvent.account_id == tenant)).all()
        assert [e.action for e in events] == ["account.created"]
        # the actor is named by kind only: no id of another tenant enters this account's trail
        assert events[0].actor_type == "instance_admin"
        assert events[0].actor_id is None and events[0].actor_user_id is None
        assert bootstrap.account_id not in repr(events[0].details)
        assert password not in repr(events[0].details)
    # its admin signs in and makes a token of the new account through the API
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as browser:
        assert (await sign_in(browser, "b-admin@example.com", password)).status_code == 303
        rivers = f"/console/accounts/{tenant}/environments/{environment.id}/rivers"
        csrf = await page_csrf(browser, rivers)
        made = await browser.post(
            f"/v1/accounts/{tenant}/api_tokens",
            json={"name": "b ci", "scopes": ["me:list", "river:list"]},
            headers={"X-CSRF-Token": csrf},
        )
        assert made.status_code == 201, made.text
        # an account admin holds no instance scope to grant
        root = await browser.post(
            f"/v1/accounts/{tenant}/api_tokens",
            json={"name": "root", "scopes": ["instance:admin"]},
            headers={"X-CSRF-Token": csrf},
        )
        assert root.status_code == 403
        assert (await browser.get(URL)).status_code == 403
    b_token = {"Authorization": f"Bearer {made.json()['token']}"}
    me = (await client.get("/api/me", headers=b_token)).json()
    assert me["account_id"] == tenant and me["environment_id"] == environment.id
    listed = await client.get(URL, headers=ops.headers)
    assert [a["id"] for a in listed.json()["items"]] == [bootstrap.account_id, tenant]
    one = await client.get(f"{URL}/{tenant}", headers=ops.headers)
    assert one.status_code == 200 and one.json()["name"] == "Tenant B"
    assert "generated_password" not in one.json()


async def test_only_instance_admins_reach_the_instance_routes(
    client: httpx.AsyncClient, sessions: sessionmaker[Session], bootstrap: BootstrapResult
) -> None:
    ops = _instance_admin(sessions, bootstrap)
    tenant = (await _create(client, ops.headers))["id"]
    second_admin = add_user(sessions, bootstrap.account_id, role="admin")
    staging = add_environment(sessions, bootstrap.account_id, "staging")
    denied = {
        "account admin with every scope": mint(
            sessions, bootstrap.account_id, created_by=second_admin, scopes=ACCOUNT_SCOPES
        ),
        "account admin with the scope written in": mint(
            sessions, bootstrap.account_id, created_by=second_admin, scopes=["instance:admin"]
        ),
        "instance admin's token limited to an environment": mint(
            sessions,
            bootstrap.account_id,
            created_by=bootstrap.admin_id,
            scopes=["instance:admin"],
            environment_ids=[staging],
        ),
    }
    calls: list[tuple[str, str, Any]] = [
        ("GET", URL, None),
        ("POST", URL, {"name": "x", "admin_email": "x@example.com"}),
        ("GET", f"{URL}/{tenant}", None),
        ("PATCH", f"{URL}/{tenant}", {"disabled": True}),
    ]
    for who, token in denied.items():
        for method, url, body in calls:
            answer = await client.request(method, url, json=body, headers=token.headers)
            assert answer.status_code == 403, (who, method, url, answer.text)
    lacking = mint(
        sessions, bootstrap.account_id, created_by=bootstrap.admin_id, scopes=["me:list"]
    )
    answer = await client.get(URL, headers=lacking.headers)
    assert answer.status_code == 403 and "instance:admin" in answer.json()["detail"]
    assert (await client.get(URL)).status_code == 401
    missing = await client.get(f"{URL}/{'f' * 24}", headers=ops.headers)
    assert missing.status_code == 404
    assert (await client.get(f"{URL}/{tenant}", headers=ops.headers)).json()["disabled"] is False


@pytest.mark.parametrize(
    ("body", "status", "named"),
    [
        ({"name": "x", "admin_email": "admin@example.com"}, 409, "admin@example.com"),
        ({"name": "x", "admin_email": "not-an-email"}, 400, "not-an-email"),
        ({"name": "  ", "admin_email": "a@example.com"}, 422, "blank"),
        ({"name": "x", "admin_email": "a@example.com", "plan": "gold"}, 422, "plan"),
        ({"name": "x", "admin_email": "a@example.com", "admin_password": "short"}, 422, "8"),
        ({"name": "x", "admin_email": "a@example.com", "is_instance_admin": True}, 422, "extra"),
    ],
)
async def test_bad_create_requests_name_the_problem(
    client: httpx.AsyncClient,
    sessions: sessionmaker[Session],
    bootstrap: BootstrapResult,
    body: dict[str, Any],
    status: int,
    named: str,
) -> None:
    ops = _instance_admin(sessions, bootstrap)
    answer = await client.post(URL, json=body, headers=ops.headers)
    assert answer.status_code == status, answer.text
    assert named in answer.text
    assert len((await client.get(URL, headers=ops.headers)).json()["items"]) == 1


async def test_rename_replan_disable_and_enable_are_audited_and_take_effect(
    app: FastAPI,
    client: httpx.AsyncClient,
    sessions: sessionmaker[Session],
    bootstrap: BootstrapResult,
    clock: FakeClock,
) -> None:
    ops = _instance_admin(sessions, bootstrap)
    created = await _create(client, ops.headers, admin_password="tenant-b-password")
    tenant = created["id"]
    b_token = mint(sessions, tenant, created_by=created["admin_id"], scopes=["me:list"])
    assert (await client.get("/api/me", headers=b_token.headers)).status_code == 200
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as browser:
        assert (
            await sign_in(browser, "b-admin@example.com", "tenant-b-password")
        ).status_code == 303
        assert (await browser.get("/api/me")).status_code == 200

        patched = await client.patch(
            f"{URL}/{tenant}",
            json={"name": "Tenant B2", "plan": "starter", "disabled": True},
            headers=ops.headers,
        )
        assert patched.status_code == 200, patched.text
        assert patched.json()["name"] == "Tenant B2" and patched.json()["plan"] == "starter"
        assert patched.json()["disabled"] is True
        assert patched.json()["disabled_at"] is not None

        refused = await client.get("/api/me", headers=b_token.headers)
        assert refused.status_code == 403 and "disabled" in refused.json()["detail"]
        assert (await browser.get("/api/me")).status_code == 401  # the session ended with it
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as again:
        login = await sign_in(again, "b-admin@example.com", "tenant-b-password")
        assert login.status_code == 403 and "disabled" in login.text
        wrong = await sign_in(again, "b-admin@example.com", "not-the-password")
        assert wrong.status_code == 401 and "disabled" not in wrong.text  # nothing for guessers

    clock.advance(minutes=1)
    enabled = await client.patch(f"{URL}/{tenant}", json={"disabled": False}, headers=ops.headers)
    assert enabled.status_code == 200 and enabled.json()["disabled"] is False
    assert (await client.get("/api/me", headers=b_token.headers)).status_code == 200
    own = await client.patch(
        f"{URL}/{bootstrap.account_id}", json={"disabled": True}, headers=ops.headers
    )
    assert own.status_code == 409 and "lock yourself out" in own.json()["detail"]
    with sessions() as session:
        actions = [
            e.action
            for e in session.scalars(
                select(AuditEvent)
                .where(AuditEvent.account_id == tenant)
                .order_by(AuditEvent.occurred_at, AuditEvent.action)
            )
        ]
    assert actions == [
        "account.created",
        "account.disabled",
        "account.renamed",
        "plan.changed",
        "account.enabled",
    ]
