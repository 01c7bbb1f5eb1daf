"""What ``GET /metrics`` reports about runs, read from the metadata database at scrape time.

Runs execute in any process of a deployment (API processes, Celery workers on other machines),
so no single process could count them in memory. Database triggers (migration 0023) append
every counted change of a run group or run to ``run_metric_deltas`` in the writer's
transaction; a scrape folds those into ``run_metric_totals`` and reads both, so its cost is a
few small queries whatever the number of runs kept (aggregating the runs themselves took
3.3 to 3.9 s at a million runs). Counters are all-time totals (they only grow while run
records are kept). The gauges read indexed ranges: pending groups by ``(status, start_time)``,
the CDC lag from the runs that ended in the last day.

:func:`scan` computes the same figures from the runs themselves, the old way; tests and
``bench/metrics_bench.py`` compare the two.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, delete, func, literal_column, select, text, union_all
from sqlalchemy.orm import Session

from headwater.store.models.run_stats import RunMetricDelta, RunMetricTotal
from headwater.store.models.runs import Run, RunGroup
from headwater.vocabulary import FINAL_STATUSES

#: Upper bounds (seconds) of the run and table duration histograms.
DURATION_BUCKETS: tuple[float, ...] = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600)
#: How recent a CDC river's last run must be for its lag to be reported.
CDC_LAG_WINDOW = timedelta(days=1)
#: The runs that recorded a CDC lag: the predicate of the partial index ``ix_runs_cdc_lag``.
CDC_LAG_PREDICATE = {
    "postgresql": "(details ->> 'cdc_lag_seconds') IS NOT NULL",
    "sqlite": "json_extract(details, '$.cdc_lag_seconds') IS NOT NULL",
}


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


#: Serialises folds on PostgreSQL (``pg_try_advisory_xact_lock``; "hwmetric" in hex).
FOLD_LOCK_KEY = 0x68776D6574726963

_FOLD_POSTGRES = text(
    "WITH moved AS (DELETE FROM run_metric_deltas RETURNING kind, river_type, status, bucket,"
    " n, total_rows, total_size, micros)"
    " INSERT INTO run_metric_totals AS t"
    " (kind, river_type, status, bucket, n, total_rows, total_size, micros)"
    " SELECT kind, river_type, status, bucket, SUM(n), SUM(total_rows), SUM(total_size),"
    " SUM(micros) FROM moved GROUP BY kind, river_type, status, bucket"
    " ON CONFLICT (kind, river_type, status, bucket) DO UPDATE SET n = t.n + EXCLUDED.n,"
    " total_rows = t.total_rows + EXCLUDED.total_rows,"
    " total_size = t.total_size + EXCLUDED.total_size, micros = t.micros + EXCLUDED.micros"
)
_FOLD_SQLITE = text(
    "INSERT INTO run_metric_totals AS t"
    " (kind, river_type, status, bucket, n, total_rows, total_size, micros)"
    " SELECT kind, river_type, status, bucket, SUM(n), SUM(total_rows), SUM(total_size),"
    " SUM(micros) FROM run_metric_deltas WHERE true"
    " GROUP BY kind, river_type, status, bucket"
    " ON CONFLICT (kind, river_type, status, bucket) DO UPDATE SET n = t.n + excluded.n,"
    " total_rows = t.total_rows + excluded.total_rows,"
    " total_size = t.total_size + excluded.total_size, micros = t.micros + excluded.micros"
)


def fold(session: Session) -> None:
    """Move the appended deltas into the totals, in one transaction, and commit.

    PostgreSQL: the deltas are deleted and added in one statement (a delta committed meanwhile
    stays for the next fold); a fold already under way elsewhere makes this one a no-op.
    SQLite has one writer at a time: the fold's first statement writes, so it holds the write
    lock (and a fresh snapshot) from then on, and no delta can arrive between its two statements.
    """
    if session.get_bind().dialect.name == "postgresql":
        if session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": FOLD_LOCK_KEY}):
            session.execute(_FOLD_POSTGRES)
    else:
        session.commit()  # end any read snapshot: a write from a stale one fails with BUSY
        session.execute(_FOLD_SQLITE)
        session.execute(delete(RunMetricDelta))
    session.commit()


def collect(session: Session, now: datetime) -> RunMetrics:
    """The run metrics as of ``now``: a fold, then the totals and a few indexed reads."""
    fold(session)
    metrics = RunMetrics()
    columns = ("kind", "river_type", "status", "bucket", "n", "total_rows", "total_size", "micros")
    parts = [
        select(*(getattr(model, c) for c in columns)) for model in (RunMetricTotal, RunMetricDelta)
    ]
    both = union_all(*parts).subquery()
    key = [both.c.kind, both.c.river_type, both.c.status, both.c.bucket]
    found = session.execute(
        select(
            *key,
            func.sum(both.c.n),
            func.sum(both.c.total_rows),
            func.sum(both.c.total_size),
            func.sum(both.c.micros),
        ).group_by(*key)
    ).all()
    counts: dict[tuple[str, str, str], int] = {}
    sizes: dict[tuple[str, str], tuple[int, int]] = {}
    timed: dict[tuple[str, str], list[tuple[int, int, int]]] = {}
    for row in found:
        kind, river_type, status, bucket, summed, rows, size, micros = tuple(row)
        n = int(summed or 0)
        if n == 0:
            continue
        label = (kind, river_type, status)
        counts[label] = counts.get(label, 0) + n
        if kind == "group":
            old_rows, old_size = sizes.get((river_type, status), (0, 0))
            sizes[(river_type, status)] = (old_rows + int(rows or 0), old_size + int(size or 0))
        if bucket >= 0:
            timed.setdefault((kind, river_type), []).append((int(bucket), n, int(micros or 0)))
    for (kind, river_type, status), n in sorted(counts.items()):
        if kind == "table":
            if status in FINAL_STATUSES:
                metrics.tables_finished[(river_type, status)] = n
            continue
        if status != "skipped":
            metrics.started[river_type] = metrics.started.get(river_type, 0) + n
        if status in FINAL_STATUSES:
            rows, size = sizes.get((river_type, status), (0, 0))
            metrics.finished[(river_type, status)] = n
            metrics.rows[river_type] = metrics.rows.get(river_type, 0) + rows
            metrics.bytes[river_type] = metrics.bytes.get(river_type, 0) + size
        elif status == "pending":
            metrics.pending += n
        elif status == "running":
            metrics.running += n
    for (kind, river_type), entries in sorted(timed.items()):
        histogram = _cumulative(entries)
        if histogram.count:
            target = metrics.run_seconds if kind == "group" else metrics.table_seconds
            target[river_type] = histogram
    oldest = session.scalar(
        select(func.min(RunGroup.start_time)).where(RunGroup.status == "pending")
    )
    if oldest is not None:
        metrics.oldest_pending_seconds = max(0.0, (now - oldest).total_seconds())
    metrics.cdc_lag = cdc_lag(session, now)
    return metrics


def _cumulative(entries: list[tuple[int, int, int]]) -> Histogram:
    """``(bucket, count, microseconds)`` entries as cumulative ``DURATION_BUCKETS`` counts."""
    per_bucket = [0] * (len(DURATION_BUCKETS) + 1)
    micros = 0
    for bucket, n, summed in entries:
        per_bucket[bucket] += n
        micros += summed
    cumulative, running = [], 0
    for n in per_bucket[:-1]:
        running += n
        cumulative.append(running)
    return Histogram(buckets=cumulative, count=sum(per_bucket), total=micros / 1_000_000)


def scan(session: Session, now: datetime) -> RunMetrics:
    """The same metrics aggregated from every run group and run (cost grows with history)."""
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
    # the predicate of the partial index ix_runs_cdc_lag, word for word (migration 0023)
    recorded = text(CDC_LAG_PREDICATE[session.get_bind().dialect.name])
    for river_id, ended, lag_seconds, lag_bytes in session.execute(
        select(Run.river_id, Run.end_time, seconds, size).where(
            recorded, Run.end_time >= now - CDC_LAG_WINDOW, seconds.is_not(None)
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
