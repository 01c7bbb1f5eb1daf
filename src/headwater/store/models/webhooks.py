"""Webhooks: URLs an environment notifies when run groups end, and every delivery attempt.

The hosted API only offers polling; these tables let Headwater push instead. A delivery keeps
its payload as a snapshot taken when it was queued, so retries (and redeliveries) send what
was true when the run group ended even if the group is later deleted: ``run_group_id`` is a
plain column, not a foreign key, for that reason. Every attempt is its own row so the API can
show when each try happened, what the receiver answered and how long it took.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from headwater.store.base import Base, CreatedMixin, IdMixin, utcnow
from headwater.vocabulary import WEBHOOK_EVENTS, WEBHOOK_PING_EVENT

EVENTS = WEBHOOK_EVENTS
PING_EVENT = WEBHOOK_PING_EVENT


class Webhook(IdMixin, CreatedMixin, Base):
    """One receiver URL of an environment and the run-group events it subscribes to."""

    __tablename__ = "webhooks"

    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    environment_id: Mapped[str] = mapped_column(
        ForeignKey("environments.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[Any]] = mapped_column(default=list)
    is_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # The HMAC signing secret as a ``security.crypto`` ciphertext (purpose ``webhook``).
    secret: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(24), default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(IdMixin, CreatedMixin, Base):
    """One event for one webhook: queued, retried with backoff, then succeeded or failed."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_webhook_created", "webhook_id", "created_at"),
    )

    webhook_id: Mapped[str] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(40))
    run_group_id: Mapped[str | None] = mapped_column(String(32), default=None)  # None: ping
    redelivery_of: Mapped[str | None] = mapped_column(String(24), default=None)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    # Attempts claimed so far; a claim increments it, so it doubles as the claim token.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    last_status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)


class WebhookAttempt(IdMixin, Base):
    """One HTTP request of a delivery: when, the receiver's status code or the error, duration."""

    __tablename__ = "webhook_attempts"

    delivery_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    attempted_at: Mapped[datetime] = mapped_column(default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    duration_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    response_body: Mapped[str | None] = mapped_column(Text, default=None)
