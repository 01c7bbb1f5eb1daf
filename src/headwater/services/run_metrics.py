"""What ``GET /metrics`` reports about runs, read from the metadata database at scrape time.

Runs execute in any process of a deployment (API processes, Celery workers on other machines),
so no single process could count them in memory; the metadata database already records every
run group (one trigger) and run (one table), so each scrape aggregates those rows. Counters are
all-time totals (they only grow while run records are kept); histograms are built with one
``SUM(CASE ...)`` per bucket, so a scrape is a handful of aggregate queries whatever the
number of runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, func, literal_column, select
from sqlalchemy.orm import Session

from headwater.store.models.runs import Run, RunGroup
from headwater.vocabulary import FINAL_STATUSES

#: Upper bounds (seconds) of the run and table duration histograms.
DURATION_BUCKETS: tuple[float, ...] = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600)
#: How recent a CDC river's last run must be for its lag to be reported.
CDC_LAG_WINDOW = timedelta(days=1)


@dataclass
class Histogram:
    """Cumulative bucket counts (one per ``DURATION_BUCKETS`` bound), total count and sum."""

    buckets: list[int]
    count: int
    total: float


@dataclass
class CdcLag:
    """One CDC river's replication lag, as its latest run recorded it."""

    river_id: str
    seconds: float | None
    bytes: int | None


@dataclass
class RunMetrics:
    """Everything the run-related metric families are built from."""

    started: dict[str, int] = field(default_factory=dict)  # river type -> groups
    finished: dict[tuple[str, str], int] = field(default_factory=dict)  # (type, status)
    tables_finished: dict[tuple[str, str], int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)  # river type -> rows moved
    bytes: dict[str, int] = field(default_factory=dict)
    run_seconds: dict[str, Histogram] = field(default_factory=dict)  # river type -> histogram
    table_seconds: dict[str, Histogram] = field(default_factory=dict)
    pending: int = 0
    running: int = 0
    oldest_pending_seconds: float = 0.0
    cdc_lag: list[CdcLag] = field(default_factory=list)


def collect(session: Session, now: datetime) -> RunMetrics:
    """The run metrics as of ``now`` (a few aggregate queries, one read transaction)."""
    metrics = RunMetrics()
    final = sorted(FINAL_STATUSES)
    for river_type, status, count, rows, size in session.execute(
        select(
            RunGroup.river_type,
            RunGroup.status,
            func.count(),
            func.coalesce(func.sum(RunGroup.total_rows), 0),
            func.coalesce(func.sum(RunGroup.total_size), 0),
        ).group_by(RunGroup.river_type, RunGroup.status)
    ):
        if status != "skipped":
            metrics.started[river_type] = metrics.started.get(river_type, 0) + int(count)
        if status in FINAL_STATUSES:
            metrics.finished[(river_type, status)] = int(count)
            metrics.rows[river_type] = metrics.rows.get(river_type, 0) + int(rows)
            metrics.bytes[river_type] = metrics.bytes.get(river_type, 0) + int(size)
        elif status == "pending":
            metrics.pending += int(count)
        elif status == "running":
            metrics.running += int(count)
    for river_type, status, count in session.execute(
        select(RunGroup.river_type, Run.status, func.count())
        .join(RunGroup, Run.run_group_id == RunGroup.id)
        .where(Run.status.in_(final))
        .group_by(RunGroup.river_type, Run.status)
    ):
        metrics.tables_finished[(river_type, status)] = int(count)
    group_seconds = _seconds_between(session, RunGroup.start_time, RunGroup.end_time)
    metrics.run_seconds = _histograms(
        session,
        RunGroup.river_type,
        group_seconds,
        [RunGroup.status.in_(final), RunGroup.status != "skipped", RunGroup.end_time.is_not(None)],
    )
    metrics.table_seconds = _histograms(
        session,
        RunGroup.river_type,
        Run.duration_ms / 1000.0,
        [Run.status.in_(final), Run.status != "skipped", Run.duration_ms.is_not(None)],
        join=True,
    )
    oldest = session.scalar(
        select(func.min(RunGroup.start_time)).where(RunGroup.status == "pending")
    )
    if oldest is not None:
        metrics.oldest_pending_seconds = max(0.0, (now - oldest).total_seconds())
    metrics.cdc_lag = cdc_lag(session, now)
    return metrics


def cdc_lag(session: Session, now: datetime) -> list[CdcLag]:
    """The replication lag of every CDC river, for ``headwater_cdc_lag_*``: the figures
    (``cdc_lag_seconds``, ``cdc_lag_bytes`` in the run's details) of its latest run that ended
    within ``CDC_LAG_WINDOW``. A river whose runs stopped shows no lag rather than a stale one.
    """
    seconds = Run.details["cdc_lag_seconds"].as_float()
    size = Run.details["cdc_lag_bytes"].as_integer()
    latest: dict[str, tuple[datetime, CdcLag]] = {}
    for river_id, ended, lag_seconds, lag_bytes in session.execute(
        select(Run.river_id, Run.end_time, seconds, size).where(
            Run.end_time >= now - CDC_LAG_WINDOW, seconds.is_not(None)
        )
    ):
        if river_id not in latest or ended > latest[river_id][0]:
            lag = CdcLag(
                river_id,
                None if lag_seconds is None else float(lag_seconds),
                None if lag_bytes is None else int(lag_bytes),
            )
            latest[river_id] = (ended, lag)
    return [lag for _, lag in sorted(latest.values(), key=lambda item: item[1].river_id)]


def _histograms(
    session: Session,
    label: Any,
    seconds: ColumnElement[Any],
    where: Sequence[ColumnElement[bool]],
    *,
    join: bool = False,
) -> dict[str, Histogram]:
    columns = [func.sum(case((seconds <= bound, 1), else_=0)) for bound in DURATION_BUCKETS]
    query = select(label, func.count(), func.coalesce(func.sum(seconds), 0.0), *columns)
    if join:
        query = query.select_from(Run).join(RunGroup, Run.run_group_id == RunGroup.id)
    found: dict[str, Histogram] = {}
    for row in session.execute(query.where(*where).group_by(label)):
        found[str(row[0])] = Histogram(
            buckets=[int(n or 0) for n in row[3:]], count=int(row[1]), total=float(row[2])
        )
    return found


def _seconds_between(session: Session, start: Any, end: Any) -> ColumnElement[Any]:
    """``end - start`` in seconds, in the metadata database's own date arithmetic."""
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", end - start)
    # SQLite keeps UTC timestamps as ISO text: julianday() reads it, in days
    return (func.julianday(end) - func.julianday(start)) * literal_column("86400.0")
