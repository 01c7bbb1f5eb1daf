"""Connections (credentials to a source or target) and environment variables.

Secret values live only in encrypted columns (``secrets``, or ``value`` of a private variable),
as ``security.crypto`` ciphertexts; everything else is plain JSON the API may show.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from headwater.store.base import Base, CreatedMixin, IdMixin, utcnow


class Connection(IdMixin, CreatedMixin, Base):
    """Where data is read from or written to; names are unique per environment."""

    __tablename__ = "connections"
    __table_args__ = (UniqueConstraint("environment_id", "name"),)

    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    environment_id: Mapped[str] = mapped_column(
        ForeignKey("environments.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    connection_type: Mapped[str] = mapped_column(String(64))
    properties: Mapped[dict[str, Any]] = mapped_column(default=dict)  # non-secret values
    secrets: Mapped[dict[str, Any]] = mapped_column(default=dict)  # name -> ciphertext
    created_by: Mapped[str | None] = mapped_column(String(24), default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class EnvironmentVariable(IdMixin, CreatedMixin, Base):
    """A variable every river of the environment can reference as ``{name}``."""

    __tablename__ = "environment_variables"
    __table_args__ = (UniqueConstraint("environment_id", "name"),)

    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    environment_id: Mapped[str] = mapped_column(
        ForeignKey("environments.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    # {"v": <json value>} when public; {"v": "<ciphertext of the JSON value>"} when private
    value: Mapped[dict[str, Any]] = mapped_column(default=dict)
    is_private: Mapped[bool] = mapped_column(Boolean, default=False)
    # Spliced into SQL and URLs verbatim (docs/variables.md, "Raw variables"); run
    # parameters can never set a raw variable.
    is_raw: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
