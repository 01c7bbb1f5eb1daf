"""``E/webhooks`` over HTTP, on SQLite and PostgreSQL, with a real loopback receiver.

Covers the secret shown once, URL and event validation, the synchronous test ping, the
deliveries listing with attempts, redelivery, disable/delete, isolation (404) and scopes (403).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from headwater.services import webhook_dispatch as dispatch
from headwater.store.models import AuditEvent, User, Webhook, WebhookAttempt, WebhookDelivery
from tests.api.tokenhelp import Minted, OtherAccount, add_account, add_environment, mint
from tests.conftest import FakeClock
from tests.services.webhookhelp import Receiver, add_finished_group, box

pytestmark = pytest.mark.anyio

EDIT = ["webhook:list", "webhook:edit"]


@pytest.fixture
def acct(sessions: sessionmaker[Session]) -> OtherAccount:
    """An account with an environment, without the argon2 cost of ``bootstrap``."""
    return add_account(sessions)


@pytest.fixture
def admin(sessions: sessionmaker[Session], acct: OtherAccount) -> Minted:
    return mint(sessions, acct.account_id, created_by=acct.admin_id, scopes=EDIT)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def _member(sessions: sessionmaker[Session], acct: OtherAccount) -> str:
    """A member user (written directly: ``add_user`` hashes a password with argon2)."""
    with sessions() as session:
        user = User(
            account_id=acct.account_id,
            email=f"member-{acct.account_id}@example.com",
            role="member",
            password_hash="x",
        )
        session.add(user)
        session.commit()
        return user.id


def _url(acct: OtherAccount, suffix: str = "", environment_id: str | None = None) -> str:
    env = environment_id or acct.environment_id
    return f"/v1/accounts/{acct.account_id}/environments/{env}/webhooks{suffix}"


async def _create(
    client: httpx.AsyncClient, acct: OtherAccount, token: Minted, **fields: Any
) -> dict[str, Any]:
    body = {"name": "ops", "url": "https://example.com/hook", "events": ["run_group.failed"]}
    body.update(fields)
    response = await client.post(_url(acct), json=body, headers=token.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def _create_shows_a_generated_secret_once(
    client: httpx.AsyncClient,
    sessions: sessionmaker[Session],
    acct: OtherAccount,
    admin: Minted,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    created = await _create(
        client, acct, admin, events=["run_group.finished", "run_group.failed", "run_group.failed"]
    )
    secret = created["secret"]
    assert secret.startswith("whsec_") and len(secret) >= 40
    assert created["events"] == ["run_group.failed", "run_group.finished"]
    assert created["is_enabled"] is True and created["created_at"] == "2026-11-01T12:00:00Z"
    assert len(created["webhook_id"]) == 24
    assert created["environment_id"] == acct.environment_id

    listed = await client.get(_url(acct), headers=admin.headers)
    viewed = await client.get(_url(acct, f"/{created['webhook_id']}"), headers=admin.headers)
    assert [w["webhook_id"] for w in listed.json()["items"]] == [created["webhook_id"]]
    assert viewed.json()["url"] == "https://example.com/hook"
    for response in (listed, viewed):
        assert response.status_code == 200
        assert secret not in response.text and "secret" not in response.text
    with sessions() as session:
        row = session.get_one(Webhook, created["webhook_id"])
        assert secret not in row.secret
        events = session.scalars(select(AuditEvent).where(AuditEvent.entity_type == "webhook"))
        assert [e.action for e in events] == ["webhook.created"]
    assert secret not in caplog.text


INVALID: list[tuple[dict[str, Any], str]] = [
    ({"url": "ftp://example.com/x"}, "http:// or https://"),
    ({"url": "https://user:pw@example.com/x"}, "credentials"),
    ({"url": "https:///no-host"}, "host"),
    ({"url": "example.com/hook"}, "http:// or https://"),
    ({"url": "https://example.com:99999/x"}, "malformed"),
    ({"events": []}, "at least 1"),
    ({"events": ["run.finished"]}, "run_group.succeeded"),
    ({"secret": "short"}, "at least 16"),
    ({"name": "  "}, "blank"),
    ({"colour": "blue"}, "Extra inputs"),
]


async def _create_validates_url_events_and_secret(
    client: httpx.AsyncClient, acct: OtherAccount, admin: Minted
) -> None:
    for fields, message in INVALID:
        body = {"name": "ops", "url": "https://example.com/hook", "events": ["run_group.failed"]}
        body.update(fields)
        response = await client.post(_url(acct), json=body, headers=admin.headers)
        assert response.status_code == 422, fields
        assert message in response.text, (fields, response.text)
    listed = await client.get(_url(acct), headers=admin.headers)
    assert listed.json()["items"] == []


async def _ping_is_signed_and_returns_the_attempt(
    client: httpx.AsyncClient, acct: OtherAccount, admin: Minted, receiver: Receiver
) -> None:
    secret = "whsec_my-own-chosen-secret-123"
    created = await _create(client, acct, admin, url=receiver.url, secret=secret)
    assert created["secret"] == secret

    response = await client.post(
        _url(acct, f"/{created['webhook_id']}/test"), headers=admin.headers
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["event"], result["status"], result["attempts"]) == ("ping", "succeeded", 1)
    assert result["run_group_id"] is None and result["last_status_code"] == 200
    [attempt] = result["attempt_log"]
    assert (attempt["number"], attempt["status_code"], attempt["error"]) == (1, 200, None)
    assert attempt["response_body"] == "thanks"
    [request] = receiver.requests
    assert request.signature_valid(secret)
    assert request.headers["x-headwater-event"] == "ping"
    assert request.headers["x-headwater-delivery"] == result["delivery_id"]
    assert request.json()["webhook"]["webhook_id"] == created["webhook_id"]

    receiver.fail_next = 1
    failed = (
        await client.post(_url(acct, f"/{created['webhook_id']}/test"), headers=admin.headers)
    ).json()
    assert (failed["status"], failed["last_status_code"], failed["next_attempt_at"]) == (
        "failed",
        500,
        None,
    )
    assert failed["last_error"] == "the receiver answered HTTP 500"
    assert len(receiver.requests) == 2  # a failed ping is not retried


async def test_deliveries_are_listed_newest_first_with_attempts_and_can_be_redelivered(
    client: httpx.AsyncClient,
    sessions: sessionmaker[Session],
    acct: OtherAccount,
    admin: Minted,
    clock: FakeClock,
    receiver: Receiver,
) -> None:
    created = await _create(client, acct, admin, url=receiver.url, events=["run_group.finished"])
    hook = created["webhook_id"]
    clock.advance(minutes=1)
    first = add_finished_group(
        sessions, acct.account_id, acct.environment_id, status="failed", ended=clock()
    )
    receiver.fail_next = 1
    dispatch.dispatch_once(sessions, box(), clock())
    clock.advance(seconds=5)  # before the first delivery's retry is due
    second = add_finished_group(
        sessions, acct.account_id, acct.environment_id, status="succeeded", ended=clock()
    )
    dispatch.dispatch_once(sessions, box(), clock())

    page = await client.get(
        _url(acct, f"/{hook}/deliveries"), params={"items_per_page": 1}, headers=admin.headers
    )
    assert page.status_code == 200, page.text
    body = page.json()
    assert body["total_items"] == 2 and body["next_page"] is not None
    [newest] = body["items"]
    assert (newest["run_group_id"], newest["status"]) == (second, "succeeded")
    assert newest["payload"]["run_group"]["status"] == "succeeded"
    everything = (await client.get(_url(acct, f"/{hook}/deliveries"), headers=admin.headers)).json()
    older = everything["items"][1]
    assert (older["run_group_id"], older["status"], older["attempts"]) == (first, "pending", 1)
    assert [a["status_code"] for a in older["attempt_log"]] == [500]
    pending = await client.get(
        _url(acct, f"/{hook}/deliveries"), params={"status": "pending"}, headers=admin.headers
    )
    assert [d["run_group_id"] for d in pending.json()["items"]] == [first]

    refused = await client.post(
        _url(acct, f"/{hook}/deliveries/{older['delivery_id']}/redeliver"), headers=admin.headers
    )
    assert refused.status_code == 409  # still being retried
    redo = await client.post(
        _url(acct, f"/{hook}/deliveries/{newest['delivery_id']}/redeliver"), headers=admin.headers
    )
    assert redo.status_code == 202, redo.text
    copy = redo.json()
    assert copy["redelivery_of"] == newest["delivery_id"] and copy["status"] == "pending"
    assert copy["delivery_id"] != newest["delivery_id"] and copy["run_group_id"] == second
    dispatch.dispatch_once(sessions, box(), clock())
    resent = receiver.requests[-1]
    assert resent.headers["x-headwater-delivery"] == copy["delivery_id"]
    assert resent.json()["run_group"]["run_group_id"] == second
    missing = await client.post(
        _url(acct, f"/{hook}/deliveries/{'f' * 24}/redeliver"), headers=admin.headers
    )
    assert missing.status_code == 404


async def _patch_disable_and_delete(
    client: httpx.AsyncClient,
    sessions: sessionmaker[Session],
    acct: OtherAccount,
    admin: Minted,
    clock: FakeClock,
    receiver: Receiver,
) -> None:
    created = await _create(client, acct, admin, url=receiver.url)
    hook = _url(acct, f"/{created['webhook_id']}")
    changed = await client.patch(
        hook,
        json={
            "name": "renamed",
            "events": ["run_group.canceled"],
            "secret": "whsec_rotated-0123456",
        },
        headers=admin.headers,
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["name"], changed.json()["events"]) == ("renamed", ["run_group.canceled"])
    assert "whsec_rotated" not in changed.text
    await client.post(f"{hook}/test", headers=admin.headers)
    assert receiver.requests[-1].signature_valid("whsec_rotated-0123456")
    assert (await client.patch(hook, json={"url": None}, headers=admin.headers)).status_code == 422
    bad_url = await client.patch(hook, json={"url": "file:///etc/passwd"}, headers=admin.headers)
    assert bad_url.status_code == 422

    clock.advance(minutes=1)
    add_finished_group(
        sessions, acct.account_id, acct.environment_id, status="canceled", ended=clock()
    )
    dispatch.queue_finished_groups(sessions, clock())
    off = await client.patch(hook, json={"is_enabled": False}, headers=admin.headers)
    assert off.json()["is_enabled"] is False
    with sessions() as session:
        queued = session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.run_group_id.is_not(None))
        ).one()
        assert queued.status == "failed" and queued.last_error is not None
    assert dispatch.dispatch_once(sessions, box(), clock()).sent == 0

    mine = select(WebhookDelivery.id).where(WebhookDelivery.webhook_id == created["webhook_id"])
    attempts = select(func.count()).where(WebhookAttempt.delivery_id.in_(mine))
    with sessions() as session:
        assert session.scalar(attempts) == 1  # the ping's
    assert (await client.delete(hook, headers=admin.headers)).status_code == 204
    assert (await client.get(hook, headers=admin.headers)).status_code == 404
    with sessions() as session:
        assert session.get(Webhook, created["webhook_id"]) is None
        assert session.scalars(mine).all() == []
        assert (
            session.scalar(select(func.count()).where(WebhookAttempt.number >= 1)) == 2
        )  # only the other webhook's two pings are left
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.entity_id == created["webhook_id"])
        ).all()
        assert sorted(actions) == sorted(
            ["webhook.created", "webhook.updated", "webhook.updated", "webhook.deleted"]
        )


async def _other_accounts_and_environments_answer_404(
    client: httpx.AsyncClient, sessions: sessionmaker[Session], acct: OtherAccount, admin: Minted
) -> None:
    created = await _create(client, acct, admin)
    hook_id = created["webhook_id"]
    stranger = add_account(sessions)
    outsider = mint(sessions, stranger.account_id, created_by=stranger.admin_id, scopes=EDIT)
    for method in ("GET", "PATCH", "DELETE"):
        foreign = await client.request(
            method, _url(acct, f"/{hook_id}"), json={"name": "x"}, headers=outsider.headers
        )
        assert foreign.status_code == 404, method
    own_path = _url(stranger, f"/{hook_id}")
    assert (await client.get(own_path, headers=outsider.headers)).status_code == 404
    assert (await client.post(f"{own_path}/test", headers=outsider.headers)).status_code == 404
    staging = add_environment(sessions, acct.account_id, "staging")
    moved = _url(acct, f"/{hook_id}", environment_id=staging)
    assert (await client.get(moved, headers=admin.headers)).status_code == 404
    listed = await client.get(_url(acct, environment_id=staging), headers=admin.headers)
    assert listed.json()["items"] == []


async def _scopes_and_environment_grants_are_enforced(
    client: httpx.AsyncClient, sessions: sessionmaker[Session], acct: OtherAccount, admin: Minted
) -> None:
    created = await _create(client, acct, admin)
    hook = _url(acct, f"/{created['webhook_id']}")
    member = _member(sessions, acct)
    reader = mint(sessions, acct.account_id, created_by=member, scopes=["webhook:list"])
    assert (await client.get(hook, headers=reader.headers)).status_code == 200
    assert (await client.get(f"{hook}/deliveries", headers=reader.headers)).status_code == 200
    for method, path in [
        ("POST", _url(acct)),
        ("PATCH", hook),
        ("DELETE", hook),
        ("POST", f"{hook}/test"),
        ("POST", f"{hook}/deliveries/{'a' * 24}/redeliver"),
    ]:
        answer = await client.request(method, path, json={}, headers=reader.headers)
        assert answer.status_code == 403, (method, path)
        assert "webhook:edit" in answer.json()["detail"]
    blind = mint(sessions, acct.account_id, created_by=member, scopes=["river:list"])
    assert (await client.get(_url(acct), headers=blind.headers)).status_code == 403
    staging = add_environment(sessions, acct.account_id, "fenced")
    fenced = mint(
        sessions, acct.account_id, created_by=member, scopes=EDIT, environment_ids=[staging]
    )
    assert (await client.get(_url(acct), headers=fenced.headers)).status_code == 403
    assert (await client.get(_url(acct))).status_code == 401


# One app per test (its first request builds the whole route table, ~1 s), so the checks
# above run as a few tests rather than one each.


async def test_create_validation_and_the_secret_shown_once(
    client: httpx.AsyncClient,
    sessions: sessionmaker[Session],
    acct: OtherAccount,
    admin: Minted,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await _create_validates_url_events_and_secret(client, acct, admin)
    await _create_shows_a_generated_secret_once(client, sessions, acct, admin, caplog)


async def test_ping_patch_disable_and_delete(
    client: httpx.AsyncClient,
    sessions: sessionmaker[Session],
    acct: OtherAccount,
    admin: Minted,
    clock: FakeClock,
    receiver: Receiver,
) -> None:
    await _ping_is_signed_and_returns_the_attempt(client, acct, admin, receiver)
    await _patch_disable_and_delete(client, sessions, acct, admin, clock, receiver)


async def test_isolation_404_and_scopes_403(
    client: httpx.AsyncClient, sessions: sessionmaker[Session], acct: OtherAccount, admin: Minted
) -> None:
    await _other_accounts_and_environments_answer_404(client, sessions, acct, admin)
    await _scopes_and_environment_grants_are_enforced(client, sessions, acct, admin)
