"""Console login sessions and failed logins, kept server-side.

A session is a row, not a self-contained signed cookie, so logging out (or an admin removing a
user) ends it at once on every device; the cookie holds only a random secret whose keyed
digest is the row's lookup key. Failed logins are rows too, so the throttle holds across
processes and restarts.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from headwater.store.base import Base, IdMixin, utcnow


class ConsoleSession(IdMixin, Base):
    __tablename__ = "console_sessions"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()


class ConsoleLoginFailure(IdMixin, Base):
    """One failed login for a (e-mail, client address) key, digested so no e-mail is stored."""

    __tablename__ = "console_login_failures"
    __table_args__ = (Index("ix_console_login_failures_key_at", "key_hash", "failed_at"),)

    key_hash: Mapped[str] = mapped_column(String(64))
    failed_at: Mapped[datetime] = mapped_column(default=utcnow)
