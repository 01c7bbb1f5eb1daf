"""A live ``headwater up`` and Debian's Chromium driven by Playwright, for the browser tests.

The browser is the system's ``/usr/bin/chromium`` (never a Playwright download); without it or
without the ``playwright`` package the browser tests skip locally and fail under ``CI=true``.
Screenshots go to ``artifacts/screenshots/`` (gitignored); the docs copy the best ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests._services import in_ci
from tests.live import LiveServer, embedded_up

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / "artifacts" / "screenshots"
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "console-tests-password"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def _unavailable(reason: str) -> None:
    if in_ci():
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """``headwater up`` on a free port with a throwaway data dir (SQLite metadata)."""
    with embedded_up(
        tmp_path_factory.mktemp("console"),
        HEADWATER_ADMIN_EMAIL=ADMIN_EMAIL,
        HEADWATER_ADMIN_PASSWORD=ADMIN_PASSWORD,
    ) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium for one test module: Playwright's sync API keeps an event loop running in this
    thread while it is open, which would break the async tests that run after it."""
    if not CHROMIUM.exists():
        _unavailable("Debian's chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any, console_server: LiveServer) -> Iterator[Any]:
    """A fresh browser context (own cookies) per test, clipboard allowed for the Copy button."""
    context = browser.new_context(
        base_url=console_server.url, viewport={"width": 1280, "height": 860}
    )
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=console_server.url)
    context.set_default_timeout(15_000)
    opened = context.new_page()
    try:
        yield opened
    finally:
        context.close()


@pytest.fixture(scope="module")
def fresh_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A ``headwater up`` of its own for one test module: an empty install, and counts on the
    shared server's Activities page stay as other modules expect."""
    with embedded_up(
        tmp_path_factory.mktemp("fresh"),
        HEADWATER_ADMIN_EMAIL=ADMIN_EMAIL,
        HEADWATER_ADMIN_PASSWORD=ADMIN_PASSWORD,
    ) as server:
        yield server


@pytest.fixture
def fresh_page(browser: Any, fresh_server: LiveServer) -> Iterator[Any]:
    """A page on ``fresh_server`` at 1280x800."""
    context = browser.new_context(
        base_url=fresh_server.url, viewport={"width": 1280, "height": 800}
    )
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


class Shots:
    """Numbered full-page screenshots of one test."""

    def __init__(self, prefix: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.prefix = prefix

    def take(self, page: Any, name: str) -> Path:
        path = SHOTS / f"{self.prefix}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


def sign_in(page: Any, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> None:
    page.goto("/console")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/rivers")
