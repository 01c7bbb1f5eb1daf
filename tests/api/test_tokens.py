"""Token management: admins only, the secret shown once, deletion for good, plans, isolation."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from headwater.security.scopes import ACCOUNT_SCOPES
from headwater.security.tokens import TOKEN_PREFIX, hash_token
from headwater.services.auth import Principal, principal_for_user
from headwater.services.bootstrap import BootstrapResult
from headwater.store.models import Account, ApiToken, AuditEvent, User
from tests.api.tokenhelp import Minted, add_account, add_environment, add_user, mint

pytestmark = pytest.mark.anyio

# An admin's full token: a token grants only scopes it holds itself (see
# tests/security/test_token_escalation.py), so the token that creates others holds them all.
ADMIN_SCOPES = sorted(ACCOUNT_SCOPES)


def _admin_token(sessions: sessionmaker[Session], bootstrap: BootstrapResult) -> Minted:
    return mint(sessions, bootstrap.account_id, created_by=bootstrap.admin_id, scopes=ADMIN_SCOPES)


def _url(bootstrap: BootstrapResult, suffix: str = "") -> str:
    return f"/v1/accounts/{bootstrap.account_id}/api_tokens{suffix}"


async def test_create_shows_the_secret_once_and_never_again(
    client: httpx.AsyncClient,
    sessions: sessionmaker[Session],
    bootstrap: BootstrapResult,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    admin = _admin_token(sessions, bootstrap)
    response = await client.post(
        _url(bootstrap),
        json={"name": "ci deploys", "scopes": ["river:list", "river:execute"]},
        headers=admin.headers,
    )
    assert response.status_code == 201, response.text
    created = response.json()
    secret = created["token"]
    assert secret.startswith(TOKEN_PREFIX) and len(secret) >= 40
    assert created["name"] == "ci deploys"
    assert created["scopes"] == ["river:execute", "river:list"]
    assert created["environment_ids"] is None
    assert created["created_by"] == bootstrap.admin_id
    assert created["creator"]["email"] == bootstrap.admin_email
    assert created["expires_at"] is None and created["last_used_at"] is None

    listed = await client.get(_url(bootstrap), headers=admin.headers)
    viewed = await client.get(_url(bootstrap, f"/{created['id']}"), headers=admin.headers)
    assert viewed.status_code == 200
    assert viewed.json()["scopes"] == ["river:execute", "river:list"]
    assert "token" not in viewed.json()
    names = [t["name"] for t in listed.json()["items"]]
    assert "ci deploys" in names
    for text in (listed.text, viewed.text):
        assert secret not in text
    with sessions() as session:
        row = session.get_one(ApiToken, created["id"])
        assert row.token_hash == hash_token(secret)
        stored = [repr(getattr(row, c.key)) for c in ApiToken.__table__.columns]
        assert all(secret not in value for value in stored)
        events = session.scalars(select(AuditEvent)).all()
        assert "token.created" in [e.action for e in events]
        assert all(secret not in repr(e.details) for e in events)
    assert secret not in caplog.text

    # the new token works, for its scopes only
    use = {"Authorization": f"Bearer {secret}"}
    assert (await client.get("/api/me", headers=use)).status_code == 403
    assert (await client.get(_url(bootstrap), headers=use)).status_code == 403


async def test_list_shows_name_dates_creator_scopes_last_use_expiry(
    client: httpx.AsyncClient, sessions: sessionmaker[Session], bootstrap: BootstrapResult
) -> None:
    admin = _admin_token(sessions, bootstrap)
    await client.get("/api/me", headers=admin.headers)
    body = (await client.get(_url(bootstrap), headers=admin.headers)).json()
    (item,) = body["items"]
    assert set(item) >= {
        "id",
        "name",
        "created_at",
        "created_by",
        "creator",
        "scopes",
        "last_used_at",
        "expires_at",
        "environment_ids",
    }
    assert item["last_used_at"] == "2026-11-01T12:00:00Z"  # the FakeClock's time
    assert item["creator"] == {
        "user_id": bootstrap.admin_id,
        "email": bootstrap.admin_email,
        "name": "Admin",
    }


async def test_deleted_token_fails_at_once_and_is_gone(
    client: httpx.AsyncClient, sessions: sessionmaker[Session], bootstrap: BootstrapResult
) -> None:
    admin = _admin_token(sessions, bootstrap)
    victim = mint(sessions, bootstrap.account_id, created_by=bootstrap.admin_id)
    assert (await client.get("/api/me", headers=victim.headers)).status_code == 200
    deleted = await client.delete(_url(bootstrap, f"/{victim.id}"), headers=admin.headers)
    assert deleted.status_code == 204
    after = await client.get("/api/me", headers=victim.headers)
    assert after.status_code == 401
    assert after.json() == {"detail": "Credentials are not valid"}
    assert (
        await client.get(_url(bootstrap, f"/{victim.id}"), headers=admin.headers)
    ).status_code == 404
    again = await client.delete(_url(bootstrap, f"/{victim.id}"), headers=admin.headers)
    assert again.status_code == 404
    listed = (await client.get(_url(bootstrap), headers=admin.headers)).json()["items"]
    assert victim.id not in [t["id"] for t in listed]
    with sessions() as session:
        row = session.get_one(ApiToken, victim.id)
        assert row.deleted_at is not None and row.deletion_reason == "deleted"
        assert row.deleted_by == bootstrap.admin_id
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.entity_id == victim.id)
        ).all()
        assert actions == ["token.deleted"]


async def test_a_token_can_delete_itself_and_stops_working(
    client: httpx.AsyncClient, sessions: sessionmaker[Session], bootstrap: BootstrapResult
) -> None:
    admin = _admin_token(sessions, bootstrap)
    assert (
        await client.delete(_url(bootstrap, f"/{admin.id}"), headers=admin.headers)
    ).status_code == 204
    assert (await client.get(_url(bootstrap), headers=admin.headers)).status_code == 401


async def test_deleted_token_value_is_never_issued_again(
    client: httpx.AsyncClient,
    sessions: sessionmaker[Session],
    bootstrap: BootstrapResult,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    admin = _admin_token(sessions, bootstrap)
    fresh = f"{TOKEN_PREFIX}{'b' * 43}"
    issued = iter([admin.secret, fresh])  # first draw collides with an existing token
    monkeypatch.setattr("headwater.services.tokens.new_token_secret", lambda: next(issued))
    await client.delete(_url(bootstrap, f"/{admin.id}"), headers=admin.headers)
    second = mint(
        sessions, bootstrap.account_id, created_by=bootstrap.admin_id, scopes=ADMIN_SCOPES
    )
    response = await client.post(
        _url(bootstrap), json={"name": "x", "scopes": ["me:list"]}, headers=second.headers
    )
    assert response.status_code == 201
    assert response.json()["token"] == fresh
    # a deleted token's value stays unusable even if presented again
    assert (await client.get("/api/me", headers=admin.headers)).status_code == 401


async def test_unknown_scopes_are_named_in_a_422(
    client: httpx.AsyncClient, sessions: sessionmaker[Session], bootstrap: BootstrapResult
) -> None:
    admin = _admin_token(sessions, bootstrap)
    response = await client.post(
        _url(bootstrap),
        json={"name": "x", "scopes": ["river:list", "rivers:fly", "token:steal"]},
        headers=admin.headers,
    )
    assert response.status_code == 422
    assert "rivers:fly" in response.text and "token:steal" in response.text
    assert "river:list," not in response.text
    with sessions() as session:
        assert len(session.scalars(select(ApiToken)).all()) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"name": "", "scopes": ["me:list"]},
        {"name": "x", "scopes": []},
        {"name": "x", "scopes": ["me:list"], "secret": "mine"},
        {"scopes": ["me:list"]},
    ],
)
async def test_invalid_create_bodies_are_422(
    client: httpx.AsyncClient,
    sessions: sessionmaker[Session],
    bootstrap: BootstrapResult,
    body: dict[str, Any],
) -> None:
    admin = _admin_token(sessions, bootstrap)
    response = await client.post(_url(bootstrap), json=body, headers=admin.headers)
    assert response.status_code == 422


async def test_granted_environments(
    client: httpx.AsyncClient, sessions: sessionmaker[Session], bootstrap: BootstrapResult
) -> None:
    admin = _admin_token(sessions, bootstrap)
    staging = add_environment(sessions, bootstrap.account_id, "staging")
    response = await client.post(
        _url(bootstrap),
        json={
            "name": "staging only",
            "scopes": ["me:list", "audit:list"],
            "environment_ids": [staging],
        },
        headers=admin.headers,
    )
    assert response.status_code == 201
    assert response.json()["environment_ids"] == [staging]
    headers = {"Authorization": f"Bearer {response.json()['token']}"}
    base = f"/v1/accounts/{bootstrap.account_id}/environments"
    assert (await client.get(f"{base}/{staging}/audit_events", headers=headers)).status_code == 200
    denied = await client.get(f"{base}/{bootstrap.environment_id}/audit_events", headers=headers)
    assert denied.status_code == 403
    assert bootstrap.environment_id in denied.json()["detail"]
    me = (await client.get("/api/me", headers=headers)).json()
    assert me["environment_id"] == staging and me["environment_ids"] == [staging]

    other = add_account(sessions)
    foreign = await client.post(
        _url(bootstrap),
        json={"name": "x", "scopes": ["me:list"], "environment_ids": [other.environment_id]},
        headers=admin.headers,
    )
    assert foreign.status_code == 422
    assert other.environment_id in foreign.json()["detail"]


def _member_console(app: FastAPI, sessions: sessionmaker[Session], user_id: str) -> None:
    """Stand-in for the later console login: requests with ``X-Test-User`` act as that user."""

    def authenticate(request: Request, session: Session) -> Principal | None:
        if request.headers.get("x-test-user") != user_id:
            return None
        return principal_for_user(session.get_one(User, user_id))

    app.state.console_authenticator = authenticate


def _management_calls(bootstrap: BootstrapResult, token_id: str) -> list[tuple[str, str, Any]]:
    return [
        ("GET", _url(bootstrap), None),
        ("POST", _url(bootstrap), {"name": "x", "scopes": ["me:list"]}),
        ("GET", _url(bootstrap, f"/{token_id}"), None),
        ("DELETE", _url(bootstrap, f"/{token_id}"), None),
    ]


async def test_members_get_403_on_every_management_route(
    app: FastAPI,
    client: httpx.AsyncClient,
    sessions: sessionmaker[Session],
    bootstrap: BootstrapResult,
) -> None:
    member_id = add_user(sessions, bootstrap.account_id, role="member")
    _member_console(app, sessions, member_id)
    target = mint(sessions, bootstrap.account_id, created_by=bootstrap.admin_id)
    member_token = mint(sessions, bootstrap.account_id, created_by=member_id)
    for headers in ({"X-Test-User": member_id}, member_token.headers):
        for method, url, body in _management_calls(bootstrap, target.id):
            response = await client.request(method, url, json=body, headers=headers)
            assert response.status_code == 403, (method, url, response.text)
            detail = response.json()["detail"]
            # a member's session lacks the token scopes; a member's token lacks admin power
            assert "Only account admins" in detail or "lacks the scope 'token:" in detail
    assert (await client.get("/api/me", headers=target.headers)).status_code == 200
    # an admin's console session may manage tokens
    admin_console_id = add_user(sessions, bootstrap.account_id, role="admin")
    _member_console(app, sessions, admin_console_id)
    listed = await client.get(_url(bootstrap), headers={"X-Test-User": admin_console_id})
    assert listed.status_code == 200


async def test_demoting_the_creator_removes_the_tokens_admin_power(
    client: httpx.AsyncClient, sessions: sessionmaker[Session], bootstrap: BootstrapResult
) -> None:
    second_admin = add_user(sessions, bootstrap.account_id, role="admin")
    theirs = mint(sessions, bootstrap.account_id, created_by=second_admin, scopes=ADMIN_SCOPES)
    assert (await client.get(_url(bootstrap), headers=theirs.headers)).status_code == 200
    with sessions() as session:
        session.get_one(User, second_admin).role = "member"
        session.commit()
    response = await client.get(_url(bootstrap), headers=theirs.headers)
    assert response.status_code == 403
    assert (await client.get("/api/me", headers=theirs.headers)).status_code == 200


async def test_another_accounts_tokens_answer_404(
    client: httpx.AsyncClient, sessions: sessionmaker[Session], bootstrap: BootstrapResult
) -> None:
    admin = _admin_token(sessions, bootstrap)
    other = add_account(sessions)
    theirs = mint(sessions, other.account_id, created_by=other.admin_id)
    foreign = f"/v1/accounts/{other.account_id}/api_tokens"
    for method, url, body in [
        ("GET", foreign, None),
        ("POST", foreign, {"name": "x", "scopes": ["me:list"]}),
        ("GET", f"{foreign}/{theirs.id}", None),
        ("DELETE", f"{foreign}/{theirs.id}", None),
        ("GET", _url(bootstrap, f"/{theirs.id}"), None),
        ("DELETE", _url(bootstrap, f"/{theirs.id}"), None),
    ]:
        response = await client.request(method, url, json=body, headers=admin.headers)
        assert response.status_code == 404, (method, url)
    missing = await client.get(f"/v1/accounts/{'f' * 24}/api_tokens", headers=admin.headers)
    assert missing.status_code == 404 and missing.json() == {
        "detail": f"Account {'f' * 24} was not found"
    }
    assert (await client.get("/api/me", headers=theirs.headers)).status_code == 200


async def test_starter_accounts_cannot_create_tokens(
    client: httpx.AsyncClient, sessions: sessionmaker[Session], bootstrap: BootstrapResult
) -> None:
    admin = _admin_token(sessions, bootstrap)
    with sessions() as session:
        session.get_one(Account, bootstrap.account_id).plan = "starter"
        session.commit()
    response = await client.post(
        _url(bootstrap), json={"name": "x", "scopes": ["me:list"]}, headers=admin.headers
    )
    assert response.status_code == 403
    assert "starter plan" in response.json()["detail"]
    assert (await client.get(_url(bootstrap), headers=admin.headers)).status_code == 200
