"""Webhook test helpers: a real HTTP receiver on loopback, finished run groups, webhooks.

The receiver checks signatures with its own HMAC code (not Headwater's ``sign``), so a wrong
signing scheme cannot pass by agreeing with itself.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from headwater.schemas.webhooks import WebhookCreate
from headwater.security.crypto import SecretBox
from headwater.services import webhooks as webhook_service
from headwater.services.audit import Actor
from headwater.services.envscope import EnvScope
from headwater.store.models.runs import Run, RunGroup

TEST_SECRET_KEY = "test-secret-key-not-for-production"  # the `settings` fixture's key
RIVER = "b" * 24


def box() -> SecretBox:
    return SecretBox(TEST_SECRET_KEY)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed

    def signature_valid(self, secret: str) -> bool:
        signed = self.headers["x-headwater-timestamp"].encode() + b"." + self.body
        expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        return hmac.compare_digest(self.headers["x-headwater-signature"], f"sha256={expected}")


@dataclass
class Receiver:
    """Records every POST; answers 500 to the next ``fail_next`` requests, then 200."""

    fail_next: int = 0
    requests: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def __enter__(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver._lock:
                    receiver.requests.append(Received(self.path, headers, body))
                    failing = receiver.fail_next > 0
                    if failing:
                        receiver.fail_next -= 1
                answer = b"nope" if failing else b"thanks"
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/hooks/headwater"

    def bodies(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.json() for r in self.requests]


def add_webhook(
    sessions: sessionmaker[Session],
    account_id: str,
    environment_id: str,
    *,
    url: str,
    events: Sequence[str] = ("run_group.finished",),
    secret: str = "whsec_test-secret-of-enough-length",
    now: datetime,
    is_enabled: bool = True,
    name: str = "receiver",
) -> str:
    body = WebhookCreate.model_validate(
        {
            "name": name,
            "url": url,
            "events": list(events),
            "secret": secret,
            "is_enabled": is_enabled,
        }
    )
    with sessions() as session:
        created = webhook_service.create_webhook(
            session,
            box(),
            EnvScope(account_id, environment_id),
            Actor.system(),
            body,
            now,
        )
        return created.webhook.id


def add_finished_group(
    sessions: sessionmaker[Session],
    account_id: str,
    environment_id: str,
    *,
    status: str,
    ended: datetime,
    runs: Sequence[tuple[str, str, str | None]] = (("public.a", "succeeded", None),),
) -> str:
    """A final run group written as rows, with one run per ``(target, status, error)``."""
    started = ended - timedelta(minutes=3)
    with sessions() as session:
        group = RunGroup(
            account_id=account_id,
            environment_id=environment_id,
            river_id=RIVER,
            river_type="src_to_trgt",
            trigger="api",
            status=status,
            start_time=started,
            end_time=ended,
            units=Decimal("1.25"),
            total_rows=42,
            total_size=4096,
        )
        session.add(group)
        session.flush()
        for target, run_status, error in runs:
            session.add(
                Run(
                    run_group_id=group.id,
                    account_id=account_id,
                    environment_id=environment_id,
                    river_id=RIVER,
                    target_name=target,
                    trigger="api",
                    status=run_status,
                    error_description=error,
                    start_time=started,
                    end_time=ended,
                    total_rows=21,
                )
            )
        session.commit()
        return group.id
