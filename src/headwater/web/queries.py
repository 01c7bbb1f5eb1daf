"""Read-only queries only the console needs: latest runs per river, logs, per-day buckets.

The API's services answer per-resource questions; the console's list and chart pages need a
few cross-cutting views (the last run of every river on a page, runs and units per day). They
are aggregated in SQL here, like the Activities queries, so a page costs one query whatever
the number of runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from headwater.services.activities_sql import Window, dialect_of, from_micro, units_micro
from headwater.store.models.runs import Run, RunGroup, RunLog


def last_groups(session: Session, environment_id: str, river_ids: list[str]) -> dict[str, RunGroup]:
    """The latest run group of each river, in one windowed query."""
    if not river_ids:
        return {}
    ranked = (
        select(
            RunGroup.id,
            func.row_number()
            .over(
                partition_by=RunGroup.river_id,
                order_by=(RunGroup.start_time.desc(), RunGroup.id.desc()),
            )
            .label("rank"),
        )
        .where(RunGroup.environment_id == environment_id, RunGroup.river_id.in_(river_ids))
        .subquery("ranked")
    )
    groups = session.scalars(
        select(RunGroup).join(ranked, ranked.c.id == RunGroup.id).where(ranked.c.rank == 1)
    )
    return {g.river_id: g for g in groups}


def recent_groups(
    session: Session, environment_id: str, river_id: str, limit: int = 10
) -> list[RunGroup]:
    return list(
        session.scalars(
            select(RunGroup)
            .where(RunGroup.environment_id == environment_id, RunGroup.river_id == river_id)
            .order_by(RunGroup.start_time.desc(), RunGroup.id.desc())
            .limit(limit)
        )
    )


def group_logs(
    session: Session, run_ids: list[str], after: int = 0, limit: int = 2000
) -> list[RunLog]:
    """Log lines of ``run_ids`` with an id above ``after`` (the poller's cursor), oldest first."""
    if not run_ids:
        return []
    return list(
        session.scalars(
            select(RunLog)
            .where(RunLog.run_id.in_(run_ids), RunLog.id > after)
            .order_by(RunLog.id)
            .limit(limit)
        )
    )


@dataclass(frozen=True)
class Day:
    day: date
    runs: int
    failed: int
    units: Decimal


def daily(session: Session, environment_id: str, window: Window) -> list[Day]:
    """Runs, failed runs and units per UTC day of the window, every day present (zeros too)."""
    if dialect_of(session.get_bind()) == "sqlite":
        day_expr = func.substr(Run.start_time, 1, 10)
    else:
        day_expr = func.to_char(func.timezone("UTC", Run.start_time), "YYYY-MM-DD")
    stmt = (
        select(
            day_expr.label("day"),
            func.count().label("runs"),
            func.count().filter(Run.status == "failed").label("failed"),
            units_micro(Run.units).label("units_micro"),
        )
        .where(
            Run.environment_id == environment_id,
            Run.start_time >= window.start,
            Run.start_time < window.end,
        )
        .group_by(day_expr)
    )
    found = {
        str(r.day): Day(
            date.fromisoformat(str(r.day)), int(r.runs), int(r.failed), from_micro(r.units_micro)
        )
        for r in session.execute(stmt)
    }
    days: list[Day] = []
    current = window.start.date()
    last = (window.end - timedelta(microseconds=1)).date()
    while current <= last:
        days.append(found.get(current.isoformat(), Day(current, 0, 0, Decimal(0))))
        current += timedelta(days=1)
    return days


def day_start(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)
