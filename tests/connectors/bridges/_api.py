"""A local JSON API for the Singer tap and the Airbyte manifest: paged items, bearer auth.

``GET /items?page=N[&updated_since=ISO]`` answers ``{"items": [...], "next_page": N+1|null}``
with ``PAGE_SIZE`` items a page, only items updated strictly after ``updated_since``. Every
request must carry ``Authorization: Bearer <token>``; the requests seen are kept for asserts.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PAGE_SIZE = 10


def item(number: int) -> dict[str, Any]:
    return {
        "id": number,
        "name": f"item {number}",
        "updated_at": f"2024-01-{1 + number // 24:02d}T{number % 24:02d}:00:00+00:00",
        "tags": ["a", f"t{number}"],
        "owner": {"login": f"user{number % 3}", "age": 20 + number % 7},
    }


@dataclass
class Api:
    token: str
    items: list[dict[str, Any]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    url: str = ""

    def add(self, first: int, last: int) -> None:
        self.items.extend(item(n) for n in range(first, last + 1))


@contextmanager
def running_api(token: str, count: int) -> Iterator[Api]:
    api = Api(token)
    api.add(1, count)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return None

        def do_GET(self) -> None:
            api.requests.append(self.path)
            if self.headers.get("Authorization") != f"Bearer {api.token}":
                self.reply(401, {"error": "bad token"})
                return
            parts = urlsplit(self.path)
            if parts.path != "/items":
                self.reply(404, {"error": "no such path"})
                return
            query = parse_qs(parts.query)
            page = int(query.get("page", ["1"])[0])
            since = query.get("updated_since", [""])[0].replace(" ", "+")
            chosen = [i for i in api.items if not since or i["updated_at"] > since]
            start = (page - 1) * PAGE_SIZE
            more = start + PAGE_SIZE < len(chosen)
            self.reply(
                200,
                {
                    "items": chosen[start : start + PAGE_SIZE],
                    "next_page": page + 1 if more else None,
                },
            )

        def reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
