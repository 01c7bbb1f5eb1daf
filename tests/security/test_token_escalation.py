"""Privilege escalation through tokens and users: each finding replayed as it was found.

The findings (all answered 201 before the fix):

- a token limited to one environment, holding ``token:edit``, created a token for every
  environment (``environment_ids`` omitted);
- a token holding only ``token:edit`` created one with ``account:write`` and ``user:edit``;
- siblings: a ``user:edit`` token created an admin user (every scope, every environment) and
  got its password back, an environment-limited token created users and changed the plan.

The rule now: a token (or user) grants only scopes and environments it holds itself; managing
tokens and users stays admin-only; a member can do none of it, by token, API session or form.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from headwater.security.scopes import ACCOUNT_SCOPES, MEMBER_SCOPES
from headwater.services.bootstrap import BootstrapResult
from headwater.store.models import ApiToken, User
from tests.api.tokenhelp import Minted, add_environment, add_user, mint
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.web.forms import page_csrf, sign_in

pytestmark = pytest.mark.anyio

MEMBER_PASSWORD = "pw-for-tests"  # what tokenhelp.add_user sets


def _tokens(boot: BootstrapResult, suffix: str = "") -> str:
    return f"/v1/accounts/{boot.account_id}/api_tokens{suffix}"


def _users(boot: BootstrapResult, suffix: str = "") -> str:
    return f"/v1/accounts/{boot.account_id}/users{suffix}"


def _token_count(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(ApiToken)) or 0)


def _admin_count(sessions: sessionmaker[Session], account_id: str) -> int:
    with sessions() as session:
        query = select(func.count()).select_from(User)
        where = query.where(User.account_id == account_id, User.role == "admin")
        return int(session.scalar(where) or 0)


@pytest.fixture
def admin_token(
    sessions: sessionmaker[Session], bootstrap: BootstrapResult
) -> Callable[..., Minted]:
    """A token created by the account's admin (so it has admin power), with given scopes."""

    def make(scopes: Any, environment_ids: list[str] | None = None) -> Minted:
        return mint(
            sessions,
            bootstrap.account_id,
            created_by=bootstrap.admin_id,
            scopes=scopes,
            environment_ids=environment_ids,
        )

    return make


@asynccontextmanager
async def signed_in(app: FastAPI, email: str, password: str) -> AsyncIterator[httpx.AsyncClient]:
    """A browser of its own (own cookie jar) signed in to the console."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as browser:
        response = await sign_in(browser, email, password)
        assert response.status_code == 303, response.text
        yield browser


# -- finding 1: the environment-limited token --------------------------------------------------


async def test_environment_limited_token_cannot_grant_other_or_all_environments(
    client: httpx.AsyncClient,
    sessions: sessionmaker[Session],
    bootstrap: BootstrapResult,
    admin_token: Callable[..., Minted],
) -> None:
    staging = add_environment(sessions, bootstrap.account_id, "staging")
    limited = admin_token(ACCOUNT_SCOPES, environment_ids=[staging])
    before = _token_count(sessions)

    # as found: environment_ids omitted = every environment, also the production default one
    as_found = await client.post(
        _tokens(bootstrap),
        json={"name": "all envs", "scopes": ["river:list"]},
        headers=limited.headers,
    )
    assert as_found.status_code == 403, as_found.text
    assert "limited to environments" in as_found.json()["detail"] and staging in as_found.text
    named = await client.post(
        _tokens(bootstrap),
        json={
            "name": "prod",
            "scopes": ["river:list"],
            "environment_ids": [bootstrap.environment_id],
        },
        headers=limited.headers,
    )
    assert named.status_code == 403 and bootstrap.environment_id in named.json()["detail"]
    assert _token_count(sessions) == before

    # within its own environment it still works, and the new token is limited the same way
    ok = await client.post(
        _tokens(bootstrap),
        json={"name": "staging ci", "scopes": ["river:list"], "environment_ids": [staging]},
        headers=limited.headers,
    )
    assert ok.status_code == 201, ok.text
    assert ok.json()["environment_ids"] == [staging]
    new = {"Authorization": f"Bearer {ok.json()['token']}"}
    base = f"/v1/accounts/{bootstrap.account_id}/environments"
    assert (await client.get(f"{base}/{staging}/rivers", headers=new)).status_code == 200
    assert (
        await client.get(f"{base}/{bootstrap.environment_id}/rivers", headers=new)
    ).status_code == 403


async def test_environment_limited_token_sees_and_deletes_only_tokens_inside_its_reach(
    client: httpx.AsyncClient,
    sessions: sessionmaker[Session],
    bootstrap: BootstrapResult,
    admin_token: Callable[..., Minted],
) -> None:
    staging = add_environment(sessions, bootstrap.account_id, "staging")
    limited = admin_token(ACCOUNT_SCOPES, environment_ids=[staging])
    everywhere = admin_token(["river:list"])
    production = admin_token(["river:list"], environment_ids=[bootstrap.environment_id])
    inside = admin_token(["river:list"], environment_ids=[staging])
    listed = await client.get(_tokens(bootstrap), headers=limited.headers)
    assert listed.status_code == 200
    ids = {t["id"] for t in listed.json()["items"]}
    assert inside.id in ids and limited.id in ids
    assert everywhere.id not in ids and production.id not in ids
    for other in (everywhere, production):
        for method in ("GET", "DELETE"):
            answer = await client.request(
                method, _tokens(bootstrap, f"/{other.id}"), headers=limited.headers
            )
            assert answer.status_code == 404, (method, answer.text)
        assert (await client.get("/api/me", headers=other.headers)).status_code == 403  # alive
    gone = await client.delete(_tokens(bootstrap, f"/{inside.id}"), headers=limited.headers)
    assert gone.status_code == 204


# -- finding 2: the token:edit-only token ------------------------------------------------------


async def test_token_edit_only_token_cannot_grant_scopes_it_lacks(
    client: httpx.AsyncClient,
    sessions: sessionmaker[Session],
    bootstrap: BootstrapResult,
    admin_token: Callable[..., Minted],
) -> None:
    narrow = admin_token(["token:edit"])
    before = _token_count(sessions)
    as_found = await client.post(
        _tokens(bootstrap),
        json={"name": "escalated", "scopes": ["account:write", "user:edit"]},
        headers=narrow.headers,
    )
    assert as_found.status_code == 403, as_found.text
    detail = as_found.json()["detail"]
    assert "account:write" in detail and "user:edit" in detail and "token:edit" not in detail
    # one scope above its own is enough to refuse the whole request
    mixed = await client.post(
        _tokens(bootstrap),
        json={"name": "m", "scopes": ["token:edit", "river:list"]},
        headers=narrow.headers,
    )
    assert mixed.status_code == 403 and "river:list" in mixed.json()["detail"]
    assert _token_count(sessions) == before
    same = await client.post(
        _tokens(bootstrap), json={"name": "peer", "scopes": ["token:edit"]}, headers=narrow.headers
    )
    assert same.status_code == 201, same.text
    assert same.json()["scopes"] == ["token:edit"]


async def test_instance_scope_is_granted_only_by_instance_admins(
    client: httpx.AsyncClient,
    sessions: sessionmaker[Session],
    bootstrap: BootstrapResult,
) -> None:
    """A second account admin holds every account scope but not ``instance:admin``."""
    second = add_user(sessions, bootstrap.account_id, role="admin")
    full = mint(sessions, bootstrap.account_id, created_by=second, scopes=ACCOUNT_SCOPES)
    refused = await client.post(
        _tokens(bootstrap),
        json={"name": "root", "scopes": ["instance:admin"]},
        headers=full.headers,
    )
    assert refused.status_code == 403 and "instance:admin" in refused.json()["detail"]
    # a row written with the scope anyway (e.g. before the fix) stays inert for a non-instance admin
    smuggled = mint(sessions, bootstrap.account_id, created_by=second, scopes=["instance:admin"])
    listing = await client.get("/v1/instance/accounts", headers=smuggled.headers)
    assert listing.status_code == 403
    # the instance admin (the first start's admin) may grant it
    boss = mint(sessions, bootstrap.account_id, created_by=bootstrap.admin_id)
    granted = await client.post(
        _tokens(bootstrap), json={"name": "ops", "scopes": ["instance:admin"]}, headers=boss.headers
    )
    assert granted.status_code == 201, granted.text
    ops = {"Authorization": f"Bearer {granted.json()['token']}"}
    assert (await client.get("/v1/instance/accounts", headers=ops)).status_code == 200


# -- siblings: users ---------------------------------------------------------------------------


async def test_user_edit_token_cannot_create_or_promote_admins(
    client: httpx.AsyncClient,
    sessions: sessionmaker[Session],
    bootstrap: BootstrapResult,
    admin_token: Callable[..., Minted],
) -> None:
    narrow = admin_token(["user:edit", "user:list"])
    member = add_user(sessions, bootstrap.account_id, role="member")
    admins = _admin_count(sessions, bootstrap.account_id)
    # as found: a new admin with a generated password, i.e. a console login with every scope
    as_found = await client.post(
        _users(bootstrap),
        json={"email": "mallory@example.com", "role": "admin"},
        headers=narrow.headers,
    )
    assert as_found.status_code == 403, as_found.text
    assert "account:write" in as_found.json()["detail"]
    promote = await client.patch(
        _users(bootstrap, f"/{member}"), json={"role": "admin"}, headers=narrow.headers
    )
    assert promote.status_code == 403
    # nor a member (the role holds scopes the token lacks), nor touching the admin
    as_member = await client.post(
        _users(bootstrap),
        json={"email": "m2@example.com", "role": "member"},
        headers=narrow.headers,
    )
    assert as_member.status_code == 403 and "river:write" in as_member.json()["detail"]
    for method, body in (("PATCH", {"role": "member"}), ("PATCH", {"name": "x"}), ("DELETE", None)):
        touched = await client.request(
            method, _users(bootstrap, f"/{bootstrap.admin_id}"), json=body, headers=narrow.headers
        )
        assert touched.status_code == 403, (method, touched.text)
    assert _admin_count(sessions, bootstrap.account_id) == admins
    # holding a member's scopes, it may manage members (never admins)
    members = admin_token(MEMBER_SCOPES | {"user:edit"})
    made = await client.post(
        _users(bootstrap),
        json={"email": "m3@example.com", "role": "member"},
        headers=members.headers,
    )
    assert made.status_code == 201, made.text
    again = await client.patch(
        _users(bootstrap, f"/{member}"), json={"role": "admin"}, headers=members.headers
    )
    assert again.status_code == 403 and "account:write" in again.json()["detail"]
    full = admin_token(ACCOUNT_SCOPES)
    ok = await client.patch(
        _users(bootstrap, f"/{member}"), json={"role": "admin"}, headers=full.headers
    )
    assert ok.status_code == 200 and ok.json()["role"] == "admin"


async def test_environment_limited_token_cannot_change_account_wide_things(
    client: httpx.AsyncClient,
    sessions: sessionmaker[Session],
    bootstrap: BootstrapResult,
    admin_token: Callable[..., Minted],
) -> None:
    staging = add_environment(sessions, bootstrap.account_id, "staging")
    limited = admin_token(ACCOUNT_SCOPES, environment_ids=[staging])
    account = f"/v1/accounts/{bootstrap.account_id}"
    for method, url, body in (
        ("POST", _users(bootstrap), {"email": "e@example.com", "role": "member"}),
        ("PATCH", _users(bootstrap, f"/{bootstrap.admin_id}"), {"name": "x"}),
        ("PUT", f"{account}/plan", {"plan": "starter"}),
        ("POST", f"{account}/environments", {"name": "mine"}),
    ):
        answer = await client.request(method, url, json=body, headers=limited.headers)
        assert answer.status_code == 403, (method, url, answer.text)
        assert "limited to some environments" in answer.json()["detail"]
    plan = await client.get(account, headers=limited.headers)
    assert plan.json()["plan"] == "pro"


# -- the member: by token, by API session, by console form -------------------------------------


async def test_member_cannot_manage_tokens_or_make_itself_admin(
    app: FastAPI,
    client: httpx.AsyncClient,
    sessions: sessionmaker[Session],
    bootstrap: BootstrapResult,
) -> None:
    email = "member@example.com"
    member = add_user(sessions, bootstrap.account_id, role="member", email=email)
    its_token = mint(sessions, bootstrap.account_id, created_by=member)  # every scope listed
    calls: list[tuple[str, str, Any]] = [
        ("POST", _tokens(bootstrap), {"name": "mine", "scopes": ["river:list"]}),
        ("PATCH", _users(bootstrap, f"/{member}"), {"role": "admin"}),
        ("POST", _users(bootstrap), {"email": "friend@example.com", "role": "admin"}),
        ("PUT", f"/v1/accounts/{bootstrap.account_id}/plan", {"plan": "enterprise"}),
        ("GET", "/v1/instance/accounts", None),
    ]
    for method, url, body in calls:
        answer = await client.request(method, url, json=body, headers=its_token.headers)
        assert answer.status_code == 403, ("token", method, url, answer.text)
    rivers = (
        f"/console/accounts/{bootstrap.account_id}/environments/{bootstrap.environment_id}/rivers"
    )
    async with signed_in(app, email, MEMBER_PASSWORD) as browser:
        csrf = await page_csrf(browser, rivers)
        for method, url, body in calls:
            answer = await browser.request(method, url, json=body, headers={"X-CSRF-Token": csrf})
            assert answer.status_code == 403, ("session", method, url, answer.text)
        form = await browser.post(
            f"/console/accounts/{bootstrap.account_id}/settings/api-tokens",
            data={"name": "form", "scopes": ["river:list"], "csrf_token": csrf},
        )
        assert form.status_code == 403
        role = await browser.post(
            f"/console/accounts/{bootstrap.account_id}/settings/users/{member}/role",
            data={"role": "admin", "csrf_token": csrf},
        )
        assert role.status_code == 403
    with sessions() as session:
        assert session.get_one(User, member).role == "member"
    assert _token_count(sessions) == 1


async def test_console_form_offers_and_grants_only_held_scopes(
    app: FastAPI, sessions: sessionmaker[Session], bootstrap: BootstrapResult
) -> None:
    """An admin who is not the instance admin neither sees nor can post ``instance:admin``."""
    email = "second-admin@example.com"
    add_user(sessions, bootstrap.account_id, role="admin", email=email)
    base = f"/console/accounts/{bootstrap.account_id}/settings/api-tokens"
    async with signed_in(app, email, MEMBER_PASSWORD) as browser:
        page = await browser.get(f"{base}/new")
        assert page.status_code == 200 and "river:list" in page.text
        assert "instance:admin" not in page.text
        csrf = await page_csrf(browser, f"{base}/new")
        posted = await browser.post(
            base, data={"name": "sneaky", "scopes": ["instance:admin"], "csrf_token": csrf}
        )
        assert posted.status_code == 403 and "instance:admin" in posted.text
    async with signed_in(app, ADMIN_EMAIL, ADMIN_PASSWORD) as boss:
        assert "instance:admin" in (await boss.get(f"{base}/new")).text
    assert _token_count(sessions) == 0


async def test_account_admins_cannot_demote_or_delete_the_instance_admin(
    client: httpx.AsyncClient, sessions: sessionmaker[Session], bootstrap: BootstrapResult
) -> None:
    second = add_user(sessions, bootstrap.account_id, role="admin")
    full = mint(sessions, bootstrap.account_id, created_by=second, scopes=ACCOUNT_SCOPES)
    target = _users(bootstrap, f"/{bootstrap.admin_id}")
    for method, body in (("PATCH", {"role": "member"}), ("DELETE", None)):
        answer = await client.request(method, target, json=body, headers=full.headers)
        assert answer.status_code == 403, (method, answer.text)
        assert "instance admin" in answer.json()["detail"]
    with sessions() as session:
        boss = session.get_one(User, bootstrap.admin_id)
        assert boss.role == "admin" and boss.is_instance_admin
    # the instance admin may still manage the other admin
    own = mint(sessions, bootstrap.account_id, created_by=bootstrap.admin_id)
    demoted = await client.patch(
        _users(bootstrap, f"/{second}"), json={"role": "member"}, headers=own.headers
    )
    assert demoted.status_code == 200 and demoted.json()["role"] == "member"
