"""Hardening checks over the app's own route table (issue #11).

Every check enumerates routes from ``app.routes``, so a new console page or form, or a new API
operation, is covered without editing this module:

- security headers on every console response (pages, JSON, redirects, static files, errors) and
  ``nosniff`` on API responses; a strict Content-Security-Policy that the rendered HTML really
  satisfies (no inline script, handler or style); session and login cookie flags;
- CSRF: every state-changing console route refuses a missing, forged or other session's token
  and changes nothing, and accepts the right one; cookie-authenticated API calls need the
  ``X-CSRF-Token`` header;
- the login throttle: lockout, the right password refused during it, recovery at
  ``Retry-After``, per e-mail and client address;
- the request size limit on every state-changing route, declared and chunked, without the app
  reading past the limit;
- a forced internal error on every route answers ``{"detail": "Internal server error"}``
  without a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from http.cookies import SimpleCookie
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from headwater.api.deps import get_session
from headwater.api.routes import iter_api_routes
from headwater.security.passwords import hash_password
from headwater.server import create_server_app
from headwater.services.bootstrap import BootstrapResult
from headwater.settings import Settings
from headwater.store.models import ConsoleSession
from headwater.web import auth, login
from headwater.web.app import is_console
from tests.api.activities_data import GroupRow, History, RunRow, rid, write
from tests.api.rivers_help import create_connection, env_path, s2t_body
from tests.api.tokenhelp import add_user, mint
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, FakeClock
from tests.security.hardening_help import (
    UNSAFE,
    RecordingExecutor,
    Stream,
    admin_browser,
    api_routes,
    browser,
    calls,
    check_console_headers,
    console_routes,
    fill,
    is_public,
    scan,
    snapshot,
    static_paths,
    verbs,
)
from tests.web.forms import csrf_of, page_csrf, sign_in

pytestmark = pytest.mark.anyio

LIMIT = 4096  # max_request_bytes of this module's app
RIVERS = "/console/accounts/{account_id}/environments/{environment_id}/rivers"
EVIL = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
MARKER = "hardening-marker-do-not-leak"
# Valid bodies for the console's forms, so "accepted with the right token" means more than "not
# refused". A new form route without an entry is still checked, with an empty form.
FORMS: dict[str, dict[str, Any]] = {
    "login": {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
    "token_create": {"name": "csrf probe", "scopes": ["me:list"]},
    "user_create": {"email": "csrf-probe@example.com", "role": "member"},
    "user_role": {"role": "admin"},
    "river_status": {"status": "disabled"},
    "connection_create": {
        "connection_type": "postgres",
        "connection_name": "csrf probe",
        "p_host": "127.0.0.1",
        "p_port": "1",
        "p_database": "nothing",
        "p_username": "postgres",
        "p_password": "pw",
    },
    "inline_create": {
        "connection_type": "postgres",
        "connection_name": "csrf probe inline",
        "p_host": "127.0.0.1",
        "p_port": "1",
        "p_database": "nothing",
        "p_username": "postgres",
    },
    "action_create": {
        "action": "save",
        "name": "csrf probe action",
        "method": "GET",
        "url": "https://api.example.com/ping",
        "body_type": "none",
    },
    "connection_update": {
        "connection_name": "csrf probe rename",
        "p_host": "127.0.0.1",
        "p_port": "5432",
        "p_database": "dst",
        "p_username": "postgres",
    },
    "logic_create": {
        "action": "save",
        "name": "csrf probe logic",
        "s0_type": "sql",
        "s0_level": "0",
        "s0_enabled": "on",
        "s0_connection": "{used_connection_id}",
        "s0_sql": "select 1",
    },
    # The builder's Save with a custom query (ids filled from the world fixture).
    "builder_create": {
        "action": "save",
        "name": "csrf probe flow",
        "source_id": "{used_connection_id}",
        "target_id": "{used_connection_id}",
        "q_sql": "select 1 as x",
        "q_target": "probe",
    },
    "builder_update": {
        "action": "save",
        "name": "csrf probe edit",
        "source_id": "{used_connection_id}",
        "target_id": "{used_connection_id}",
        "q_sql": "select 1 as x",
        "q_target": "probe",
    },
}
# Checks of middleware and error handlers that never reach the metadata DB run on one backend.
ONE_BACKEND = pytest.mark.parametrize("backend", ["sqlite"])
# Form routes that only read (the test result is shown, nothing is stored).
# ``load_sample`` and ``copy_to_environment`` pass the CSRF check, then are refused (4xx): this
# world has no embedded DuckDB warehouse and a single environment; so are ``logic_update`` and
# ``action_update``: the world's river is neither a logic river nor an action (their successes:
# tests/web/test_*_pages.py).
READ_ONLY_ACTIONS = frozenset(
    {
        "connection_test",
        "load_sample",
        "copy_to_environment",
        "logic_update",
        "action_update",
        "connectors_install",  # connector packages live on disk, not in the database
        "connectors_uninstall",
    }
)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"max_request_bytes": LIMIT})


@pytest.fixture
def app(settings: Settings, engine: Engine, clock: FakeClock) -> FastAPI:
    return create_server_app(settings, engine=engine, clock=clock, executor=RecordingExecutor())


@dataclass(frozen=True)
class World:
    ids: dict[str, str]


@pytest.fixture
async def world(
    client: httpx.AsyncClient, sessions: sessionmaker[Session], bootstrap: BootstrapResult
) -> World:
    """One of everything a console path can name: a river with a running run, a connection, an
    API token, a member."""
    minted = mint(sessions, bootstrap.account_id, created_by=bootstrap.admin_id)
    connection_id = await create_connection(client, bootstrap, minted.headers)  # unused: deletable
    used = await create_connection(client, bootstrap, minted.headers, name="used")
    created = await client.post(
        env_path(bootstrap, "/rivers"), json=s2t_body(used, used), headers=minted.headers
    )
    assert created.status_code == 201, created.text
    river_id = str(created.json()["river_id"])
    history = History(bootstrap.account_id, bootstrap.environment_id)
    start = FakeClock().now - timedelta(minutes=5)
    group = history.add_group(
        GroupRow(rid(), river_id, "running", start, runs=[RunRow(rid(), "running", Decimal(1))])
    )
    with sessions() as session:
        write(session, history)
    return World(
        {
            "account_id": bootstrap.account_id,
            "environment_id": bootstrap.environment_id,
            "river_id": river_id,
            "run_group_id": group.id,
            "run_id": group.runs[0].id,
            "connection_id": connection_id,
            "used_connection_id": used,
            "token_id": minted.id,
            "user_id": add_user(sessions, bootstrap.account_id, role="member"),
        }
    )


# -- 1. headers, CSP and cookies ----------------------------------------------------------------


async def test_every_console_page_carries_the_headers_and_satisfies_its_csp(
    app: FastAPI, client: httpx.AsyncClient, world: World, sessions: sessionmaker[Session]
) -> None:
    assert (await sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)).status_code == 303
    with sessions() as session:
        session_token = session.scalars(select(ConsoleSession.csrf_token)).one()
    posts = [r for r in console_routes(app) if verbs(r) & UNSAFE]
    pages = [r for r in console_routes(app) if "GET" in verbs(r)]
    assert len(pages) >= 14 and len(posts) >= 12
    html_pages = forms_seen = 0
    for route in pages:
        path = fill(route.path, world.ids)
        response = await client.get(path)
        if is_public(route):  # the entry points redirect a signed-in user onwards
            assert response.status_code in (200, 303, 307), path
        else:
            assert response.status_code == 200, f"{path}: {response.status_code}"
        check_console_headers(response, path)
        if not response.headers.get("content-type", "").startswith("text/html"):
            continue
        html_pages += 1
        page = scan(response.text)
        assert page.blocked == [], f"{path}: the CSP blocks {page.blocked}"
        for form in page.forms:
            if form.method.lower() != "post":
                continue
            forms_seen += 1
            target = form.action.split("?")[0]
            assert any(r.path_regex.match(target) for r in posts), f"{path}: {form.action}"
            assert form.fields.get("csrf_token") == session_token, f"{path}: {form.action}"
    assert html_pages >= 12 and forms_seen >= 12


@ONE_BACKEND
async def test_console_responses_without_a_session_carry_the_headers(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    for route in console_routes(app):  # each redirects to the login form or answers 401/403
        for method in sorted(verbs(route) & {"GET", "POST"}):
            path = fill(route.path, {}, strict=False)
            response = await client.request(method, path)
            assert response.status_code in (200, 303, 307, 401, 403), f"{method} {path}"
            check_console_headers(response, f"{method} {path}")
    login = await client.get("/console/login")
    assert scan(login.text).blocked == []
    for path in ("/console/nope", "/console/static/nope.css"):
        missing = await client.get(path)
        assert missing.status_code == 404
        check_console_headers(missing, path, page=not path.startswith("/console/static/"))
    assets = static_paths(app)
    assert len(assets) >= 2
    for path in assets:
        asset = await client.get(path)
        assert asset.status_code == 200, path
        check_console_headers(asset, path, page=False)


@ONE_BACKEND
async def test_every_api_response_is_nosniff_and_no_store(
    app: FastAPI, client: httpx.AsyncClient, world: World, make_token: Any
) -> None:
    """JSON is never sniffed into something else nor kept in a cache (answers are per account,
    and a new token is shown once); the console's CSP would break Swagger UI's inline script at
    ``/docs``, so the API keeps to ``nosniff`` and ``no-store``."""
    gets = [r for r in api_routes(app) if "GET" in verbs(r)]
    assert len(gets) >= 80
    no_token: dict[str, str] = {}
    for headers in (make_token(), no_token):
        for route in gets:
            path = fill(route.path, world.ids, strict=False)
            response = await client.get(path, headers=headers)
            assert response.status_code < 500, f"{path}: {response.status_code}"
            assert response.headers.get_list("x-content-type-options") == ["nosniff"], path
            assert response.headers.get_list("cache-control") == ["no-store"], path
    for path in ("/docs", "/openapi.json", "/v1/nope"):
        assert (await client.get(path)).headers["x-content-type-options"] == "nosniff", path


@ONE_BACKEND
@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_cookies_are_httponly_samesite_and_secure_over_https(
    app: FastAPI, bootstrap: BootstrapResult, scheme: str
) -> None:
    async with browser(app, scheme=scheme) as client:
        form = await client.get("/console/login")
        response = await sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    assert response.status_code == 303
    cookies: dict[str, Any] = {}
    for header in [*form.headers.get_list("set-cookie"), *response.headers.get_list("set-cookie")]:
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        cookies.update(jar)
    assert {auth.SESSION_COOKIE, auth.LOGIN_COOKIE} <= set(cookies)
    for name in (auth.SESSION_COOKIE, auth.LOGIN_COOKIE):
        morsel = cookies[name]
        assert morsel["httponly"] is True, name
        assert morsel["samesite"].lower() in ("lax", "strict"), name
        assert bool(morsel["secure"]) is (scheme == "https"), name
        assert morsel["domain"] == "", name  # host-only
    session = cookies[auth.SESSION_COOKIE]
    assert session["path"] == "/"
    assert 0 < int(session["max-age"]) <= auth.SESSION_LIFETIME.total_seconds()
    assert cookies[auth.LOGIN_COOKIE]["path"] == "/console/login"


# -- 2. CSRF ------------------------------------------------------------------------------------


def refused_for_csrf(response: httpx.Response) -> bool:
    return response.status_code == 403 and "CSRF token" in response.text


async def test_every_console_form_route_refuses_missing_forged_and_foreign_csrf_tokens(
    app: FastAPI, world: World, engine: Engine
) -> None:
    routes = [r for r in console_routes(app) if verbs(r) & UNSAFE]
    assert len(routes) >= 12
    async with admin_browser(app) as victim, admin_browser(app) as other, browser(app) as anon:
        foreign = {  # valid tokens, of another signed-in browser and another login form
            "session": await page_csrf(other, fill(RIVERS, world.ids)),
            "login": csrf_of((await anon.get("/console/login")).text),
        }
        for route in routes:
            if is_public(route):  # the login form: a signed double-submit cookie, no session
                async with browser(app) as fresh:
                    await fresh.get("/console/login")
                    await check_refusals(fresh, route, world, foreign["login"], engine)
            else:
                await check_refusals(victim, route, world, foreign["session"], engine)


async def check_refusals(
    client: httpx.AsyncClient, route: APIRoute, world: World, foreign: str, engine: Engine
) -> None:
    path = fill(route.path, world.ids)
    form = FORMS.get(route.name, {})
    before = snapshot(engine)
    attempts = {
        "missing": ({}, {}),
        "forged, cross-site": ({"csrf_token": "forged-" + "x" * 40}, EVIL),
        "empty": ({"csrf_token": ""}, {}),
        "another session's": ({"csrf_token": foreign}, {}),
    }
    for method in sorted(verbs(route) & UNSAFE):
        for label, (token, headers) in attempts.items():
            response = await client.request(
                method, path, data={**form, **token}, headers=headers, follow_redirects=False
            )
            assert refused_for_csrf(response), f"{method} {path}, {label}: {response.status_code}"
            assert auth.SESSION_COOKIE not in response.headers.get("set-cookie", ""), path
    assert snapshot(engine) == before, f"{path}: a refused request changed the database"


async def test_every_console_form_route_accepts_the_right_token(
    app: FastAPI, world: World, engine: Engine
) -> None:
    routes = [r for r in console_routes(app) if verbs(r) & UNSAFE and not is_public(r)]
    changed = 0
    for route in routes:
        path = fill(route.path, world.ids)
        async with admin_browser(app) as client:
            token = await page_csrf(client, fill(RIVERS, world.ids))
            before = snapshot(engine)
            for method in sorted(verbs(route) & UNSAFE):
                form = {
                    k: fill(v, world.ids) if isinstance(v, str) else v
                    for k, v in FORMS.get(route.name, {}).items()
                }
                response = await client.request(method, path, data={**form, "csrf_token": token})
                assert response.status_code < 500 and not refused_for_csrf(response), path
                assert response.status_code != 403, f"{path}: {response.text[:300]}"
            if route.name not in READ_ONLY_ACTIONS:
                assert snapshot(engine) != before, f"{path} was accepted but changed nothing"
                changed += 1
    assert changed >= 10
    assert len(app.state.executor.submitted) == 1  # "run now" really queued its run group
    async with browser(app) as anon:  # and the login form with its own token
        assert (await sign_in(anon, ADMIN_EMAIL, ADMIN_PASSWORD)).status_code == 303


async def test_cookie_authenticated_api_calls_need_the_csrf_header(
    app: FastAPI, world: World, engine: Engine
) -> None:
    routes = [r for r in api_routes(app) if verbs(r) & UNSAFE and not is_public(r)]
    assert len(routes) >= 60
    async with admin_browser(app) as client:
        assert (await client.get("/api/me")).status_code == 200  # the cookie alone reads
        token = await page_csrf(client, fill(RIVERS, world.ids))
        before = snapshot(engine)
        for route in routes:
            path = fill(route.path, world.ids, strict=False)
            for method in sorted(verbs(route) & UNSAFE):
                for headers in ({}, {"X-CSRF-Token": "forged", **EVIL}):
                    response = await client.request(method, path, json={}, headers=headers)
                    where = f"{method} {path} {headers}"
                    assert response.status_code == 401, f"{where}: {response.status_code}"
                    assert list(response.json()) == ["detail"], where
        assert snapshot(engine) == before
        url = f"/v1/accounts/{world.ids['account_id']}/api_tokens"
        body = {"name": "via cookie", "scopes": ["me:list"]}
        created = await client.post(url, json=body, headers={"X-CSRF-Token": token})
        assert created.status_code == 201, created.text


# -- 3. login throttle --------------------------------------------------------------------------


async def attempt(
    app: FastAPI, email: str, password: str, address: str = "203.0.113.7"
) -> httpx.Response:
    async with browser(app, address=address) as client:
        return await sign_in(client, email, password)


async def test_login_throttle_locks_out_refuses_the_right_password_and_recovers(
    app: FastAPI, bootstrap: BootstrapResult, clock: FakeClock, engine: Engine
) -> None:
    limit = auth.THROTTLE_LIMIT
    for n in range(limit):
        wrong = await attempt(app, ADMIN_EMAIL, f"wrong {n}")
        assert wrong.status_code == 401, n
    for email, password in ((ADMIN_EMAIL, ADMIN_PASSWORD), (" Admin@Example.COM ", "x")):
        blocked = await attempt(app, email, password)
        assert blocked.status_code == 429, email
        assert "Too many failed sign-ins" in blocked.text
        assert auth.SESSION_COOKIE not in blocked.headers.get("set-cookie", "")
        check_console_headers(blocked, "429")
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(ConsoleSession)) == 0
    other_address = await attempt(app, ADMIN_EMAIL, ADMIN_PASSWORD, address="198.51.100.9")
    assert other_address.status_code == 303  # per e-mail and address: the admin is not locked out
    wait = int(blocked.headers["retry-after"])
    assert 0 < wait <= auth.THROTTLE_WINDOW.total_seconds() + 1
    clock.advance(seconds=wait - 2)
    assert (await attempt(app, ADMIN_EMAIL, ADMIN_PASSWORD)).status_code == 429
    clock.advance(seconds=2)
    assert (await attempt(app, ADMIN_EMAIL, ADMIN_PASSWORD)).status_code == 303


async def test_login_throttle_counts_unknown_users_and_resets_on_success(
    app: FastAPI, bootstrap: BootstrapResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Unknown e-mails are checked against a dummy hash made at import with the production cost.
    monkeypatch.setattr(login, "_DUMMY_HASH", hash_password("headwater-timing-equaliser"))
    limit = auth.THROTTLE_LIMIT
    for _ in range(limit):
        assert (await attempt(app, "nobody@example.com", "guess")).status_code == 401
    assert (await attempt(app, "nobody@example.com", "guess")).status_code == 429
    for _round in range(2):  # a success clears the count: 2 x (limit - 1) failures, no lockout
        for _ in range(limit - 1):
            assert (await attempt(app, ADMIN_EMAIL, "wrong")).status_code == 401
        assert (await attempt(app, ADMIN_EMAIL, ADMIN_PASSWORD)).status_code == 303


# -- 4. request size ----------------------------------------------------------------------------


def check_413(response: httpx.Response, where: str) -> None:
    assert response.status_code == 413, f"{where}: {response.status_code}"
    body = response.json()
    assert list(body) == ["detail"] and str(LIMIT) in body["detail"], where
    if is_console(response.url.path):
        check_console_headers(response, where)
    else:
        assert response.headers["x-content-type-options"] == "nosniff", where


@ONE_BACKEND
async def test_every_state_changing_route_refuses_an_oversized_body(
    app: FastAPI, world: World, engine: Engine
) -> None:
    routes = [r for r in iter_api_routes(app.routes) if verbs(r) & UNSAFE]
    assert len(routes) >= 75
    async with admin_browser(app) as client:
        before = snapshot(engine)
        for route in routes:
            path = fill(route.path, world.ids, strict=False)
            kind = "x-www-form-urlencoded" if is_console(route.path) else "json"
            headers = {"Content-Type": f"application/{kind}"}
            for method in sorted(verbs(route) & UNSAFE):
                declared = await client.request(
                    method, path, content=b"a" * (LIMIT + 1), headers=headers
                )
                check_413(declared, f"{method} {path} declared")
                stream = Stream(total=256 * 1024)
                chunked = await client.request(method, path, content=stream, headers=headers)
                assert "content-length" not in chunked.request.headers
                check_413(chunked, f"{method} {path} chunked")
                assert stream.pulled <= LIMIT + stream.chunk, f"{path}: read {stream.pulled}"
        assert snapshot(engine) == before


@ONE_BACKEND
async def test_a_body_of_exactly_the_limit_passes(app: FastAPI, bootstrap: BootstrapResult) -> None:
    path = f"/console/accounts/{bootstrap.account_id}/settings/api-tokens"
    async with admin_browser(app) as client:
        token = await page_csrf(client, path + "/new")
        body = (f"csrf_token={token}&scopes=me:list&name=" + "a" * LIMIT)[:LIMIT].encode()
        assert len(body) == LIMIT
        for sent in (body, _chunks(body)):  # declared, then chunked
            response = await client.post(
                path, content=sent, headers={"Content-Type": "application/x-www-form-urlencoded"}
            )
            assert response.status_code == 422, response.text[:300]  # the name is too long
            assert "too long" in response.text


HOSTILE_BODIES = [
    (b"[" * 3000, 400),  # RecursionError in the JSON parser, was a 500
    (b'{"name": 1e999, "river_id": -1e999}', 422),  # inf: the 422 handler failed, a 500
    (b'{"name": NaN}', 422),
    (b'{"name": "a\\u0000b"}', 422),
]


@ONE_BACKEND
async def test_every_route_refuses_hostile_json_in_the_one_error_shape(
    app: FastAPI, world: World, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """Deep nesting, non-finite numbers and NUL, on every route and verb (GET included, API and
    legacy, with and without a session): 400/422 ``{"detail": ...}``, nothing changed, nothing
    logged as an error."""
    routes = list(iter_api_routes(app.routes))
    assert len(routes) >= 150
    with caplog.at_level(logging.ERROR):
        async with admin_browser(app) as signed_in, browser(app) as anonymous:
            before = snapshot(engine)
            for route in routes:
                path = fill(route.path, world.ids, strict=False)
                for method in sorted(verbs(route)):
                    for body, status in HOSTILE_BODIES:
                        for client in (signed_in, anonymous):
                            response = await client.request(
                                method, path, content=body, headers={"Content-Type": "text/plain"}
                            )
                            where = f"{method} {path} {body[:20]!r}"
                            assert response.status_code == status, where
                            assert list(response.json()) == ["detail"], where
            assert snapshot(engine) == before
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def _chunks(body: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(body), 1000):
        yield body[start : start + 1000]


# -- 5. internal errors -------------------------------------------------------------------------


@ONE_BACKEND
async def test_a_forced_internal_error_on_every_route_answers_without_a_traceback(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> Session:
        raise RuntimeError(f"{MARKER} at /srv/headwater/secret.py line 42")

    app.state.session_factory = broken  # every route that opens a metadata session fails inside
    routes = [r for r in iter_api_routes(app.routes) if get_session in set(calls(r.dependant))]
    assert len(routes) >= 150
    checked = 0
    with caplog.at_level(logging.ERROR, logger="headwater"):
        async with browser(app, raise_errors=False) as client:
            for route in routes:
                path = fill(route.path, {}, strict=False)
                for method in sorted(verbs(route)):
                    body: dict[str, str] | None = {} if method in UNSAFE else None
                    response = await client.request(method, path, json=body)
                    where = f"{method} {path}"
                    assert response.status_code == 500, f"{where}: {response.status_code}"
                    assert response.json() == {"detail": "Internal server error"}, where
                    assert MARKER not in response.text and "Traceback" not in response.text
                    if is_console(path):
                        check_console_headers(response, where)
                    else:
                        assert response.headers["x-content-type-options"] == "nosniff", where
                    checked += 1
    assert checked >= len(routes)
    logged = [r for r in caplog.records if r.exc_info and MARKER in str(r.exc_info[1])]
    assert len(logged) == checked  # the operator still gets every traceback, in the log
