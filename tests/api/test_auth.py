"""Bearer auth on every route: 401 shapes, scope 403s, account and environment isolation,
``/api/me``, the public scope catalogue and the per-token rate limit."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from headwater.errors import NotFound
from headwater.security.scopes import SCOPES
from headwater.security.tokens import TOKEN_PREFIX
from headwater.server import create_server_app
from headwater.services.auth import authenticate_token, check_environment
from headwater.services.bootstrap import BootstrapResult
from headwater.settings import Settings
from headwater.store.models import ApiToken
from tests.api.tokenhelp import add_account, add_environment, mint
from tests.conftest import FakeClock, statements_sent

pytestmark = pytest.mark.anyio

INVALID = {"detail": "Credentials are not valid"}


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Token hwt_abc",
        "Bearer not-a-token",
        f"Bearer {TOKEN_PREFIX}{'a' * 43}",  # well-formed, unknown
        f"Bearer {TOKEN_PREFIX}{'a' * 20}!!",  # bad characters
        f"Bearer {TOKEN_PREFIX}" + "a" * 500,
    ],
)
async def test_missing_malformed_or_unknown_tokens_are_401(
    client: httpx.AsyncClient, bootstrap: BootstrapResult, header: str | None
) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = await client.get("/api/me", headers=headers)
    assert response.status_code == 401
    assert response.json() == INVALID


async def test_expired_token_is_401(
    client: httpx.AsyncClient,
    sessions: sessionmaker[Session],
    bootstrap: BootstrapResult,
    clock: FakeClock,
) -> None:
    token = mint(sessions, bootstrap.account_id, created_by=bootstrap.admin_id)
    with sessions() as session:
        session.get_one(ApiToken, token.id).expires_at = clock.now + timedelta(hours=1)
        session.commit()
    assert (await client.get("/api/me", headers=token.headers)).status_code == 200
    clock.advance(hours=1)
    response = await client.get("/api/me", headers=token.headers)
    assert response.status_code == 401 and response.json() == INVALID


async def test_missing_scope_is_403_naming_it(
    client: httpx.AsyncClient, sessions: sessionmaker[Session], bootstrap: BootstrapResult
) -> None:
    token = mint(
        sessions,
        bootstrap.account_id,
        created_by=bootstrap.admin_id,
        scopes=set(SCOPES) - {"me:list"},
    )
    response = await client.get("/api/me", headers=token.headers)
    assert response.status_code == 403
    assert "me:list" in response.json()["detail"]


async def test_other_accounts_and_environments_answer_404(
    client: httpx.AsyncClient, sessions: sessionmaker[Session], bootstrap: BootstrapResult
) -> None:
    token = mint(sessions, bootstrap.account_id, created_by=bootstrap.admin_id)
    other = add_account(sessions)
    urls = [
        f"/v1/accounts/{other.account_id}",
        f"/v1/accounts/{other.account_id}/users",
        f"/v1/accounts/{other.account_id}/environments/{other.environment_id}/audit_events",
        f"/v1/accounts/{bootstrap.account_id}/environments/{other.environment_id}/audit_events",
        f"/v1/accounts/{bootstrap.account_id}/environments/{'0' * 24}/audit_events",
    ]
    for url in urls:
        response = await client.get(url, headers=token.headers)
        assert response.status_code == 404, url
        assert response.json()["detail"].endswith("was not found")
    # a token without any scope still gets 404 for a foreign account, not 403: nothing leaks
    bare = mint(sessions, bootstrap.account_id, created_by=bootstrap.admin_id, scopes=[])
    response = await client.get(f"/v1/accounts/{other.account_id}/users", headers=bare.headers)
    assert response.status_code == 404


async def test_environment_not_granted_is_403(
    client: httpx.AsyncClient, sessions: sessionmaker[Session], bootstrap: BootstrapResult
) -> None:
    staging = add_environment(sessions, bootstrap.account_id, "staging")
    token = mint(
        sessions,
        bootstrap.account_id,
        created_by=bootstrap.admin_id,
        environment_ids=[bootstrap.environment_id],
    )
    base = f"/v1/accounts/{bootstrap.account_id}/environments"
    ok = await client.get(f"{base}/{bootstrap.environment_id}/audit_events", headers=token.headers)
    assert ok.status_code == 200
    denied = await client.get(f"{base}/{staging}/audit_events", headers=token.headers)
    assert denied.status_code == 403
    assert staging in denied.json()["detail"]


async def test_api_me_answers_what_rivery_cli_reads(
    client: httpx.AsyncClient,
    sessions: sessionmaker[Session],
    bootstrap: BootstrapResult,
    clock: FakeClock,
) -> None:
    add_environment(sessions, bootstrap.account_id, "another")
    token = mint(
        sessions,
        bootstrap.account_id,
        created_by=bootstrap.admin_id,
        scopes=["me:list", "river:list"],
        name="cli",
    )
    response = await client.get("/api/me", headers=token.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["account_id"] == bootstrap.account_id
    assert body["environment_id"] == bootstrap.environment_id  # the default one
    assert body["token_name"] == "cli" and body["token_id"] == token.id
    assert body["scopes"] == ["me:list", "river:list"]
    assert (
        len(body["environment_ids"]) == 2 and body["environment_ids"][0] == bootstrap.environment_id
    )
    with sessions() as session:
        assert session.get_one(ApiToken, token.id).last_used_at == clock.now


async def test_scope_catalogue_is_public_and_complete(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/scopes")
    assert response.status_code == 200
    items = response.json()["items"]
    assert [i["name"] for i in items] == list(SCOPES)
    assert all(i["description"] and "\n" not in i["description"] for i in items)


async def test_rate_limit_per_token_is_429_with_retry_after(
    settings: Settings,
    engine: Engine,
    clock: FakeClock,
    sessions: sessionmaker[Session],
    bootstrap: BootstrapResult,
    tmp_path: Path,
) -> None:
    app = create_server_app(
        settings.model_copy(update={"rate_limit_per_minute": 3}), engine=engine, clock=clock
    )
    first = mint(sessions, bootstrap.account_id, created_by=bootstrap.admin_id)
    second = mint(sessions, bootstrap.account_id, created_by=bootstrap.admin_id)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for _ in range(3):
            assert (await client.get("/api/me", headers=first.headers)).status_code == 200
        limited = await client.get("/api/me", headers=first.headers)
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert "Rate limit" in limited.json()["detail"]
        # budgets are per token
        assert (await client.get("/api/me", headers=second.headers)).status_code == 200


def test_a_token_is_resolved_in_one_query(
    engine: Engine, sessions: sessionmaker[Session], bootstrap: BootstrapResult
) -> None:
    """Every API request authenticates: the token, its account and creator in one round trip."""
    token = mint(sessions, bootstrap.account_id, created_by=bootstrap.admin_id)
    with sessions() as session:
        authenticate_token(session, token.secret)  # sets last_used_at (a write, once a minute)
        with statements_sent(engine) as seen:
            principal = authenticate_token(session, token.secret)
    assert principal.is_admin and principal.account_id == bootstrap.account_id
    assert len(seen) == 1 and "FROM api_tokens" in seen[0], seen


def test_the_environment_in_the_path_is_read_with_the_token(
    engine: Engine, sessions: sessionmaker[Session], bootstrap: BootstrapResult
) -> None:
    """The token query also reads the path's environment, so checking it costs no query; an
    environment of another account is not read with it and is still refused."""
    token = mint(sessions, bootstrap.account_id, created_by=bootstrap.admin_id)
    foreign = add_account(sessions).environment_id
    with sessions() as session:
        authenticate_token(session, token.secret)  # sets last_used_at (a write, once a minute)
    with sessions() as session:
        with statements_sent(engine) as seen:
            principal = authenticate_token(
                session, token.secret, environment_id=bootstrap.environment_id
            )
            environment = check_environment(session, principal, bootstrap.environment_id)
        assert environment.id == bootstrap.environment_id
        assert len(seen) == 1 and "environments" in seen[0], seen
    with sessions() as session:
        principal = authenticate_token(session, token.secret, environment_id=foreign)
        with pytest.raises(NotFound):
            check_environment(session, principal, foreign)
