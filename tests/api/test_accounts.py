"""Plans: admins change them; a move to starter gives tokens a notice period, then the sweeper
deletes them; moving back before the end cancels the expiry. Driven by the fake clock."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from headwater.services.bootstrap import BootstrapResult
from headwater.services.tokens import sweep_expired_tokens
from headwater.store.base import utcnow
from headwater.store.models import ApiToken, AuditEvent, PlanChange
from tests.api.tokenhelp import add_account, add_user, mint
from tests.conftest import FakeClock

pytestmark = pytest.mark.anyio


def _plan_url(bootstrap: BootstrapResult) -> str:
    return f"/v1/accounts/{bootstrap.account_id}/plan"


def _sweep(sessions: sessionmaker[Session], clock: FakeClock) -> int:
    with sessions() as session:
        return sweep_expired_tokens(session, clock.now)


async def test_account_view_shows_plan_and_history(
    client: httpx.AsyncClient, sessions: sessionmaker[Session], bootstrap: BootstrapResult
) -> None:
    token = mint(sessions, bootstrap.account_id, created_by=bootstrap.admin_id)
    body = (await client.get(f"/v1/accounts/{bootstrap.account_id}", headers=token.headers)).json()
    assert body["id"] == bootstrap.account_id and body["plan"] == "pro"
    assert [(c["from_plan"], c["to_plan"]) for c in body["plan_history"]] == [(None, "pro")]
    assert body["pending_downgrade"] is None


async def test_downgrade_gives_tokens_14_days_then_the_sweeper_deletes_them(
    client: httpx.AsyncClient,
    sessions: sessionmaker[Session],
    bootstrap: BootstrapResult,
    clock: FakeClock,
) -> None:
    clock.now = utcnow()  # after the bootstrap's own plan change, so the history reads in order
    admin = mint(sessions, bootstrap.account_id, created_by=bootstrap.admin_id)
    other_token = mint(
        sessions, bootstrap.account_id, created_by=bootstrap.admin_id, scopes=["me:list"]
    )
    other_account = add_account(sessions)
    bystander = mint(sessions, other_account.account_id, created_by=other_account.admin_id)
    downgraded_at = clock.now

    response = await client.put(
        _plan_url(bootstrap), json={"plan": "starter"}, headers=admin.headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    ends = downgraded_at + timedelta(days=14)
    assert body["plan"] == "starter"
    assert body["pending_downgrade"] == {
        "tokens_expire_at": ends.isoformat().replace("+00:00", "Z"),
        "tokens_affected": 2,
    }
    assert [c["to_plan"] for c in body["plan_history"]] == ["pro", "starter"]

    listed = (
        await client.get(f"/v1/accounts/{bootstrap.account_id}/api_tokens", headers=admin.headers)
    ).json()["items"]
    assert {t["expires_at"] for t in listed} == {ends.isoformat().replace("+00:00", "Z")}

    clock.advance(days=14, seconds=-1)
    assert (await client.get("/api/me", headers=other_token.headers)).status_code == 200
    assert _sweep(sessions, clock) == 0

    clock.advance(seconds=1)
    assert (await client.get("/api/me", headers=other_token.headers)).status_code == 401
    assert _sweep(sessions, clock) == 2
    assert _sweep(sessions, clock) == 0  # idempotent
    assert (await client.get("/api/me", headers=bystander.headers)).status_code == 200
    with sessions() as session:
        rows = session.scalars(
            select(ApiToken).where(ApiToken.account_id == bootstrap.account_id)
        ).all()
        assert {(r.deletion_reason, r.deleted_at) for r in rows} == {("expired", clock.now)}
        expired = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "token.expired")
        ).all()
        assert {e.entity_id for e in expired} == {admin.id, other_token.id}
        assert {e.actor_type for e in expired} == {"system"}
    # upgrading after the notice ended does not revive anything
    second_admin = mint(sessions, bootstrap.account_id, created_by=bootstrap.admin_id)
    await client.put(_plan_url(bootstrap), json={"plan": "pro"}, headers=second_admin.headers)
    assert (await client.get("/api/me", headers=admin.headers)).status_code == 401


async def test_upgrading_before_the_end_cancels_the_expiry(
    client: httpx.AsyncClient,
    sessions: sessionmaker[Session],
    bootstrap: BootstrapResult,
    clock: FakeClock,
) -> None:
    clock.now = utcnow()  # after the bootstrap's own plan change, so the history reads in order
    admin = mint(sessions, bootstrap.account_id, created_by=bootstrap.admin_id)
    await client.put(_plan_url(bootstrap), json={"plan": "starter"}, headers=admin.headers)
    clock.advance(days=10)
    response = await client.put(
        _plan_url(bootstrap), json={"plan": "enterprise"}, headers=admin.headers
    )
    assert response.status_code == 200
    assert response.json()["pending_downgrade"] is None
    clock.advance(days=30)
    assert _sweep(sessions, clock) == 0
    assert (await client.get("/api/me", headers=admin.headers)).status_code == 200
    listed = (
        await client.get(f"/v1/accounts/{bootstrap.account_id}/api_tokens", headers=admin.headers)
    ).json()["items"]
    assert [t["expires_at"] for t in listed] == [None]
    with sessions() as session:
        changes = session.scalars(select(PlanChange).order_by(PlanChange.changed_at)).all()
        assert [(c.from_plan, c.to_plan) for c in changes] == [
            (None, "pro"),
            ("pro", "starter"),
            ("starter", "enterprise"),
        ]
        assert changes[-1].changed_by == bootstrap.admin_id
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.action == "plan.changed")
        ).all()
        assert len(actions) == 2


async def test_notice_days_come_from_settings(
    client: httpx.AsyncClient,
    sessions: sessionmaker[Session],
    bootstrap: BootstrapResult,
    clock: FakeClock,
    app: FastAPI,
) -> None:
    app.state.settings = app.state.settings.model_copy(update={"plan_downgrade_notice_days": 3})
    admin = mint(sessions, bootstrap.account_id, created_by=bootstrap.admin_id)
    await client.put(_plan_url(bootstrap), json={"plan": "starter"}, headers=admin.headers)
    clock.advance(days=3)
    assert (await client.get("/api/me", headers=admin.headers)).status_code == 401


async def test_same_plan_and_pro_to_enterprise_do_not_touch_tokens(
    client: httpx.AsyncClient, sessions: sessionmaker[Session], bootstrap: BootstrapResult
) -> None:
    admin = mint(sessions, bootstrap.account_id, created_by=bootstrap.admin_id)
    for plan in ("pro", "enterprise", "pro"):
        response = await client.put(
            _plan_url(bootstrap), json={"plan": plan}, headers=admin.headers
        )
        assert response.status_code == 200 and response.json()["pending_downgrade"] is None
    with sessions() as session:
        assert session.get_one(ApiToken, admin.id).expires_at is None
        assert len(session.scalars(select(PlanChange)).all()) == 3  # bootstrap + 2 real changes


async def test_plan_changes_need_an_admin_the_scope_and_a_known_plan(
    client: httpx.AsyncClient, sessions: sessionmaker[Session], bootstrap: BootstrapResult
) -> None:
    member = add_user(sessions, bootstrap.account_id, role="member")
    member_token = mint(sessions, bootstrap.account_id, created_by=member)
    response = await client.put(
        _plan_url(bootstrap), json={"plan": "starter"}, headers=member_token.headers
    )
    assert response.status_code == 403 and "admins" in response.json()["detail"]
    unscoped = mint(
        sessions, bootstrap.account_id, created_by=bootstrap.admin_id, scopes=["me:list"]
    )
    response = await client.put(
        _plan_url(bootstrap), json={"plan": "starter"}, headers=unscoped.headers
    )
    assert response.status_code == 403 and "account:write" in response.json()["detail"]
    admin = mint(sessions, bootstrap.account_id, created_by=bootstrap.admin_id)
    bad = await client.put(_plan_url(bootstrap), json={"plan": "free"}, headers=admin.headers)
    assert bad.status_code == 422
    with sessions() as session:
        assert len(session.scalars(select(PlanChange)).all()) == 1
