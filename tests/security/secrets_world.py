"""Helpers of the secrets scenario (``test_secrets_scenario.py``): issued secrets and the
needles that find them (plain, URL-encoded, base64 at any alignment, hex), a recording HTTP
client, a reflective HTTP API on loopback, and connection bodies for every registered type.

Every secret starts with one random prefix made of characters that no encoding changes, so a
leak of a secret in any URL-encoding, or of a piece of it that starts at its beginning, still
contains the prefix; base64 is searched for at all three byte alignments, so a secret inside
an encoded ``user:password`` is found too.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from headwater.connectors.base import ConnectorSpec
from headwater.services import connection_types

#: Characters a URL, form or JSON encoder leaves alone: every secret starts with this.
PREFIX = "hw-Secr3t-" + uuid.uuid4().hex[:10]


def _b64_needles(data: bytes) -> set[str]:
    """Base64 text that any encoding of a string containing ``data`` contains, whatever the
    offset of ``data`` in it (standard and URL-safe alphabets)."""
    found: set[str] = set()
    for shift in range(3):
        padded = b"\0" * shift + data
        start = 3 if shift else 0  # the first whole 3-byte group made of ``data`` only
        end = len(padded) - len(padded) % 3
        encoded = base64.b64encode(padded[start:end]).decode()
        found |= {encoded, encoded.replace("+", "-").replace("/", "_")}
    return found


@dataclass
class Secrets:
    """Distinct secrets, one per place they are put, each ``PREFIX<n>/<tail>+@=``."""

    issued: dict[str, str] = field(default_factory=dict)
    #: Strings a secret is combined with before encoding (``user:secret`` of basic auth).
    basic_users: set[str] = field(default_factory=set)

    def new(self, label: str) -> str:
        assert label not in self.issued, label
        value = f"{PREFIX}{len(self.issued):02d}/t{uuid.uuid4().hex[:14]}+@="
        assert len(value) < 63  # PostgreSQL truncates longer identifiers in its messages
        self.issued[label] = value
        return value

    def needles(self) -> dict[str, str]:
        """Search text → what it is."""
        found = {PREFIX: "the secrets' prefix (plain, URL-encoded or truncated)"}
        found |= {n: "base64 of the prefix" for n in _b64_needles(PREFIX.encode())}
        found[PREFIX.encode().hex()] = "hex of the prefix"
        for label, value in self.issued.items():
            tail = value.split("/", 1)[1]
            found[tail[:15]] = f"tail of {label}"
            for form in (value, quote(value, safe=""), quote_plus(value)):
                found[form] = label
            for user in self.basic_users:
                raw = f"{user}:{value}".encode()
                found[base64.b64encode(raw).decode()] = f"basic auth of {label}"
        return found


@dataclass
class Leak:
    where: str
    what: str
    excerpt: str


def find_leaks(corpus: list[tuple[str, str]], needles: dict[str, str]) -> list[Leak]:
    leaks: list[Leak] = []
    for where, text in corpus:
        for needle, what in needles.items():
            at = text.find(needle)
            if at >= 0:
                excerpt = text[max(0, at - 120) : at + len(needle) + 60]
                leaks.append(Leak(where, what, excerpt))
    return leaks


# -- an HTTP client that keeps every answer ----------------------------------------------------


class Recording:
    """A synchronous client whose every response body (and headers) joins ``corpus``."""

    def __init__(self, base_url: str, corpus: list[tuple[str, str]], **kwargs: Any) -> None:
        self.corpus = corpus
        self.count = 0
        self.client = httpx.Client(
            base_url=base_url,
            timeout=60,
            event_hooks={"response": [self._keep]},
            **kwargs,
        )

    def _keep(self, response: httpx.Response) -> None:
        response.read()
        self.count += 1
        where = f"{response.request.method} {response.request.url.raw_path.decode()}"
        headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
        self.corpus.append((f"HTTP {response.status_code} {where}", headers + "\n" + response.text))

    def request(self, method: str, path: str, expect: int | None = 200, **kw: Any) -> Any:
        response = self.client.request(method, path, **kw)
        if expect is not None:
            assert response.status_code == expect, f"{method} {path}: {response.text}"
        if "json" in response.headers.get("content-type", ""):
            return response.json()
        return response.text

    def close(self) -> None:
        self.client.close()


# -- a reflective HTTP API ----------------------------------------------------------------------


@dataclass
class Echo:
    """Received requests; ``/api/...`` answers data, ``/deny/...`` answers 401 repeating the
    credentials it was sent (as careless APIs and debugging proxies do), anything else 403."""

    url: str = ""
    access_token: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)

    def bodies(self, path: str) -> list[str]:
        return [r["body"] for r in self.received if r["path"] == path]


def _echo_app(echo: Echo) -> Starlette:
    async def keep(request: Request) -> dict[str, Any]:
        entry = {
            "method": request.method,
            "path": request.url.path,
            "query": request.url.query,
            "headers": {k.lower(): v for k, v in request.headers.items()},
            "body": (await request.body()).decode(errors="replace"),
        }
        echo.received.append(entry)
        return entry

    async def api(request: Request) -> Response:
        await keep(request)
        return JSONResponse({"data": [{"id": 1, "name": "alpha"}, {"id": 2, "name": "beta"}]})

    async def token(request: Request) -> Response:
        await keep(request)
        return JSONResponse(
            {"access_token": echo.access_token, "token_type": "bearer", "expires_in": 3600}
        )

    async def deny(request: Request) -> Response:
        entry = await keep(request)
        said = [
            f"{name}={entry['headers'][name]}"
            for name in ("authorization", "x-api-key")
            if name in entry["headers"]
        ]
        said += [f"query={entry['query']}"] if entry["query"] else []
        said += [f"body={entry['body']}"] if entry["body"] else []
        return JSONResponse({"error": "denied: " + " ".join(said)}, status_code=401)

    async def hook(request: Request) -> Response:
        await keep(request)
        return JSONResponse({"ok": True})

    async def other(request: Request) -> Response:
        await keep(request)
        body = "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
        return Response(body, status_code=403, media_type="application/xml")

    return Starlette(
        routes=[
            Route("/api/oauth/token", token, methods=["POST"]),
            Route("/api", api),
            Route("/api/{rest:path}", api, methods=["GET", "POST"]),
            Route("/deny/{rest:path}", deny, methods=["GET", "POST"]),
            Route("/hook", hook, methods=["POST"]),
            Route("/{rest:path}", other, methods=["GET", "HEAD", "POST", "PUT"]),
        ]
    )


@contextmanager
def serve_echo(access_token: str) -> Iterator[Echo]:
    echo = Echo(access_token=access_token)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    echo.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = uvicorn.Config(
        _echo_app(echo), log_level="warning", lifespan="off", http="h11", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the echo server did not start"
        time.sleep(0.02)
    try:
        yield echo
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


# -- connections of every registered type ------------------------------------------------------


@dataclass
class ConnectionCase:
    """One connection to create; ``test_ok`` is what its connection test must answer."""

    name: str
    connection_type: str
    properties: dict[str, Any]
    test_ok: bool | None

    @property
    def secret_names(self) -> set[str]:
        """The type's secret properties, as the catalogue marks them."""
        spec = connection_types.find_spec(self.connection_type)
        assert spec is not None
        return connection_types.secret_names(spec)


def _generic(spec: ConnectorSpec, tmp: Path) -> dict[str, Any]:
    """Required properties of a type this file has no case for, with plausible values."""
    props: dict[str, Any] = {}
    for prop in spec.properties:
        if prop.required and prop.default is None:
            props[prop.name] = {
                "integer": 1,
                "boolean": False,
                "path": str(tmp / f"{spec.name}-{prop.name}"),
            }.get(prop.type, "headwater-test")
    return props


def connection_cases(
    secrets: Secrets, echo_url: str, pg: dict[str, str], tmp: Path
) -> list[ConnectionCase]:
    """At least one connection per registered type, every secret property of each filled with
    its own secret (unused ones too: stored is stored), and the cases the scenario runs."""
    pg_db = {name: url.rsplit("/", 1)[1] for name, url in pg.items()}
    pg_base = {"host": "127.0.0.1", "port": 5432, "username": "postgres"}
    api = f"{echo_url}/api"
    known: dict[str, list[tuple[str, dict[str, Any], bool | None]]] = {
        "postgres": [
            ("pg-src", {**pg_base, "database": pg_db["src"]}, True),
            ("pg-dst", {**pg_base, "database": pg_db["dst"]}, True),
            ("pg-missing", {**pg_base, "database": "hw_missing_db"}, False),
        ],
        "mysql": [
            (
                "mysql-wrong-password",
                {"host": "127.0.0.1", "port": 3306, "database": "mysql", "username": "root"},
                False,
            ),
        ],
        "s3": [
            (
                "s3-denied",
                {
                    "bucket": "hw-bucket",
                    "endpoint_url": echo_url,
                    "region": "us-east-1",
                    "access_key_id": "AKIAHEADWATERTEST",
                },
                False,
            ),
        ],
        "http": [
            ("api-bearer", {"base_url": api, "auth_type": "bearer"}, True),
            ("api-key-header", {"base_url": api, "auth_type": "api_key"}, True),
            (
                "api-basic-denied",
                {"base_url": f"{echo_url}/deny/basic", "auth_type": "basic", "username": "robot"},
                False,
            ),
            (
                "api-key-query-denied",
                {"base_url": f"{echo_url}/deny/key", "auth_type": "api_key", "api_key_in": "query"},
                False,
            ),
            (
                "api-oauth",
                {
                    "base_url": api,
                    "auth_type": "oauth2_client_credentials",
                    "token_url": f"{api}/oauth/token",
                    "client_id": "hw-client",
                },
                True,
            ),
            (
                "api-oauth-denied",
                {
                    "base_url": api,
                    "auth_type": "oauth2_client_credentials",
                    "token_url": f"{echo_url}/deny/token",
                    "client_id": "hw-client",
                },
                False,
            ),
        ],
        "sqlite": [("sqlite-file", {"path": str(tmp / "data.sqlite")}, None)],
        "duckdb": [("duckdb-file", {"path": str(tmp / "data.duckdb")}, None)],
        "local_files": [("files-dir", {"root": str(tmp)}, True)],
    }
    secrets.basic_users |= {"robot", "hw-client"}
    cases: list[ConnectionCase] = []
    for spec in connection_types.all_specs():
        variants = known.get(spec.name) or [(f"{spec.name}-generic", _generic(spec, tmp), None)]
        for name, props, test_ok in variants:
            filled = dict(props)
            for secret_name in sorted(connection_types.secret_names(spec)):
                secret = secrets.new(f"connection {name}.{secret_name}")
                # extra headers and a connector's secret settings are JSON objects whose
                # values are the secrets
                objects = {"headers": "X-Extra-Secret", "secret_config": "api_token"}
                filled[secret_name] = (
                    json.dumps({objects[secret_name]: secret}) if secret_name in objects else secret
                )
            cases.append(ConnectionCase(name, spec.name, filled, test_ok))
    return cases
