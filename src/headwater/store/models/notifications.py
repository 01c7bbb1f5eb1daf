"""E-mail notifications of rivers: one row per finished run group that has recipients.

Like a webhook delivery, the message is composed when the group ends and stored whole
(subject, body, recipients), so retries send what was true then even if the river is later
changed or deleted: ``run_group_id`` and ``river_id`` are plain columns, not foreign keys.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from headwater.store.base import Base, CreatedMixin, IdMixin

EMAIL_EVENTS = ("run_group.failed", "run_group.succeeded")
EMAIL_STATUSES = ("pending", "sent", "failed")


class EmailDelivery(IdMixin, CreatedMixin, Base):
    """One notification e-mail: queued, retried with the webhook backoff, then sent or failed."""

    __tablename__ = "email_deliveries"
    __table_args__ = (Index("ix_email_deliveries_due", "status", "next_attempt_at"),)

    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    environment_id: Mapped[str] = mapped_column(
        ForeignKey("environments.id", ondelete="CASCADE"), index=True
    )
    # one e-mail per run group, whatever the number of dispatchers
    run_group_id: Mapped[str] = mapped_column(String(32), index=True, unique=True)
    river_id: Mapped[str] = mapped_column(String(24))
    event: Mapped[str] = mapped_column(String(40))
    recipients: Mapped[list[Any]] = mapped_column(default=list)
    subject: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    # Attempts claimed so far; a claim increments it, so it doubles as the claim token.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
