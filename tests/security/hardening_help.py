"""Helpers for ``test_hardening.py``: the route table, extra browsers, the expected headers,
what a strict CSP would block on a page, a counting chunked body."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import Engine, select
from starlette.routing import Mount

from headwater.api.routes import iter_api_routes
from headwater.executors.base import Executor
from headwater.store.base import Base
from headwater.web.app import is_console
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.web.forms import sign_in

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PLACEHOLDER = "0" * 24


NOT_LOCKING = frozenset({"unsafe-inline", "unsafe-eval", "unsafe-hashes", "*", "data:", "http:"})
STRICT_REFERRERS = {
    "no-referrer",
    "same-origin",
    "strict-origin",
    "strict-origin-when-cross-origin",
}


class RecordingExecutor(Executor):
    """Keeps submitted run groups instead of running them (no threads in these tests)."""

    name = "recording"

    def __init__(self) -> None:
        self.submitted: list[str] = []

    def submit(self, run_group_id: str) -> None:
        self.submitted.append(run_group_id)

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


@asynccontextmanager
async def browser(
    app: FastAPI, *, scheme: str = "http", address: str = "127.0.0.1", raise_errors: bool = True
) -> AsyncIterator[httpx.AsyncClient]:
    """One more cookie jar (another browser) over the same app, from ``address``."""
    transport = httpx.ASGITransport(
        app=app, client=(address, 50000), raise_app_exceptions=raise_errors
    )
    async with httpx.AsyncClient(transport=transport, base_url=f"{scheme}://testserver") as client:
        yield client


@asynccontextmanager
async def admin_browser(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with browser(app) as client:
        assert (await sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)).status_code == 303
        yield client


# -- the route table ----------------------------------------------------------------------------


def calls(dependant: Any) -> Iterator[Any]:
    for dep in dependant.dependencies:
        yield dep.call
        yield from calls(dep)


def verbs(route: APIRoute) -> set[str]:
    return set(route.methods or ())


def is_public(route: APIRoute) -> bool:
    return any(getattr(call, "is_public", False) for call in calls(route.dependant))


def console_routes(app: FastAPI) -> list[APIRoute]:
    return [r for r in iter_api_routes(app.routes) if is_console(r.path)]


def api_routes(app: FastAPI) -> list[APIRoute]:
    return [r for r in iter_api_routes(app.routes) if not is_console(r.path)]


def static_paths(app: FastAPI) -> list[str]:
    mounts = [r for r in app.routes if isinstance(r, Mount) and r.path.endswith("/static")]
    assert len(mounts) == 1
    directory = Path(mounts[0].app.directory)  # type: ignore[attr-defined]
    return sorted(f"{mounts[0].path}/{p.relative_to(directory)}" for p in directory.rglob("*.*"))


def fill(path: str, ids: dict[str, str], *, strict: bool = True) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in ids and strict:
            raise AssertionError(f"{path}: no value for {{{name}}}; add one to the world fixture")
        return ids.get(name, PLACEHOLDER)

    return re.sub(r"\{(\w+)(?::\w+)?\}", value, path)


def snapshot(engine: Engine) -> dict[str, list[str]]:
    """Every row of every table, to prove a refused request changed nothing."""
    with engine.connect() as connection:
        return {
            table.name: sorted(repr(tuple(row)) for row in connection.execute(select(table)))
            for table in Base.metadata.sorted_tables
        }


# -- what a response and a page must look like --------------------------------------------------


def csp(value: str) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in value.split(";"):
        tokens = part.split()
        if tokens:
            directives[tokens[0].lower()] = [t.lower() for t in tokens[1:]]
    return directives


def check_console_headers(response: httpx.Response, where: str, *, page: bool = True) -> None:
    headers = response.headers
    for name in ("content-security-policy", "x-frame-options", "x-content-type-options"):
        assert len(headers.get_list(name)) == 1, f"{where}: {name} {headers.get_list(name)}"
    policy = csp(headers["content-security-policy"])
    for kind in ("script-src", "style-src"):
        sources = policy.get(kind, policy.get("default-src"))
        assert sources, f"{where}: no {kind} or default-src"
        loose = NOT_LOCKING & {s.strip("'") for s in sources}
        assert not loose, f"{where}: {kind} allows {loose}"
    assert policy.get("frame-ancestors") == ["'none'"], where
    assert policy.get("object-src") == ["'none'"], where
    assert policy.get("base-uri") in (["'self'"], ["'none'"]), where
    assert policy.get("form-action") == ["'self'"], where
    assert headers["x-frame-options"] == "DENY", where
    assert headers["x-content-type-options"] == "nosniff", where
    assert headers.get("referrer-policy") in STRICT_REFERRERS, where
    if page:
        assert headers.get_list("cache-control") == ["no-store"], where


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str]


class PageScan(HTMLParser):
    """What a strict CSP would block on a page, and its forms."""

    def __init__(self) -> None:
        super().__init__()
        self.blocked: list[str] = []
        self.forms: list[Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        for name, value in values.items():
            if name.startswith("on") or name == "style":
                self.blocked.append(f"<{tag} {name}=...>")
            if name in ("href", "src", "action") and value.strip().lower().startswith(
                ("javascript:", "http:", "https:", "//")
            ):
                self.blocked.append(f"<{tag} {name}={value}>")
        if tag == "style":
            self.blocked.append("<style>")
        if tag == "script" and not values.get("src"):
            self.blocked.append("inline <script>")
        if tag == "form":
            self.forms.append(Form(values.get("action", ""), values.get("method", "get"), {}))
        if tag == "input" and self.forms and values.get("name"):
            self.forms[-1].fields[values["name"]] = values.get("value", "")


def scan(html: str) -> PageScan:
    parser = PageScan()
    parser.feed(html)
    parser.close()
    return parser


class Stream:
    """A chunked body (no Content-Length) that counts what the app pulled from it."""

    def __init__(self, total: int, chunk: int = 1024) -> None:
        self.total, self.chunk, self.pulled = total, chunk, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.pulled < self.total:
            size = min(self.chunk, self.total - self.pulled)
            self.pulled += size
            yield b"a" * size
