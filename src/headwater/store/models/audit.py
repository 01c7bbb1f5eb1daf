"""The audit trail: who did what to which entity, when, and how it ended."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from headwater.store.base import Base, IdMixin, utcnow


class AuditEvent(IdMixin, Base):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_account_time", "account_id", "occurred_at"),)

    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    environment_id: Mapped[str | None] = mapped_column(String(24), default=None)
    actor_type: Mapped[str] = mapped_column(String(20))  # user | token | system | instance_admin
    actor_id: Mapped[str | None] = mapped_column(String(24), default=None)
    actor_user_id: Mapped[str | None] = mapped_column(String(24), default=None)  # behind a token
    action: Mapped[str] = mapped_column(String(64))  # e.g. token.created
    entity_type: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str | None] = mapped_column(String(40), default=None)
    result: Mapped[str] = mapped_column(String(20), default="success")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
