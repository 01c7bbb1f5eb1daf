"""Run records: one RunGroup per trigger, one Run per target table or sub river, and run logs.

Run state lives here, in the metadata DB, so a run survives the loss of the process that
started it: workers write a heartbeat, and a reaper fails runs whose heartbeat went stale.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    event,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from headwater.ids import new_run_id
from headwater.store.base import Base, utcnow

# Re-exported: the statuses live in ``headwater.vocabulary`` (the schemas use them too).
from headwater.vocabulary import FINAL_STATUSES as FINAL_STATUSES
from headwater.vocabulary import GROUP_STATUSES as GROUP_STATUSES
from headwater.vocabulary import RUN_STATUSES as RUN_STATUSES
from headwater.vocabulary import TRIGGERS as TRIGGERS

UNITS = Numeric(18, 6)


class RunGroup(Base):
    """One trigger of a river; its status is derived from its runs."""

    __tablename__ = "run_groups"
    __table_args__ = (
        Index("ix_run_groups_env_start", "environment_id", "start_time"),
        Index("ix_run_groups_river_start", "river_id", "start_time"),
        Index("ix_run_groups_river_status", "river_id", "status"),
        Index("ix_run_groups_unnotified", "notified_at", "end_time"),
        # /metrics gauges: queue depth and the oldest pending group (migration 0023)
        Index("ix_run_groups_status_start", "status", "start_time"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_run_id)
    account_id: Mapped[str] = mapped_column(String(24))
    environment_id: Mapped[str] = mapped_column(String(24))
    river_id: Mapped[str] = mapped_column(String(24))
    river_type: Mapped[str] = mapped_column(String(20))
    trigger: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(24), default="pending")
    message: Mapped[str | None] = mapped_column(Text, default=None)
    parent_run_id: Mapped[str | None] = mapped_column(String(32), default=None, index=True)
    variables: Mapped[dict[str, Any]] = mapped_column(default=dict)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    # Holds the river id while the group is pending or running, NULL once final: a unique
    # index on it lets exactly one group per river be in flight, across processes.
    in_flight_river_id: Mapped[str | None] = mapped_column(String(24), default=None, unique=True)
    start_time: Mapped[datetime] = mapped_column(default=utcnow)
    end_time: Mapped[datetime | None] = mapped_column(default=None)
    units: Mapped[Decimal] = mapped_column(UNITS, default=Decimal(0))
    total_rows: Mapped[int] = mapped_column(BigInteger, default=0)
    total_size: Mapped[int] = mapped_column(BigInteger, default=0)
    # W3C traceparent of the trigger's span: the worker continues that trace (tracing.py).
    trace_context: Mapped[str | None] = mapped_column(String(100), default=None)
    # Set once the webhook dispatcher has queued this final group's notifications.
    notified_at: Mapped[datetime | None] = mapped_column(default=None)

    runs: Mapped[list[Run]] = relationship(
        back_populates="group", order_by="Run.position", cascade="all, delete-orphan"
    )


class Run(Base):
    """One target table (or one sub river) of a run group."""

    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_env_start", "environment_id", "start_time"),
        Index("ix_runs_river_start", "river_id", "start_time"),
        Index("ix_runs_status_heartbeat", "status", "heartbeat_at"),
        # /metrics CDC lag: the runs that recorded a lag, by end time (migration 0023)
        Index(
            "ix_runs_cdc_lag",
            "end_time",
            postgresql_where=text("(details ->> 'cdc_lag_seconds') IS NOT NULL"),
            sqlite_where=text("json_extract(details, '$.cdc_lag_seconds') IS NOT NULL"),
        ),
        # Activities: environment-wide window aggregates read this index only (migration 0006).
        Index(
            "ix_runs_env_start_activity",
            "environment_id",
            "start_time",
            "river_id",
            "status",
            "units",
            "total_rows",
            "total_size",
            "duration_ms",
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_run_id)
    run_group_id: Mapped[str] = mapped_column(
        ForeignKey("run_groups.id", ondelete="CASCADE"), index=True
    )
    account_id: Mapped[str] = mapped_column(String(24))
    environment_id: Mapped[str] = mapped_column(String(24))
    river_id: Mapped[str] = mapped_column(String(24))
    sub_river_id: Mapped[str | None] = mapped_column(String(24), default=None)
    source_name: Mapped[str | None] = mapped_column(String(500), default=None)
    target_name: Mapped[str | None] = mapped_column(String(500), default=None)
    task_key: Mapped[str | None] = mapped_column(String(500), default=None)
    position: Mapped[int] = mapped_column(Integer, default=0)  # task order within the group
    trigger: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(24), default="pending")
    error_description: Mapped[str | None] = mapped_column(Text, default=None)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    start_time: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    end_time: Mapped[datetime | None] = mapped_column(default=None)
    # end_time - start_time in whole milliseconds, kept by the flush hook below, so the
    # Activities aggregates read an integer instead of doing date arithmetic per row.
    duration_ms: Mapped[int | None] = mapped_column(BigInteger, default=None)
    heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)
    worker: Mapped[str | None] = mapped_column(String(200), default=None)
    units: Mapped[Decimal] = mapped_column(UNITS, default=Decimal(0))
    total_rows: Mapped[int] = mapped_column(BigInteger, default=0)
    total_size: Mapped[int] = mapped_column(BigInteger, default=0)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)

    group: Mapped[RunGroup] = relationship(back_populates="runs")

    @property
    def is_sub_river_run(self) -> bool:
        return self.sub_river_id is not None


def run_duration_ms(start: datetime, end: datetime | None) -> int | None:
    """Floored epoch milliseconds of ``end`` minus those of ``start`` (None while running)."""
    if end is None:
        return None
    return _epoch_ms(end) - _epoch_ms(start)


def _epoch_ms(moment: datetime) -> int:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return (aware - _EPOCH) // timedelta(milliseconds=1)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@event.listens_for(Run, "before_insert")
@event.listens_for(Run, "before_update")
def _keep_duration(_mapper: Any, _connection: Any, run: Run) -> None:
    run.duration_ms = run_duration_ms(run.start_time, run.end_time)


class RunLog(Base):
    """One log line of a run (``timestamp,level,msg`` in the CSV export)."""

    __tablename__ = "run_logs"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    logged_at: Mapped[datetime] = mapped_column(default=utcnow)
    level: Mapped[str] = mapped_column(String(10), default="INFO")
    message: Mapped[str] = mapped_column(Text)


class ScheduleState(Base):
    """A river's next fire time: stored, so downtime fires once and schedulers can share it."""

    __tablename__ = "schedule_states"

    river_id: Mapped[str] = mapped_column(String(24), primary_key=True)
    cron_expression: Mapped[str] = mapped_column(String(120))
    #: The zone ``next_fire_at`` was computed in (NULL: UTC); a change recomputes it.
    timezone: Mapped[str | None] = mapped_column(String(64), default=None)
    # NULL: the cron has no next fire time (``error`` says why); the river never fires until
    # its schedule is changed.
    next_fire_at: Mapped[datetime | None] = mapped_column(default=None)
    last_fired_at: Mapped[datetime | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
