"""Leases: which process of a cluster currently does a one-at-a-time job (the scheduler).

A row per job name; the holder renews ``expires_at`` every tick, and any other process may take
the row over once it has expired. Kept in the metadata database so every scheduler of a
deployment, on any machine and with SQLite or PostgreSQL, sees the same lease.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from headwater.store.base import Base


class Lease(Base):
    """One named lease and its current holder (``host:pid:nonce`` of a process)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    acquired_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
