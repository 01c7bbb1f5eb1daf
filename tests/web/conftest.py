"""A live ``headwater up`` and Debian's Chromium driven by Playwright, for the browser tests.

The browser is the system's ``/usr/bin/chromium`` (never a Playwright download); without it or
without the ``playwright`` package the browser tests skip locally and fail under ``CI=true``.
Screenshots go to ``artifacts/screenshots/`` (gitignored); the docs copy the best ones.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests._services import in_ci
from tests.live import free_port

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


@dataclass
class Console:
    url: str
    env: dict[str, str]
    log_path: Path

    def headwater(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "headwater", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def mint_token(self, *scopes: str) -> dict[str, str]:
        args = ["tokens", "create", "--name", "console test setup", "--json"]
        for scope in scopes:
            args += ["--scope", scope]
        minted: dict[str, str] = json.loads(self.headwater(*args))
        return minted


@pytest.fixture(scope="session")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """``headwater up`` on a free port with a throwaway data dir (SQLite metadata)."""
    base = tmp_path_factory.mktemp("console")
    port = free_port()
    env = {
        **os.environ,
        "HEADWATER_DATA_DIR": str(base / "data"),
        "HEADWATER_ADMIN_EMAIL": ADMIN_EMAIL,
        "HEADWATER_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }
    env.pop("HEADWATER_DATABASE_URL", None)
    env.pop("HEADWATER_PUBLIC_URL", None)
    log_path = base / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "headwater", "up", "--port", str(port)],
            cwd=base,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise AssertionError(f"headwater up exited:\n{log_path.read_text()}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"headwater up not healthy:\n{log_path.read_text()}")
            time.sleep(0.1)
        yield Console(url=url, env=env, log_path=log_path)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


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
def page(browser: Any, console_server: Console) -> Iterator[Any]:
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
