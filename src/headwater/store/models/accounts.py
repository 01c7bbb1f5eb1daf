"""Accounts, their plan history, environments and users."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from headwater.store.base import Base, CreatedMixin, IdMixin, utcnow

PLANS = ("starter", "pro", "enterprise")
ROLES = ("admin", "member")


class Account(IdMixin, CreatedMixin, Base):
    __tablename__ = "accounts"

    name: Mapped[str] = mapped_column(String(200))
    plan: Mapped[str] = mapped_column(String(20), default="pro")
    plan_changed_at: Mapped[datetime | None] = mapped_column(default=None)
    # End of the notice period after a move to `starter`: tokens stop working then.
    plan_notice_ends_at: Mapped[datetime | None] = mapped_column(default=None)
    # Set by an instance admin: the account's tokens and console logins stop working.
    disabled_at: Mapped[datetime | None] = mapped_column(default=None)

    environments: Mapped[list[Environment]] = relationship(
        back_populates="account",
        order_by="Environment.created_at",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )
    plan_changes: Mapped[list[PlanChange]] = relationship(
        back_populates="account",
        order_by="PlanChange.changed_at",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )


class PlanChange(IdMixin, Base):
    """One row per plan change: the account's plan history."""

    __tablename__ = "plan_changes"

    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    from_plan: Mapped[str | None] = mapped_column(String(20))
    to_plan: Mapped[str] = mapped_column(String(20))
    changed_by: Mapped[str | None] = mapped_column(String(24))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)

    account: Mapped[Account] = relationship(back_populates="plan_changes")


class Environment(IdMixin, CreatedMixin, Base):
    __tablename__ = "environments"
    __table_args__ = (UniqueConstraint("account_id", "name"),)

    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)

    account: Mapped[Account] = relationship(back_populates="environments")


class User(IdMixin, CreatedMixin, Base):
    __tablename__ = "users"

    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(20), default="member")
    password_hash: Mapped[str] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # May create, list and disable accounts across the installation (``/v1/instance``).
    is_instance_admin: Mapped[bool] = mapped_column(Boolean, default=False)
