"""Runs per environment, UTC day, river and status: the summary the Activities API reads.

Kept by database triggers on ``runs`` (migration 0013), not by the application: every insert,
delete and update of a run's counted columns (status, units, rows, bytes, duration, trigger
time, river, environment) applies the difference in the same transaction, whatever wrote it
(ORM flushes, Core UPDATEs such as ``mark_running``, bulk loads, cascaded deletes). See
``docs/activities.md`` ("Performance").
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Index, Integer, PrimaryKeyConstraint, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from headwater.store.base import Base

SUMMED = (
    "run_count",
    "units_micro",
    "total_rows",
    "total_size",
    "max_duration_ms",
    "last_start_time",
)


class RunDailyStat(Base):
    """One (environment, UTC day of the trigger time, river, status) with at least one run."""

    __tablename__ = "run_daily_stats"
    # Clustered by (environment, day): a window's whole days are one range of the primary key,
    # read without visiting the table (PostgreSQL: the other columns INCLUDEd in the key's
    # index, an index-only scan; SQLite: a WITHOUT ROWID table is its primary key's b-tree).
    __table_args__ = (
        PrimaryKeyConstraint(
            "environment_id",
            "day",
            "river_id",
            "status",
            postgresql_include=list(SUMMED),
        ),
        # river filters (group, search, type, scheduled): a few rivers' days, not every river's
        Index("ix_run_daily_stats_river_day", "river_id", "day"),
        {"sqlite_with_rowid": False},
    )

    environment_id: Mapped[str] = mapped_column(String(24))
    day: Mapped[date] = mapped_column(Date)
    river_id: Mapped[str] = mapped_column(String(24))
    status: Mapped[str] = mapped_column(String(24))
    run_count: Mapped[int] = mapped_column(BigInteger)
    # sum of ROUND(units * 10^6) per run, the same exact integers the raw queries add up
    units_micro: Mapped[int] = mapped_column(BigInteger)
    total_rows: Mapped[int] = mapped_column(BigInteger)
    total_size: Mapped[int] = mapped_column(BigInteger)
    max_duration_ms: Mapped[int | None] = mapped_column(BigInteger)
    last_start_time: Mapped[datetime] = mapped_column()


class _MetricColumns:
    """What one run group (``kind`` "group") or run ("table") adds to the ``/metrics`` totals."""

    kind: Mapped[str] = mapped_column(String(8))
    river_type: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(24))
    # index of the first duration bucket bound not exceeded (12: past the last; -1: untimed)
    bucket: Mapped[int] = mapped_column(SmallInteger)
    n: Mapped[int] = mapped_column(BigInteger)
    total_rows: Mapped[int] = mapped_column(BigInteger)
    total_size: Mapped[int] = mapped_column(BigInteger)
    micros: Mapped[int] = mapped_column(BigInteger)  # summed durations, whole microseconds


class RunMetricTotal(_MetricColumns, Base):
    """Folded totals per kind, river type, status and duration bucket (migration 0023)."""

    __tablename__ = "run_metric_totals"
    __table_args__ = (PrimaryKeyConstraint("kind", "river_type", "status", "bucket"),)


class RunMetricDelta(_MetricColumns, Base):
    """One change appended by the triggers on ``run_groups`` and ``runs``; folded by scrapes.

    Appended rather than added to a counter row so run transactions never wait on (or
    deadlock over) a shared row; ``services/run_metrics.fold`` moves them into the totals.
    """

    __tablename__ = "run_metric_deltas"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
