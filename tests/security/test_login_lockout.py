"""The login lockout holds under concurrency and cannot be dodged with ``X-Forwarded-For``.

Findings of the fresh-install attack: about 17 of 40 concurrent wrong passwords reached a
password check (the throttle counted failures only after the slow check), and uvicorn believed
``X-Forwarded-For`` from any loopback client, so a client on the same host (or behind a
loopback proxy that passes the header on) picked a new address per attempt.
"""

from __future__ import annotations

import threading
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine

from headwater.security.proxies import forwarded_client, parse_networks
from headwater.server import create_server_app
from headwater.services.bootstrap import BootstrapResult
from headwater.settings import Settings
from headwater.web import auth
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, FakeClock
from tests.live import embedded_up, make_cluster
from tests.security.hardening_help import browser
from tests.web.forms import csrf_of, sign_in

ATTEMPTS = 40


def _storm(urls: list[str], email: str, password: str) -> Counter[int]:
    """``ATTEMPTS`` sign-ins released at once (each with its own login form), spread over
    ``urls``; the statuses they got."""
    clients = [httpx.Client(base_url=urls[i % len(urls)], timeout=60) for i in range(ATTEMPTS)]
    tokens = [csrf_of(c.get("/console/login").text) for c in clients]
    barrier = threading.Barrier(ATTEMPTS)
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def one(index: int) -> None:
        barrier.wait()
        response = clients[index].post(
            "/console/login",
            data={"email": email, "password": password, "csrf_token": tokens[index]},
        )
        with lock:
            statuses[response.status_code] += 1

    threads = [threading.Thread(target=one, args=(i,)) for i in range(ATTEMPTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for client in clients:
        client.close()
    return statuses


def _sign_in_once(url: str, email: str, password: str) -> int:
    """One sign-in with a made-up ``X-Forwarded-For`` (uvicorn believed it from loopback)."""
    headers = {"X-Forwarded-For": "203.0.113.9"}
    with httpx.Client(base_url=url, timeout=60, headers=headers) as client:
        token = csrf_of(client.get("/console/login").text)
        response = client.post(
            "/console/login", data={"email": email, "password": password, "csrf_token": token}
        )
        return response.status_code


def _then_exactly_the_threshold(url: str, statuses: Counter[int], email: str, right: str) -> None:
    """Refused attempts of the storm are not counted, so one after the other, wrong passwords
    reach the check until the threshold, in all exactly ``THROTTLE_LIMIT`` per window; then even
    the right password is refused."""
    checked = statuses[401]
    while (status := _sign_in_once(url, email, "still wrong")) == 401:
        checked += 1
        assert checked <= auth.THROTTLE_LIMIT
    assert status == 429
    assert checked == auth.THROTTLE_LIMIT
    assert _sign_in_once(url, email, right) == 429


def test_concurrent_wrong_passwords_on_a_live_server(tmp_path: Path) -> None:
    """SQLite metadata, one ``headwater up``: at most the threshold reach a password check."""
    with embedded_up(tmp_path, HEADWATER_ADMIN_PASSWORD="right-password-1") as server:
        statuses = _storm([server.url], "admin@example.com", "wrong")
        assert statuses[401] <= auth.THROTTLE_LIMIT, statuses
        assert statuses[401] + statuses[429] == ATTEMPTS, statuses
        _then_exactly_the_threshold(server.url, statuses, "admin@example.com", "right-password-1")


def test_concurrent_wrong_passwords_across_two_servers_on_postgres(
    tmp_path: Path, pg_databases: dict[str, str]
) -> None:
    """Two ``headwater server`` processes sharing PostgreSQL metadata, 20 attempts each."""
    cluster = make_cluster(tmp_path, pg_databases)
    try:
        _proc, first = cluster.server("first", "server")
        _proc, second = cluster.server("second", "server")
        statuses = _storm([first, second], "admin@example.com", "wrong")
        assert statuses[401] <= auth.THROTTLE_LIMIT, statuses
        assert statuses[401] + statuses[429] == ATTEMPTS, statuses
        _then_exactly_the_threshold(second, statuses, "admin@example.com", "admin-password")
    finally:
        cluster.stop_all()


# -- X-Forwarded-For ------------------------------------------------------------------------


@pytest.fixture
def lockout_app(settings: Settings, engine: Engine, clock: FakeClock) -> FastAPI:
    return create_server_app(settings, engine=engine, clock=clock)


async def _sign_in_from(
    app: FastAPI, peer: str, forwarded: str | None, password: str = "wrong"
) -> httpx.Response:
    async with browser(app, address=peer) as client:
        if forwarded is not None:
            client.headers["X-Forwarded-For"] = forwarded
        return await sign_in(client, ADMIN_EMAIL, password)


@pytest.mark.anyio
async def test_forwarded_for_from_an_untrusted_loopback_peer_is_ignored(
    lockout_app: FastAPI, bootstrap: BootstrapResult
) -> None:
    for n in range(auth.THROTTLE_LIMIT):
        response = await _sign_in_from(lockout_app, "127.0.0.1", f"198.51.100.{n}")
        assert response.status_code == 401
    # a new "address" per attempt no longer buys new attempts
    assert (await _sign_in_from(lockout_app, "127.0.0.1", "203.0.113.99")).status_code == 429
    right = await _sign_in_from(lockout_app, "127.0.0.1", "203.0.113.98", ADMIN_PASSWORD)
    assert right.status_code == 429


@pytest.mark.anyio
async def test_forwarded_for_from_a_trusted_proxy_is_the_client(
    settings: Settings, engine: Engine, clock: FakeClock, bootstrap: BootstrapResult
) -> None:
    app = create_server_app(
        settings.model_copy(update={"trusted_proxies": "127.0.0.1, 10.0.0.0/8"}),
        engine=engine,
        clock=clock,
    )
    for _ in range(auth.THROTTLE_LIMIT):
        assert (await _sign_in_from(app, "10.1.2.3", "198.51.100.1")).status_code == 401
    assert (await _sign_in_from(app, "127.0.0.1", "198.51.100.1")).status_code == 429
    # another client behind the same proxy is not locked out
    other = await _sign_in_from(app, "10.1.2.3", "198.51.100.2", ADMIN_PASSWORD)
    assert other.status_code == 303
    # a client-written entry left of the real one does not help: the proxy appends the peer
    spoofed = await _sign_in_from(app, "10.1.2.3", "203.0.113.5, 198.51.100.1")
    assert spoofed.status_code == 429
    # an untrusted peer's header is ignored even with trusted proxies configured
    direct = await _sign_in_from(app, "192.0.2.44", "198.51.100.7", ADMIN_PASSWORD)
    assert direct.status_code == 303


def test_forwarded_client_rules() -> None:
    trusted = parse_networks("127.0.0.1,10.0.0.0/8")
    assert forwarded_client("127.0.0.1", "1.2.3.4", ()) == "127.0.0.1"
    assert forwarded_client("192.0.2.1", "1.2.3.4", trusted) == "192.0.2.1"
    assert forwarded_client("127.0.0.1", "1.2.3.4", trusted) == "1.2.3.4"
    assert forwarded_client("127.0.0.1", "9.9.9.9, 1.2.3.4, 10.0.0.5", trusted) == "1.2.3.4"
    assert forwarded_client("127.0.0.1", "not-an-ip", trusted) == "127.0.0.1"
    with pytest.raises(ValueError, match="not an IP"):
        parse_networks("127.0.0.1, localhost")


def test_a_bad_trusted_proxies_setting_fails_at_start() -> None:
    with pytest.raises(ValueError, match="localhost"):
        Settings(trusted_proxies="localhost")


@pytest.mark.anyio
async def test_unicode_spellings_of_one_address_share_the_lockout(
    lockout_app: FastAPI, bootstrap: BootstrapResult, sessions: Any
) -> None:
    from tests.api.tokenhelp import add_user

    email = unicodedata.normalize("NFC", "josé@example.com")
    add_user(sessions, bootstrap.account_id, role="member", email=email)
    spellings = [email, unicodedata.normalize("NFD", email), email.upper()]
    for n in range(auth.THROTTLE_LIMIT):
        async with browser(lockout_app, address="192.0.2.10") as client:
            wrong = await sign_in(client, spellings[n % len(spellings)], "wrong")
        assert wrong.status_code == 401
    for spelling in spellings:
        async with browser(lockout_app, address="192.0.2.10") as client:
            assert (await sign_in(client, spelling, "wrong")).status_code == 429, spelling
