"""API tokens: stored as a SHA-256 hash of a high-entropy secret, never the secret itself."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from headwater.store.base import Base, CreatedMixin, IdMixin


class ApiToken(IdMixin, CreatedMixin, Base):
    """A token row outlives deletion (``deleted_at``) so its hash can never be issued again."""

    __tablename__ = "api_tokens"
    # The sweeper looks for live tokens whose plan-downgrade notice has passed.
    __table_args__ = (Index("ix_api_tokens_expires_at", "expires_at"),)

    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    display_prefix: Mapped[str] = mapped_column(String(16))
    scopes: Mapped[list[Any]] = mapped_column(default=list)
    environment_ids: Mapped[list[Any] | None] = mapped_column(default=None)  # None: all
    created_by: Mapped[str | None] = mapped_column(String(24), default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)
    deleted_by: Mapped[str | None] = mapped_column(String(24), default=None)  # user id
    deletion_reason: Mapped[str | None] = mapped_column(String(20), default=None)  # deleted|expired
