"""In Chromium: the seed's API-token flow end to end, and a member kept out of it."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.live import LiveServer
from tests.web.conftest import Shots, sign_in

pytestmark = pytest.mark.slow


def test_admin_creates_copies_uses_views_and_deletes_a_token(
    page: Any, console_server: LiveServer
) -> None:
    shots = Shots("tokens")
    page.goto("/console/login")
    shots.take(page, "01-login")
    sign_in(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="API Tokens").click()
    page.wait_for_selector("h1:has-text('API Tokens')")
    assert page.locator("#api-base-url").inner_text() == console_server.url
    account_id = page.locator("#account-id").inner_text()
    assert re.fullmatch(r"[0-9a-f]{24}", account_id)

    page.get_by_role("link", name="Add Token").click()
    page.get_by_label("Token name").fill("browser test token")
    page.locator("summary", has_text="river:list").click()  # expand to read its description
    assert page.get_by_text("List data flows (rivers)").is_visible()
    page.get_by_label("me:list").check()
    page.get_by_label("river:list").check()
    shots.take(page, "02-add-token")
    page.get_by_role("button", name="Create").click()

    secret = page.locator("#new-token").input_value()
    assert secret
    page.get_by_role("button", name="Copy").click()
    page.wait_for_selector("#copy-status:has-text('Copied')")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    shots.take(page, "03-token-created")

    me = httpx.get(f"{console_server.url}/api/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 200, me.text
    assert sorted(me.json()["scopes"]) == ["me:list", "river:list"]

    page.get_by_role("link", name="Done").click()
    row = page.locator("tr", has_text="browser test token")
    assert "me:list" in row.inner_text() and "river:list" in row.inner_text()
    assert "admin@example.com" in row.inner_text()
    shots.take(page, "04-token-list")
    row.get_by_role("link", name="View").click()
    scopes = page.locator("#token-scopes").inner_text()
    assert "me:list" in scopes and "river:list" in scopes and "token:edit" not in scopes
    shots.take(page, "05-token-view")

    page.go_back()
    row = page.locator("tr", has_text="browser test token")
    row.get_by_role("button", name="Delete token browser test token").click()
    dialog = page.locator("dialog[open]")
    assert dialog.is_visible()
    shots.take(page, "06-delete-confirm")
    dialog.get_by_role("button", name="Delete token").click()
    page.wait_for_selector("text=The token was deleted")
    assert page.locator("tr", has_text="browser test token").count() == 0

    gone = httpx.get(f"{console_server.url}/api/me", headers={"Authorization": f"Bearer {secret}"})
    assert gone.status_code == 401


def test_member_gets_the_admins_only_page_and_api_403(
    page: Any, console_server: LiveServer
) -> None:
    shots = Shots("users")
    sign_in(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Users").click()
    page.get_by_label("E-mail").fill("member-browser@example.com")
    page.get_by_label("Name").fill("Mia Member")
    page.get_by_label("Role", exact=True).select_option("member")
    page.get_by_label("Password").fill("member-password-1")
    page.get_by_role("button", name="Create user").click()
    page.wait_for_selector("text=was created as member")
    shots.take(page, "01-users")
    account_base = page.url.split("/settings/")[0]
    page.get_by_role("button", name="Log out").click()
    page.wait_for_selector("text=You are signed out")

    sign_in(page, "member-browser@example.com", "member-password-1")
    assert page.get_by_role("link", name="API Tokens").count() == 0
    response = page.goto(f"{account_base}/settings/api-tokens")
    assert response is not None and response.status == 403
    assert page.get_by_text("for account admins only").is_visible()
    shots.take(page, "02-member-403")
    account_id = account_base.rsplit("/", 1)[-1]
    api = page.request.get(f"/v1/accounts/{account_id}/api_tokens")
    assert api.status == 403
