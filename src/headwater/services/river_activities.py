"""Activities of one river: targets, sub rivers, run groups and runs in a time window.

Run groups are selected by their own trigger time; their units and durations are aggregated
from their runs (which carry the same trigger time), so a river's run groups add up to its
statistics. Every list is sorted with a unique tie-breaker (the id) so pages never overlap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, select
from sqlalchemy.orm import Session

from headwater.errors import NotFound
from headwater.schemas.activities import (
    RunGroupDetail,
    RunGroupOut,
    SubRiverOut,
    TargetOut,
)
from headwater.schemas.runs import RunOut, exact_epoch_ms, round_units
from headwater.services import run_parts, run_views
from headwater.services.activities_sql import (
    RunFilters,
    Slice,
    Sort,
    Window,
    fetch_page,
    from_micro,
    run_conditions,
    status_counts,
    units_micro,
)
from headwater.store.models.rivers import River
from headwater.store.models.runs import RUN_STATUSES, Run, RunGroup


@dataclass(frozen=True)
class RunGroupPage:
    rows: list[RunGroupOut]
    total: int


@dataclass(frozen=True)
class RunPage:
    rows: list[RunOut]
    total: int


def _river_runs(
    environment_id: str, river_id: str, window: Window, filters: RunFilters
) -> list[ColumnElement[bool]]:
    return [*run_conditions(environment_id, window, filters), Run.river_id == river_id]


def targets(
    session: Session, environment_id: str, river_id: str, window: Window, filters: RunFilters
) -> list[TargetOut]:
    """Per target table: units and rows summed, and the status of its latest run."""
    terms = [*_river_runs(environment_id, river_id, window, filters), Run.target_name.is_not(None)]
    rows = _latest_per(session, Run.target_name, terms)
    return [
        TargetOut(
            target_name=r.key,
            status=r.status,
            units=round_units(from_micro(r.units_micro)),
            last_run=exact_epoch_ms(r.last_run),
            total_rows=int(r.total_rows or 0),
        )
        for r in rows
    ]


def sub_rivers(
    session: Session, environment_id: str, river_id: str, window: Window, filters: RunFilters
) -> list[SubRiverOut]:
    """Per sub river of a logic river: units summed, the status of its latest run, its name."""
    terms = [*_river_runs(environment_id, river_id, window, filters), Run.sub_river_id.is_not(None)]
    rows = _latest_per(session, Run.sub_river_id, terms)
    found = session.execute(select(River.id, River.name).where(River.id.in_([r.key for r in rows])))
    names = {river_id: name for river_id, name in found}
    return [
        SubRiverOut(
            sub_river_id=r.key,
            sub_river_name=names.get(r.key),
            status=r.status,
            units=round_units(from_micro(r.units_micro)),
            last_run=exact_epoch_ms(r.last_run),
        )
        for r in rows
    ]


def _latest_per(session: Session, key: Any, terms: list[ColumnElement[bool]]) -> list[Any]:
    """Aggregates per ``key`` joined to the status of the latest run of each key (one query)."""
    agg = (
        select(
            key.label("key"),
            units_micro(Run.units).label("units_micro"),
            func.sum(Run.total_rows).label("total_rows"),
            func.max(Run.start_time).label("last_run"),
        )
        .where(*terms)
        .group_by(key)
        .subquery("agg")
    )
    ranked = (
        select(
            key.label("key"),
            Run.status.label("status"),
            func.row_number()
            .over(partition_by=key, order_by=(Run.start_time.desc(), Run.id.desc()))
            .label("rank"),
        )
        .where(*terms)
        .subquery("ranked")
    )
    stmt = (
        select(agg, ranked.c.status)
        .join(ranked, and_(ranked.c.key == agg.c.key, ranked.c.rank == 1))
        .order_by(agg.c.last_run.desc(), agg.c.key)
    )
    return list(session.execute(stmt).all())


def run_groups(
    session: Session,
    environment_id: str,
    river_id: str,
    window: Window,
    statuses: tuple[str, ...],
    filters: RunFilters,
    sort: Sort,
    page: Slice,
) -> RunGroupPage:
    """The river's run groups triggered in the window; ``filters`` select groups by their runs."""
    terms: list[ColumnElement[bool]] = [
        RunGroup.environment_id == environment_id,
        RunGroup.river_id == river_id,
        RunGroup.start_time >= window.start,
        RunGroup.start_time < window.end,
    ]
    if statuses:
        terms.append(RunGroup.status.in_(statuses))
    if filters.run_group_id is not None:
        terms.append(RunGroup.id == filters.run_group_id)
    run_terms: list[ColumnElement[bool]] = []
    if filters.target_name is not None:
        run_terms.append(Run.target_name == filters.target_name)
    if filters.sub_river_id is not None:
        run_terms.append(Run.sub_river_id == filters.sub_river_id)
    if run_terms:
        terms.append(exists().where(Run.run_group_id == RunGroup.id, *run_terms))
    per_group = (
        select(
            Run.run_group_id.label("run_group_id"),
            units_micro(Run.units).label("units_micro"),
            func.max(Run.duration_ms).label("max_duration"),
        )
        .where(Run.run_group_id.in_(select(RunGroup.id).where(*terms)))
        .group_by(Run.run_group_id)
        .subquery("per_group")
    )
    units = func.coalesce(per_group.c.units_micro, 0)
    max_duration = func.coalesce(per_group.c.max_duration, 0)
    sort_column = {"units": units, "last_run": RunGroup.start_time, "max_duration": max_duration}[
        sort.key
    ]
    stmt = (
        select(
            RunGroup,
            units.label("units_micro"),
            max_duration.label("max_duration"),
            func.count().over().label("total"),
        )
        .outerjoin(per_group, per_group.c.run_group_id == RunGroup.id)
        .where(*terms)
    )
    count = select(func.count(RunGroup.id)).where(*terms)
    rows, total = fetch_page(session, stmt, sort_column, RunGroup.id, sort, page, count)
    return RunGroupPage(
        [_group_out(r.RunGroup, r.units_micro, r.max_duration) for r in rows], total
    )


def _group_out(group: RunGroup, micro: Any, max_duration: Any) -> RunGroupOut:
    return RunGroupOut(
        run_group_id=group.id,
        status=group.status,
        units=round_units(from_micro(micro)),
        max_duration_in_milliseconds=int(max_duration or 0),
        run_date_epoch_milliseconds=exact_epoch_ms(group.start_time),
        run_date_utc=group.start_time,
        run_end_date_utc=group.end_time,
        trigger=group.trigger,
    )


def run_group(
    session: Session, environment_id: str, river_id: str, run_group_id: str
) -> RunGroupDetail:
    """One run group of the river with per-status counts of its runs."""
    group = session.get(RunGroup, run_group_id)
    if group is None or group.environment_id != environment_id or group.river_id != river_id:
        raise NotFound(f"Run group {run_group_id} was not found")
    stmt = select(
        *status_counts(),
        func.count().label("total_runs"),
        units_micro(Run.units).label("units_micro"),
        func.sum(Run.total_rows).label("total_rows"),
        func.sum(Run.total_size).label("total_size"),
        func.max(Run.duration_ms).label("max_duration"),
    ).where(Run.run_group_id == run_group_id)
    r = session.execute(stmt).one()
    base = _group_out(group, r.units_micro, r.max_duration)
    return RunGroupDetail(
        **base.model_dump(),
        river_id=river_id,
        total_runs=int(r.total_runs),
        total_rows=int(r.total_rows or 0),
        total_size=int(r.total_size or 0),
        **{status: int(getattr(r, status)) for status in RUN_STATUSES},
    )


def runs(
    session: Session,
    environment_id: str,
    river_id: str,
    window: Window,
    filters: RunFilters,
    sort: Sort,
    page: Slice,
) -> RunPage:
    """The river's runs triggered in the window, one page."""
    terms = _river_runs(environment_id, river_id, window, filters)
    sort_column = {
        "units": Run.units,
        "last_run": Run.start_time,
        "max_duration": func.coalesce(Run.duration_ms, 0),
    }[sort.key]
    stmt = select(Run, func.count().over().label("total")).where(*terms)
    count = select(func.count(Run.id)).where(*terms)
    rows, total = fetch_page(session, stmt, sort_column, Run.id, sort, page, count)
    parts = run_parts.parts_of(session, [r.Run.id for r in rows])
    return RunPage([run_views.run_out(r.Run, parts.get(r.Run.id, ())) for r in rows], total)
