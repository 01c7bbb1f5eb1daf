"""A small real HTTP API for action tests, served by uvicorn on a free loopback port.

It records every call, measures how many requests run at once, checks each auth kind, pages
four ways, fails on purpose (429 with ``Retry-After``, 500) and answers slowly on request.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

BASIC_USER, BASIC_PASSWORD = "robot", "basic-Pa55-secret"
BEARER_TOKEN = "bearer-token-0123456789"
API_KEY = "key-abcdef-987654"
CLIENT_ID, CLIENT_SECRET = "client-1", "client-secret-xyz"
OAUTH_TOKEN = "oauth-access-token-42"
ITEMS = [{"id": i, "name": f"item {i}"} for i in range(1, 8)]  # 7 items, pages of 3


@dataclass
class Recorder:
    calls: list[dict[str, Any]] = field(default_factory=list)
    active: int = 0
    max_active: int = 0
    attempts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    attempt_times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def reset(self) -> None:
        self.calls.clear()
        self.active = self.max_active = 0
        self.attempts.clear()
        self.attempt_times.clear()


def build_app(recorder: Recorder) -> Starlette:
    async def record(request: Request) -> Response:
        body = await request.body()
        entry = {
            "method": request.method,
            "path": request.url.path,
            "query": dict(request.query_params),
            "headers": {k.lower(): v for k, v in request.headers.items()},
            "body": body.decode(),
        }
        recorder.calls.append(entry)
        recorder.active += 1
        recorder.max_active = max(recorder.max_active, recorder.active)
        try:
            await asyncio.sleep(float(request.query_params.get("sleep", "0")))
        finally:
            recorder.active -= 1
        return JSONResponse({"received": len(recorder.calls), "id": f"call-{len(recorder.calls)}"})

    def _authorized(request: Request, kind: str) -> bool:
        header = request.headers.get("authorization", "")
        if kind == "basic":
            raw = base64.b64encode(f"{BASIC_USER}:{BASIC_PASSWORD}".encode()).decode()
            return header == f"Basic {raw}"
        if kind == "bearer":
            return header == f"Bearer {BEARER_TOKEN}"
        if kind == "oauth":
            return header == f"Bearer {OAUTH_TOKEN}"
        if kind == "key_header":
            return request.headers.get("x-api-key") == API_KEY
        return request.query_params.get("api_key") == API_KEY

    async def auth(request: Request) -> Response:
        kind = request.path_params["kind"]
        if not _authorized(request, kind):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        return JSONResponse({"user": {"name": f"via {kind}"}})

    async def token(request: Request) -> Response:
        form = await request.form()
        recorder.calls.append({"path": "/oauth/token", "form": dict(form)})
        if (
            form.get("grant_type") != "client_credentials"
            or form.get("client_id") != CLIENT_ID
            or form.get("client_secret") != CLIENT_SECRET
        ):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        return JSONResponse({"access_token": OAUTH_TOKEN, "token_type": "bearer"})

    async def pages(request: Request) -> Response:
        style = request.path_params["style"]
        query = request.query_params
        recorder.calls.append({"path": request.url.path, "query": dict(query)})
        size = 3
        headers: dict[str, str] = {}
        if style == "page":
            start = (int(query.get("page", "1")) - 1) * size
        elif style == "offset":
            start, size = int(query.get("offset", "0")), int(query.get("limit", "3"))
        elif style == "cursor":
            start = int(query.get("after", "0"))
        else:  # link
            start = int(query.get("from", "0"))
        chunk = ITEMS[start : start + size]
        body: dict[str, Any] = {"data": chunk}
        more = start + size < len(ITEMS)
        if style == "cursor":
            body["next"] = str(start + size) if more else None
        if style == "link" and more:
            headers["Link"] = f'</pages/link?from={start + size}>; rel="next"'
        return JSONResponse(body, headers=headers)

    async def flaky(request: Request) -> Response:
        key = request.path_params["key"]
        status = int(request.query_params.get("status", "500"))
        fail_times = int(request.query_params.get("fail", "1"))
        recorder.attempts[key] += 1
        recorder.attempt_times[key].append(time.monotonic())
        if recorder.attempts[key] <= fail_times:
            headers = {}
            if "retry_after" in request.query_params:
                headers["Retry-After"] = request.query_params["retry_after"]
            return JSONResponse({"error": "try later"}, status_code=status, headers=headers)
        return JSONResponse({"ok": True, "attempts": recorder.attempts[key]})

    async def slow(request: Request) -> Response:
        await asyncio.sleep(float(request.query_params.get("seconds", "2")))
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[
            Route("/calls/{name}", record, methods=["GET", "POST", "PUT"]),
            Route("/auth/{kind}", auth),
            Route("/oauth/token", token, methods=["POST"]),
            Route("/pages/{style}", pages),
            Route("/flaky/{key}", flaky, methods=["GET", "POST"]),
            Route("/slow", slow, methods=["GET", "POST"]),
        ]
    )


@dataclass
class Served:
    url: str
    recorder: Recorder


@contextmanager
def serve() -> Iterator[Served]:
    """Run the app on 127.0.0.1 with a port the OS picks; stop it on exit."""
    recorder = Recorder()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        build_app(recorder),
        log_level="warning",
        lifespan="off",
        ws="none",
        http="h11",
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the test HTTP server did not start"
        time.sleep(0.02)
    try:
        yield Served(f"http://127.0.0.1:{port}", recorder)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
