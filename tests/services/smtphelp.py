"""A real SMTP server on loopback (aiosmtpd) that keeps every message it accepts.

Messages go through the whole protocol (EHLO, optional AUTH, MAIL, RCPT, DATA) over a TCP
socket, so the sender is tested as it talks to a real mail server, not to a stub of smtplib.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


def free_port() -> int:
    """A loopback port nobody listens on (yet)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    authenticated: bool

    @property
    def body(self) -> str:
        return str(self.message.get_content())


@dataclass
class SmtpSink:
    """Accepts mail on ``port``; with ``login`` set, AUTH accepts only that user and password."""

    port: int = field(default_factory=free_port)
    login: tuple[str, str] | None = None
    mails: list[Mail] = field(default_factory=list)
    auth_attempts: list[tuple[str, bool]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _controller: Controller | None = None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        parsed = message_from_bytes(bytes(envelope.content or b""), policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        mail = Mail(
            str(envelope.mail_from),
            [str(to) for to in envelope.rcpt_tos],
            parsed,
            bool(session.authenticated),
        )
        with self._lock:
            self.mails.append(mail)
        return "250 Message accepted for delivery"

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        user, password = data.login.decode(), data.password.decode()
        ok = self.login is not None and (user, password) == self.login
        with self._lock:
            self.auth_attempts.append((user, ok))
        return AuthResult(success=ok, handled=False)  # False: the server answers 535

    def __enter__(self) -> SmtpSink:
        kwargs: dict[str, Any] = {}
        if self.login is not None:
            kwargs = {"authenticator": self._authenticate, "auth_require_tls": False}
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port, **kwargs)
        self._controller.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._controller is not None
        self._controller.stop()
        self._controller.loop.close()
