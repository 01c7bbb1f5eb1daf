"""``E/audit_events``: environment plus account-level events, time window, action filter,
paging envelope with full next/previous URLs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from headwater.services.audit import Actor, record
from headwater.services.bootstrap import BootstrapResult
from tests.api.tokenhelp import Minted, add_account, add_environment, mint

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def _seed(sessions: sessionmaker[Session], bootstrap: BootstrapResult) -> tuple[str, Minted]:
    """Events at T0 + n hours: 0..4 in the default env, 5 account-level, 6 in staging."""
    staging = add_environment(sessions, bootstrap.account_id, "staging")
    other = add_account(sessions)
    with sessions() as session:
        for hour in range(5):
            record(
                session,
                account_id=bootstrap.account_id,
                actor=Actor.system(),
                action="river.created" if hour % 2 == 0 else "river.deleted",
                entity_type="river",
                entity_id=f"r{hour}",
                environment_id=bootstrap.environment_id,
                occurred_at=T0 + timedelta(hours=hour),
            )
        record(
            session,
            account_id=bootstrap.account_id,
            actor=Actor.system(),
            action="token.created",
            entity_type="api_token",
            entity_id="t5",
            occurred_at=T0 + timedelta(hours=5),
        )
        record(
            session,
            account_id=bootstrap.account_id,
            actor=Actor.system(),
            action="river.created",
            entity_type="river",
            entity_id="r6",
            environment_id=staging,
            occurred_at=T0 + timedelta(hours=6),
        )
        record(
            session,
            account_id=other.account_id,
            actor=Actor.system(),
            action="river.created",
            entity_type="river",
            entity_id="foreign",
            occurred_at=T0 + timedelta(hours=1),
        )
        session.commit()
    token = mint(
        sessions, bootstrap.account_id, created_by=bootstrap.admin_id, scopes=["audit:list"]
    )
    return staging, token


def _url(bootstrap: BootstrapResult, environment_id: str | None = None) -> str:
    env = environment_id or bootstrap.environment_id
    return f"/v1/accounts/{bootstrap.account_id}/environments/{env}/audit_events"


def _ids(body: dict[str, object]) -> list[str]:
    return [str(item["entity_id"]) for item in body["items"]]  # type: ignore[attr-defined]


async def test_environment_trail_includes_account_events_newest_first(
    client: httpx.AsyncClient, sessions: sessionmaker[Session], bootstrap: BootstrapResult
) -> None:
    staging, token = _seed(sessions, bootstrap)
    window = {"start_time": "2026-03-01T00:00:00", "end_time": "2026-03-02T00:00:00"}
    body = (await client.get(_url(bootstrap), params=window, headers=token.headers)).json()
    assert _ids(body) == ["t5", "r4", "r3", "r2", "r1", "r0"]
    assert body["account_id"] == bootstrap.account_id
    assert body["environment_id"] == bootstrap.environment_id
    staging_body = (
        await client.get(_url(bootstrap, staging), params=window, headers=token.headers)
    ).json()
    assert _ids(staging_body) == ["r6", "t5"]
    first = body["items"][0]
    assert first["action"] == "token.created" and first["environment_id"] is None
    assert first["occurred_at"] == "2026-03-01T15:00:00Z"
    assert first["occurred_at_epoch_ms"] == int((T0 + timedelta(hours=5)).timestamp() * 1000)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2026-03-01T11:00:00", "2026-03-01T13:00:00"),
        ("2026-03-01T11:00:00Z", "2026-03-01T13:00:00Z"),
        ("2026-03-01T12:00:00+01:00", "2026-03-01T09:00:00-04:00"),
        (
            str(int((T0 + timedelta(hours=1)).timestamp() * 1000)),
            str(int((T0 + timedelta(hours=3)).timestamp() * 1000)),
        ),
    ],
)
async def test_time_window_accepts_every_time_spelling(
    client: httpx.AsyncClient,
    sessions: sessionmaker[Session],
    bootstrap: BootstrapResult,
    start: str,
    end: str,
) -> None:
    _, token = _seed(sessions, bootstrap)
    response = await client.get(
        _url(bootstrap), params={"start_time": start, "end_time": end}, headers=token.headers
    )
    assert response.status_code == 200, response.text
    assert _ids(response.json()) == ["r3", "r2", "r1"]


async def test_bad_times_are_rejected(
    client: httpx.AsyncClient, sessions: sessionmaker[Session], bootstrap: BootstrapResult
) -> None:
    _, token = _seed(sessions, bootstrap)
    bad = await client.get(
        _url(bootstrap), params={"start_time": "yesterday"}, headers=token.headers
    )
    assert bad.status_code == 422
    reversed_window = await client.get(
        _url(bootstrap),
        params={"start_time": "2026-03-02T00:00:00", "end_time": "2026-03-01T00:00:00"},
        headers=token.headers,
    )
    assert reversed_window.status_code == 400


async def test_action_filter(
    client: httpx.AsyncClient, sessions: sessionmaker[Session], bootstrap: BootstrapResult
) -> None:
    _, token = _seed(sessions, bootstrap)
    one = await client.get(
        _url(bootstrap), params={"action": "river.deleted"}, headers=token.headers
    )
    assert _ids(one.json()) == ["r3", "r1"]
    several = await client.get(
        _url(bootstrap), params={"action": "river.deleted,token.created"}, headers=token.headers
    )
    assert _ids(several.json()) == ["t5", "r3", "r1"]
    repeated = await client.get(
        f"{_url(bootstrap)}?action=river.deleted&action=token.created", headers=token.headers
    )
    assert _ids(repeated.json()) == ["t5", "r3", "r1"]


async def test_paging_envelope_with_full_urls(
    client: httpx.AsyncClient, sessions: sessionmaker[Session], bootstrap: BootstrapResult
) -> None:
    _, token = _seed(sessions, bootstrap)
    params = {
        "start_time": "2026-03-01T00:00:00",
        "end_time": "2026-03-02T00:00:00",
        "items_per_page": 4,
    }
    first = (await client.get(_url(bootstrap), params=params, headers=token.headers)).json()
    assert set(first) == {
        "items",
        "page",
        "items_per_page",
        "current_page_size",
        "total_items",
        "next_page",
        "previous_page",
        "account_id",
        "environment_id",
    }
    assert (first["page"], first["items_per_page"], first["current_page_size"]) == (1, 4, 4)
    assert first["total_items"] == 6 and first["previous_page"] is None
    nxt = urlsplit(first["next_page"])
    assert f"{nxt.scheme}://{nxt.netloc}" == "http://testserver"
    assert nxt.path == _url(bootstrap)
    assert parse_qs(nxt.query) == {
        "start_time": ["2026-03-01T00:00:00"],
        "end_time": ["2026-03-02T00:00:00"],
        "items_per_page": ["4"],
        "page": ["2"],
    }
    second = (await client.get(first["next_page"], headers=token.headers)).json()
    assert second["current_page_size"] == 2 and second["next_page"] is None
    assert parse_qs(urlsplit(second["previous_page"]).query)["page"] == ["1"]
    assert _ids(first) + _ids(second) == ["t5", "r4", "r3", "r2", "r1", "r0"]
    beyond = await client.get(_url(bootstrap), params={**params, "page": 9}, headers=token.headers)
    assert beyond.json()["items"] == [] and beyond.json()["next_page"] is None
    for bad in ({"page": 0}, {"items_per_page": 0}, {"items_per_page": 201}):
        response = await client.get(_url(bootstrap), params=bad, headers=token.headers)
        assert response.status_code == 422


async def test_links_use_the_public_url_when_set(
    app: FastAPI,
    client: httpx.AsyncClient,
    sessions: sessionmaker[Session],
    bootstrap: BootstrapResult,
) -> None:
    app.state.settings = app.state.settings.model_copy(
        update={"public_url": "https://hw.example.com/"}
    )
    _, token = _seed(sessions, bootstrap)
    body = (
        await client.get(_url(bootstrap), params={"items_per_page": 1}, headers=token.headers)
    ).json()
    assert body["next_page"].startswith(f"https://hw.example.com{_url(bootstrap)}?")
