"""Parts of one table's run split across Celery workers (``runner/parts.py``).

Why a table of its own: a part is claimed, redone and committed by whichever worker process
takes it, on any machine, so its state must live where every worker sees it and where a claim
is a conditional ``UPDATE`` (two workers never both run the same attempt). The run record's
answer lists them (``parts``) so an operator sees which worker did which range.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from headwater.store.base import Base

#: pending -> running -> committed; running -> pending (retry) or failed; any -> canceled.
PART_STATUSES = ("pending", "running", "committed", "failed", "canceled")


class RunPart(Base):
    """One key (or page) range of a run's table, loaded into its own staging table."""

    __tablename__ = "run_parts"

    run_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    )
    part: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: ``{"column": ..., "lower": ..., "upper": ...}``; ``ctid`` bounds are ``(page,0)`` texts.
    bounds: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(200), default=None)
    #: The staging table of the committed attempt (named per attempt: a late writer whose
    #: part was taken over never overwrites the table the publish reads).
    staging: Mapped[str | None] = mapped_column(String(200), default=None)
    rows: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    cursor: Mapped[dict[str, Any]] = mapped_column(default=dict)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
