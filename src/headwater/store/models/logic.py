"""What a logic run did, step by step, and the variables a logic or action run ended with.

A logic river's run is one Run row; these tables say which steps ran, in which loop
iteration, how long they took and what they produced, so the console and the API can show a
logic run as a tree instead of one opaque status. Variable values are stored already masked:
private values never reach this table in clear.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from headwater.store.base import Base, IdMixin, utcnow


class LogicStepRun(IdMixin, Base):
    """One execution of one step (a container's execution counts too)."""

    __tablename__ = "logic_step_runs"
    __table_args__ = (Index("ix_logic_step_runs_run_seq", "run_id", "sequence"),)

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    sequence: Mapped[int] = mapped_column(Integer)  # start order within the run
    path: Mapped[str] = mapped_column(String(200))  # "0", "1.0", ...: the step in the tree
    parent_id: Mapped[str | None] = mapped_column(String(24), default=None)
    name: Mapped[str] = mapped_column(String(200), default="")
    step_type: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(24), default="running")
    iteration_index: Mapped[int | None] = mapped_column(Integer, default=None)
    iteration_value: Mapped[Any] = mapped_column(JSON, nullable=True, default=None)
    sub_run_id: Mapped[str | None] = mapped_column(String(32), default=None)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    rows: Mapped[int] = mapped_column(BigInteger, default=0)
    output: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text, default=None)


class RunVariables(Base):
    """The variables of a run when it ended (private values masked)."""

    __tablename__ = "run_variables"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    values: Mapped[dict[str, Any]] = mapped_column(default=dict)
    private_names: Mapped[list[Any]] = mapped_column(default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
