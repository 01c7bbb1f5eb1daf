"""Users: admins list, create, re-role and delete them; members get 403; one admin stays."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from headwater.security.passwords import verify_password
from headwater.services.bootstrap import BootstrapResult
from headwater.store.base import utcnow
from headwater.store.models import AuditEvent, User
from tests.api.tokenhelp import add_account, add_user, mint
from tests.conftest import FakeClock

pytestmark = pytest.mark.anyio


def _url(bootstrap: BootstrapResult, suffix: str = "") -> str:
    return f"/v1/accounts/{bootstrap.account_id}/users{suffix}"


async def test_admin_creates_lists_updates_and_deletes_users(
    client: httpx.AsyncClient,
    sessions: sessionmaker[Session],
    bootstrap: BootstrapResult,
    clock: FakeClock,
) -> None:
    clock.now = utcnow()  # users list in creation order: after the bootstrap admin
    admin = mint(sessions, bootstrap.account_id, created_by=bootstrap.admin_id)
    created = await client.post(
        _url(bootstrap),
        json={
            "email": "Ann@Example.com",
            "name": "Ann",
            "role": "member",
            "password": "long enough pw",
        },
        headers=admin.headers,
    )
    assert created.status_code == 201, created.text
    ann = created.json()
    assert ann["email"] == "ann@example.com" and ann["role"] == "member"
    assert ann["generated_password"] is None
    assert "password_hash" not in created.text and "long enough pw" not in created.text
    with sessions() as session:
        assert verify_password(session.get_one(User, ann["id"]).password_hash, "long enough pw")

    clock.advance(seconds=1)
    generated = await client.post(
        _url(bootstrap), json={"email": "bob@example.com", "role": "admin"}, headers=admin.headers
    )
    assert generated.status_code == 201
    assert len(generated.json()["generated_password"]) >= 12

    listed = (await client.get(_url(bootstrap), headers=admin.headers)).json()["items"]
    assert [u["email"] for u in listed] == [
        bootstrap.admin_email,
        "ann@example.com",
        "bob@example.com",
    ]
    assert all("password" not in key for u in listed for key in u)

    promoted = await client.patch(
        _url(bootstrap, f"/{ann['id']}"),
        json={"role": "admin", "name": "Ann B"},
        headers=admin.headers,
    )
    assert promoted.status_code == 200
    assert promoted.json()["role"] == "admin" and promoted.json()["name"] == "Ann B"
    viewed = await client.get(_url(bootstrap, f"/{ann['id']}"), headers=admin.headers)
    assert viewed.json()["role"] == "admin"

    deleted = await client.delete(_url(bootstrap, f"/{ann['id']}"), headers=admin.headers)
    assert deleted.status_code == 204
    assert (
        await client.get(_url(bootstrap, f"/{ann['id']}"), headers=admin.headers)
    ).status_code == 404

    with sessions() as session:
        actions = session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.entity_type == "user")
            .order_by(AuditEvent.occurred_at, AuditEvent.action)
        ).all()
    assert sorted(actions) == sorted(
        ["user.created", "user.created", "user.role_changed", "user.deleted"]
    )


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-address", "role": "member"},
        {"email": "x@example.com", "role": "owner"},
        {"email": "x@example.com", "password": "short"},
        {"email": "x@example.com", "is_admin": True},
    ],
)
async def test_invalid_user_bodies_are_rejected(
    client: httpx.AsyncClient,
    sessions: sessionmaker[Session],
    bootstrap: BootstrapResult,
    body: dict[str, Any],
) -> None:
    admin = mint(sessions, bootstrap.account_id, created_by=bootstrap.admin_id)
    response = await client.post(_url(bootstrap), json=body, headers=admin.headers)
    assert response.status_code in {400, 422}
    with sessions() as session:
        assert len(session.scalars(select(User)).all()) == 1


async def test_duplicate_email_is_409(
    client: httpx.AsyncClient, sessions: sessionmaker[Session], bootstrap: BootstrapResult
) -> None:
    admin = mint(sessions, bootstrap.account_id, created_by=bootstrap.admin_id)
    response = await client.post(
        _url(bootstrap), json={"email": bootstrap.admin_email.upper()}, headers=admin.headers
    )
    assert response.status_code == 409


async def test_members_get_403_on_every_user_route(
    client: httpx.AsyncClient, sessions: sessionmaker[Session], bootstrap: BootstrapResult
) -> None:
    member = add_user(sessions, bootstrap.account_id, role="member")
    token = mint(sessions, bootstrap.account_id, created_by=member)
    calls: list[tuple[str, str, Any]] = [
        ("GET", _url(bootstrap), None),
        ("POST", _url(bootstrap), {"email": "new@example.com"}),
        ("GET", _url(bootstrap, f"/{member}"), None),
        ("PATCH", _url(bootstrap, f"/{member}"), {"role": "admin"}),
        ("DELETE", _url(bootstrap, f"/{bootstrap.admin_id}"), None),
    ]
    for method, url, body in calls:
        response = await client.request(method, url, json=body, headers=token.headers)
        assert response.status_code == 403, (method, url)
        assert "Only account admins" in response.json()["detail"]
    with sessions() as session:
        assert session.get_one(User, member).role == "member"


async def test_the_last_admin_cannot_be_demoted_or_deleted(
    client: httpx.AsyncClient, sessions: sessionmaker[Session], bootstrap: BootstrapResult
) -> None:
    admin = mint(sessions, bootstrap.account_id, created_by=bootstrap.admin_id)
    me = _url(bootstrap, f"/{bootstrap.admin_id}")
    demote = await client.patch(me, json={"role": "member"}, headers=admin.headers)
    assert demote.status_code == 409 and "last admin" in demote.json()["detail"]
    assert (await client.delete(me, headers=admin.headers)).status_code == 409
    # with a second admin, the first may go; their token then loses admin power
    second = add_user(sessions, bootstrap.account_id, role="admin")
    assert (
        await client.patch(me, json={"role": "member"}, headers=admin.headers)
    ).status_code == 200
    assert (await client.get(_url(bootstrap), headers=admin.headers)).status_code == 403
    theirs = mint(sessions, bootstrap.account_id, created_by=second)
    last = _url(bootstrap, f"/{second}")
    assert (await client.delete(last, headers=theirs.headers)).status_code == 409


async def test_deleting_an_admin_removes_their_tokens_admin_power(
    client: httpx.AsyncClient, sessions: sessionmaker[Session], bootstrap: BootstrapResult
) -> None:
    admin = mint(sessions, bootstrap.account_id, created_by=bootstrap.admin_id)
    leaving = add_user(sessions, bootstrap.account_id, role="admin")
    theirs = mint(sessions, bootstrap.account_id, created_by=leaving)
    tokens_url = f"/v1/accounts/{bootstrap.account_id}/api_tokens"
    assert (await client.get(tokens_url, headers=theirs.headers)).status_code == 200
    assert (
        await client.delete(_url(bootstrap, f"/{leaving}"), headers=admin.headers)
    ).status_code == 204
    assert (await client.get(tokens_url, headers=theirs.headers)).status_code == 403
    assert (await client.get("/api/me", headers=theirs.headers)).status_code == 200
    listed = (await client.get(tokens_url, headers=admin.headers)).json()["items"]
    assert {t["id"]: t["creator"] for t in listed}[theirs.id] is None


async def test_other_accounts_users_answer_404(
    client: httpx.AsyncClient, sessions: sessionmaker[Session], bootstrap: BootstrapResult
) -> None:
    admin = mint(sessions, bootstrap.account_id, created_by=bootstrap.admin_id)
    other = add_account(sessions)
    for method, body in (("GET", None), ("PATCH", {"role": "member"}), ("DELETE", None)):
        response = await client.request(
            method, _url(bootstrap, f"/{other.admin_id}"), json=body, headers=admin.headers
        )
        assert response.status_code == 404
    with sessions() as session:
        assert session.get_one(User, other.admin_id).role == "admin"
