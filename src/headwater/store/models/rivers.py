"""Rivers (data flows), their groups, their version history and what they reference.

``River.definition`` is the validated definition as the API shows it (canonical ``type``,
defaults filled in), except that secret fields hold ciphertexts. The schedule and status are
also kept in columns so the scheduler and list filters need no JSON queries.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from headwater.store.base import Base, CreatedMixin, IdMixin, utcnow

RIVER_TYPES = ("src_to_trgt", "logic", "actions")
RIVER_STATUSES = ("active", "disabled")


class RiverGroup(IdMixin, CreatedMixin, Base):
    __tablename__ = "river_groups"
    __table_args__ = (UniqueConstraint("environment_id", "name"),)

    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    environment_id: Mapped[str] = mapped_column(
        ForeignKey("environments.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))


class River(IdMixin, CreatedMixin, Base):
    __tablename__ = "rivers"
    __table_args__ = (UniqueConstraint("environment_id", "name"),)

    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    environment_id: Mapped[str] = mapped_column(
        ForeignKey("environments.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    river_type: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="active")
    group_id: Mapped[str | None] = mapped_column(
        ForeignKey("river_groups.id"), default=None, index=True
    )
    definition: Mapped[dict[str, Any]] = mapped_column(default=dict)
    cron_expression: Mapped[str | None] = mapped_column(String(120), default=None)
    schedule_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    #: IANA zone the cron is read in; NULL is UTC.
    schedule_timezone: Mapped[str | None] = mapped_column(String(64), default=None)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str | None] = mapped_column(String(24), default=None)
    updated_by: Mapped[str | None] = mapped_column(String(24), default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class RiverVersion(IdMixin, Base):
    """One row per change of a river: who, when, which change, and the full definition."""

    __tablename__ = "river_versions"
    __table_args__ = (UniqueConstraint("river_id", "version"),)

    river_id: Mapped[str] = mapped_column(ForeignKey("rivers.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    change: Mapped[str] = mapped_column(String(20))  # created | updated | restored | ...
    status: Mapped[str] = mapped_column(String(20))
    definition: Mapped[dict[str, Any]] = mapped_column(default=dict)
    actor_type: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[str | None] = mapped_column(String(24), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RiverReference(IdMixin, Base):
    """An edge from a river to a connection or another river, rewritten on every save.

    It answers "which rivers use this connection" (delete guard) and "which rivers does this
    logic river run" (cycle check) without scanning JSON definitions.
    """

    __tablename__ = "river_references"

    river_id: Mapped[str] = mapped_column(ForeignKey("rivers.id", ondelete="CASCADE"), index=True)
    ref_type: Mapped[str] = mapped_column(String(20))  # connection | river
    ref_id: Mapped[str] = mapped_column(String(24), index=True)
