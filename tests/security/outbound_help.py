"""Loopback servers that count what reaches them, for the outbound-policy tests.

A refused destination must receive nothing at all (not a request, not a TCP handshake), so the
servers here record every accepted connection and every HTTP request.
"""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Listener:
    """A TCP port on 127.0.0.1 that accepts connections, counts them and closes them."""

    port: int
    accepted: list[str] = field(default_factory=list)

    def settled(self, wait: float = 0.05) -> list[str]:
        """``accepted`` once a connection made just now has had time to be accepted."""
        time.sleep(wait)
        return self.accepted


@contextmanager
def tcp_listener() -> Iterator[Listener]:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.02)
    listener = Listener(server.getsockname()[1])
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, peer = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            listener.accepted.append(str(peer[0]))
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener
    finally:
        stop.set()
        thread.join()
        server.close()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class HttpServer:
    port: int
    requests: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def http_server() -> Iterator[HttpServer]:
    """Answers every request ``200 {"ok": true}`` (``/hop`` redirects to ``/inside``)."""
    record: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            record.append(f"{self.command} {self.path}")
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            if self.path.startswith("/hop"):
                self.send_response(302)
                self.send_header("Location", f"http://127.0.0.1:{self.server.server_address[1]}/in")
                self.end_headers()
                return
            body = b'{"ok": true, "access_token": "t", "items": []}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_HEAD = _answer

        def log_message(self, *_args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield HttpServer(int(server.server_address[1]), record)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def moto_s3() -> Iterator[HttpServer]:
    """moto's S3 server on loopback, behind a WSGI wrapper recording every request."""
    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    app = DomainDispatcherApplication(create_backend_app)
    record: list[str] = []

    def counting(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        record.append(f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}")
        return app(environ, start_response)

    server = make_server("127.0.0.1", 0, counting, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield HttpServer(int(server.server_port), record)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
