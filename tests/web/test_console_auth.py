"""Console sign-in over HTTP: cookies, security headers, throttle, CSRF, logout, member limits."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from headwater.api.routes import iter_api_routes
from headwater.services.bootstrap import BootstrapResult
from tests.api.tokenhelp import add_user
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, FakeClock
from tests.web.forms import page_csrf, sign_in

pytestmark = pytest.mark.anyio


def _tokens(boot: BootstrapResult) -> str:
    return f"/console/accounts/{boot.account_id}/settings/api-tokens"


def _rivers(boot: BootstrapResult) -> str:
    return f"/console/accounts/{boot.account_id}/environments/{boot.environment_id}/rivers"


async def test_root_and_console_lead_to_the_login_form(
    client: httpx.AsyncClient, bootstrap: BootstrapResult
) -> None:
    root = await client.get("/")
    assert root.status_code == 307
    assert root.headers["location"] == "/console"
    console = await client.get("/console")
    assert console.headers["location"] == "/console/login"
    page = await client.get(_rivers(bootstrap))
    assert page.status_code == 303
    assert page.headers["location"].startswith("/console/login?next=/console/accounts/")


async def test_console_responses_carry_security_headers(
    client: httpx.AsyncClient, bootstrap: BootstrapResult
) -> None:
    for path in ("/console/login", "/console/static/console.css", "/console/nope"):
        response = await client.get(path)
        assert "default-src 'self'" in response.headers["content-security-policy"], path
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"
    login = await client.get("/console/login")
    assert login.headers["cache-control"] == "no-store"
    missing = await client.get("/console/nope")
    assert missing.status_code == 404
    assert "There is no such page" in missing.text
    api = await client.get("/healthz")
    assert "content-security-policy" not in api.headers  # the API keeps its own headers


async def test_sign_in_sets_a_strict_session_cookie_and_opens_the_console(
    client: httpx.AsyncClient, bootstrap: BootstrapResult
) -> None:
    response = await sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert "hw_console=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "samesite=lax" in cookie.lower()
    assert "Secure" not in cookie  # plain http: a Secure cookie would never come back
    home = await client.get("/console")
    assert home.headers["location"] == _rivers(bootstrap)
    page = await client.get(_rivers(bootstrap))
    assert page.status_code == 200
    assert ADMIN_EMAIL in page.text
    assert "no data flows yet" in page.text


async def test_cookie_is_secure_over_https(app: FastAPI, bootstrap: BootstrapResult) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        response = await sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    assert response.status_code == 303
    assert "Secure" in response.headers["set-cookie"]


async def test_wrong_password_then_throttle_after_five_failures(
    client: httpx.AsyncClient, bootstrap: BootstrapResult, clock: FakeClock
) -> None:
    for _ in range(5):
        wrong = await sign_in(client, ADMIN_EMAIL, "not the password")
        assert wrong.status_code == 401
        assert "not right" in wrong.text
    blocked = await sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)  # even the right one
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) > 0
    assert "Too many failed sign-ins" in blocked.text
    other = await sign_in(client, "someone-else@example.com", "x")
    assert other.status_code == 401  # the throttle is per e-mail (and address)
    clock.advance(minutes=16)
    again = await sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    assert again.status_code == 303


async def test_login_form_needs_its_csrf_token(
    client: httpx.AsyncClient, bootstrap: BootstrapResult
) -> None:
    await client.get("/console/login")
    response = await client.post(
        "/console/login", data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )
    assert response.status_code == 403
    assert "hw_console" not in response.headers.get("set-cookie", "")


async def test_posts_without_the_csrf_token_are_refused(
    client: httpx.AsyncClient, bootstrap: BootstrapResult
) -> None:
    await sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    form = {"name": "sneaky", "scopes": ["me:list"]}
    missing = await client.post(_tokens(bootstrap), data=form)
    assert missing.status_code == 403
    assert "CSRF" in missing.text
    wrong = await client.post(_tokens(bootstrap), data={**form, "csrf_token": "forged"})
    assert wrong.status_code == 403
    listing = await client.get(_tokens(bootstrap))
    assert "sneaky" not in listing.text


async def test_api_accepts_the_session_but_unsafe_calls_need_the_csrf_header(
    client: httpx.AsyncClient, bootstrap: BootstrapResult
) -> None:
    await sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    me = await client.get("/api/me")
    assert me.status_code == 200
    url = f"/v1/accounts/{bootstrap.account_id}/api_tokens"
    body = {"name": "via cookie", "scopes": ["me:list"]}
    assert (await client.post(url, json=body)).status_code == 401
    token = await page_csrf(client, _rivers(bootstrap))
    created = await client.post(url, json=body, headers={"X-CSRF-Token": token})
    assert created.status_code == 201, created.text


async def test_logout_ends_the_session_everywhere(
    client: httpx.AsyncClient, bootstrap: BootstrapResult
) -> None:
    await sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    stolen = client.cookies.get("hw_console")
    assert stolen
    token = await page_csrf(client, _rivers(bootstrap))
    out = await client.post("/console/logout", data={"csrf_token": token})
    assert out.status_code == 303
    assert out.headers["location"] == "/console/login?out=1"
    client.cookies.set("hw_console", stolen)  # a copy of the cookie is dead too
    page = await client.get(_rivers(bootstrap))
    assert page.status_code == 303
    assert (await client.get("/api/me")).status_code == 401


async def test_a_member_cannot_reach_token_or_user_management(
    client: httpx.AsyncClient, bootstrap: BootstrapResult, sessions: sessionmaker[Session]
) -> None:
    add_user(sessions, bootstrap.account_id, role="member", email="member@example.com")
    response = await sign_in(client, "member@example.com", "pw-for-tests")
    assert response.status_code == 303
    rivers = await client.get(_rivers(bootstrap))
    assert rivers.status_code == 200
    assert "API Tokens" not in rivers.text  # not offered in the navigation either
    for path in (_tokens(bootstrap), _tokens(bootstrap) + "/new"):
        page = await client.get(path)
        assert page.status_code == 403, path
        assert "for account admins only" in page.text
    users = await client.get(f"/console/accounts/{bootstrap.account_id}/settings/users")
    assert users.status_code == 403
    api = await client.get(f"/v1/accounts/{bootstrap.account_id}/api_tokens")
    assert api.status_code == 403


async def test_another_accounts_paths_answer_404(
    client: httpx.AsyncClient, bootstrap: BootstrapResult
) -> None:
    await sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    page = await client.get(f"/console/accounts/{'f' * 24}/settings/api-tokens")
    assert page.status_code == 404
    env = await client.get(
        f"/console/accounts/{bootstrap.account_id}/environments/{'e' * 24}/rivers"
    )
    assert env.status_code == 404


def test_every_console_post_checks_the_csrf_token(app: FastAPI) -> None:
    """Structural guard: a new console form route cannot forget the CSRF check."""

    def checks(dependant: object) -> bool:
        for dep in getattr(dependant, "dependencies", []):
            if getattr(dep.call, "checks_csrf", False) or checks(dep):
                return True
        return False

    posts = [
        route
        for route in iter_api_routes(app.routes)
        if route.path.startswith("/console") and "POST" in route.methods
    ]
    assert len(posts) >= 10
    unchecked = [r.path for r in posts if r.path != "/console/login" and not checks(r.dependant)]
    assert unchecked == []
