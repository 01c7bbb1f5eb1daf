"""Table-driven scope enforcement over the real route table: for every (method, path, scope),
no token → 401, a token with every scope but that one → 403 naming it, with it → neither.

The table is read from the app itself, so routes added later are covered without editing this
file; ``EXPECTED`` pins the routes of the tokens/users/plans issue so they cannot lose theirs.
The checks only read (bodies are empty, ids unknown), so one bootstrapped database per backend
serves the whole module: a fresh one per route would cost minutes as the API grows.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from headwater.api.routes import iter_api_routes
from headwater.security.scopes import SCOPES
from headwater.server import create_server_app
from headwater.services.bootstrap import BootstrapResult, ensure_default_account
from headwater.settings import Settings
from headwater.store.engine import make_engine, make_session_factory
from tests.api.test_route_scopes import _declared
from tests.api.tokenhelp import mint
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, BACKENDS, FakeClock, truncate_all

pytestmark = pytest.mark.anyio

ACCOUNT = "/v1/accounts/{account_id}"
ENV = ACCOUNT + "/environments/{environment_id}"
EXPECTED = {
    ("GET", "/api/me", "me:list"),
    ("GET", ACCOUNT, "account:list"),
    ("PUT", ACCOUNT + "/plan", "account:write"),
    ("GET", ACCOUNT + "/api_tokens", "token:list"),
    ("POST", ACCOUNT + "/api_tokens", "token:edit"),
    ("GET", ACCOUNT + "/api_tokens/{token_id}", "token:list"),
    ("DELETE", ACCOUNT + "/api_tokens/{token_id}", "token:edit"),
    ("GET", ACCOUNT + "/users", "user:list"),
    ("POST", ACCOUNT + "/users", "user:edit"),
    ("GET", ACCOUNT + "/users/{user_id}", "user:list"),
    ("PATCH", ACCOUNT + "/users/{user_id}", "user:edit"),
    ("DELETE", ACCOUNT + "/users/{user_id}", "user:edit"),
    ("GET", ENV + "/audit_events", "audit:list"),
}


# The bearer-token API. Console pages (``/console/...``) authenticate by session cookie and
# answer with redirects to the login page; their own tests cover that.
API_PREFIXES = ("/v1/", "/api/")


def scope_table() -> list[tuple[str, str, str]]:
    """(method, path template, scope) for every scoped API route the app serves."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), database_url="sqlite://")
        app = create_server_app(settings)
        table = []
        for route in iter_api_routes(app.routes):
            if not route.path.startswith(API_PREFIXES):
                continue
            scopes, _public = _declared(route.dependant)
            for method in sorted(route.methods - {"HEAD"}):
                table.extend((method, route.path, scope) for scope in sorted(scopes))
        app.state.engine.dispose()
    return sorted(set(table))


TABLE = scope_table()


def test_the_table_covers_this_issues_routes() -> None:
    assert set(TABLE) >= EXPECTED


@dataclass
class World:
    app: FastAPI
    sessions: sessionmaker[Session]
    bootstrap: BootstrapResult


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("scopes")
    if request.param == "sqlite":
        target = tmp / "headwater.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), target)
        url = f"sqlite:///{target}"
    else:
        url = request.getfixturevalue("pg_database")
    engine = make_engine(url)
    if request.param == "postgres":
        truncate_all(engine)
    sessions = make_session_factory(engine)
    with sessions() as session:
        bootstrap = ensure_default_account(
            session, admin_email=ADMIN_EMAIL, admin_password=ADMIN_PASSWORD
        )
    settings = Settings(data_dir=tmp / "data", database_url=url)
    yield World(create_server_app(settings, engine=engine, clock=FakeClock()), sessions, bootstrap)
    engine.dispose()


def _concrete(path: str, bootstrap: BootstrapResult) -> str:
    """Fill path parameters: our account and environment, a well-formed unknown id elsewhere."""
    path = path.replace("{account_id}", bootstrap.account_id)
    path = path.replace("{environment_id}", bootstrap.environment_id)
    return re.sub(r"\{[^}]+\}", "0" * 24, path)


@pytest.mark.parametrize(("method", "path", "scope"), TABLE, ids=lambda v: str(v))
async def test_scope_is_enforced(world: World, method: str, path: str, scope: str) -> None:
    app, sessions, bootstrap = world.app, world.sessions, world.bootstrap
    url = _concrete(path, bootstrap)
    body = {} if method in {"POST", "PUT", "PATCH"} else None
    without = mint(
        sessions, bootstrap.account_id, created_by=bootstrap.admin_id, scopes=set(SCOPES) - {scope}
    )
    with_it = mint(sessions, bootstrap.account_id, created_by=bootstrap.admin_id, scopes=[scope])
    # a failing handler must not hide the answer we check: it is a 500, not a 401/403
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        anonymous = await client.request(method, url, json=body)
        assert anonymous.status_code == 401
        assert anonymous.json() == {"detail": "Credentials are not valid"}
        denied = await client.request(method, url, json=body, headers=without.headers)
        assert denied.status_code == 403
        assert scope in denied.json()["detail"]
        allowed = await client.request(method, url, json=body, headers=with_it.headers)
        assert allowed.status_code not in {401, 403}, allowed.text
