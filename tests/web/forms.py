"""Helpers for console tests over HTTP: sign in, and read hidden form tokens from pages."""

from __future__ import annotations

import re

import httpx

CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    """GET the login form (cookie + token), then POST it; returns the POST's response."""
    page = await client.get("/console/login")
    assert page.status_code == 200, page.text
    return await client.post(
        "/console/login",
        data={"email": email, "password": password, "csrf_token": csrf_of(page.text)},
    )


async def page_csrf(client: httpx.AsyncClient, path: str) -> str:
    page = await client.get(path)
    assert page.status_code == 200, page.text
    return csrf_of(page.text)
