"""The client's retries on 429/503 and ``Retry-After``, against a real HTTP server on loopback.

A live Headwater only answers 429 after a minute's worth of requests and 503 when its metadata
database is down, so a small ``http.server`` plays the refusing server here: it answers each
request with the next status of a script and records when the requests came.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import anyio
import pytest
from headwater_client import AsyncClient, Client, RateLimited, RetryPolicy, ServerError

IDS = {"account_id": "a" * 24, "environment_id": "e" * 24}
RIVERS = {
    "items": [],
    "page": 1,
    "items_per_page": 200,
    "current_page_size": 0,
    "total_items": 0,
    "next_page": None,
    "previous_page": None,
    "account_id": "a" * 24,
    "environment_id": "e" * 24,
}


class Script:
    def __init__(self) -> None:
        self.answers: list[tuple[int, dict[str, str]]] = []
        self.times: list[float] = []


@pytest.fixture
def refusing() -> Iterator[tuple[str, Script]]:
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            script.times.append(time.monotonic())
            status, headers = script.answers.pop(0) if script.answers else (200, {})
            body = json.dumps(RIVERS if status == 200 else {"detail": f"refused {status}"})
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", script
    finally:
        server.shutdown()
        server.server_close()


def test_retry_after_seconds_is_honoured(refusing: tuple[str, Script]) -> None:
    url, script = refusing
    script.answers = [(429, {"Retry-After": "1"}), (503, {"Retry-After": "0"})]
    with Client(base_url=url, token="t", **IDS) as client:
        assert client.rivers.list() == []
    assert len(script.times) == 3
    assert script.times[1] - script.times[0] >= 0.95


def test_retry_after_http_date_and_async(refusing: tuple[str, Script]) -> None:
    url, script = refusing
    script.answers = [(503, {"Retry-After": formatdate(time.time() + 2, usegmt=True)})]

    async def listed() -> int:
        async with AsyncClient(base_url=url, token="t", **IDS) as client:
            return len(await client.rivers.list())

    assert anyio.run(listed) == 0
    assert len(script.times) == 2 and script.times[1] - script.times[0] >= 0.5


def test_backoff_then_typed_error_when_retries_run_out(refusing: tuple[str, Script]) -> None:
    url, script = refusing
    script.answers = [(503, {})] * 3 + [(429, {})] * 3
    policy = RetryPolicy(max_retries=2, backoff=0.05)
    with Client(base_url=url, token="t", retry=policy, **IDS) as client:
        with pytest.raises(ServerError) as unavailable:
            client.rivers.list()
        assert unavailable.value.status_code == 503
        assert unavailable.value.message == "refused 503"
        with pytest.raises(RateLimited):
            client.rivers.list()
    assert len(script.times) == 6
