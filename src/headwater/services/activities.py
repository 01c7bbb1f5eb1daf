"""Environment-wide Activities: statistics per status and the per-river rollup.

Both count runs, not run groups: a run group of three tables that failed on one counts one
failed and two succeeded runs, so the rollup rows always add up to the statistics, and units
add up to the sum of the runs that consumed them. See ``docs/activities.md``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    BindParameter,
    Integer,
    Select,
    String,
    Subquery,
    bindparam,
    case,
    func,
    select,
    true,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from headwater.schemas.activities import ActivityRow, LastRun, Statistics
from headwater.schemas.runs import exact_epoch_ms, round_units
from headwater.services.activities_sql import (
    LAST_RUNS_PER_RIVER,
    RiverFilters,
    RunFilters,
    Slice,
    Sort,
    Window,
    WindowParts,
    daily_conditions,
    dialect_of,
    from_micro,
    group_key,
    is_scheduled_expr,
    page_total,
    river_ids,
    run_conditions,
    sorted_page,
    split_window,
    status_counts,
    summarised,
    units_micro,
)
from headwater.store.models.rivers import River
from headwater.store.models.run_stats import RunDailyStat as Stat
from headwater.store.models.runs import RUN_STATUSES, Run, RunGroup


@dataclass(frozen=True)
class ActivityPage:
    rows: list[ActivityRow]
    total: int


def statistics(
    session: Session,
    environment_id: str,
    window: Window,
    runs: RunFilters,
    rivers: RiverFilters | None = None,
    *,
    river_id: str | None = None,
) -> Statistics:
    """Runs per status and their units: whole days from the summary, edges from the runs."""
    river_filter = river_ids(environment_id, rivers) if rivers and rivers.active() else None
    parts = split_window(window) if river_id is None and summarised(runs) else None
    ranges = parts.edges if parts is not None else (window,)
    selects: list[Select[*tuple[Any, ...]]] = []
    for edge in ranges:
        terms = run_conditions(environment_id, edge, runs)
        if river_id is not None:
            terms.append(Run.river_id == river_id)
        if river_filter is not None:
            terms.append(Run.river_id.in_(river_filter))
        selects.append(
            select(Run.status, func.count().label("n"), units_micro(Run.units).label("micro"))
            .where(*terms)
            .group_by(Run.status)
        )
    if parts is not None and parts.days is not None:
        terms = daily_conditions(environment_id, parts.days, runs, river_filter)
        selects.append(
            select(
                Stat.status,
                func.sum(Stat.run_count).label("n"),
                func.sum(Stat.units_micro).label("micro"),
            )
            .where(*terms)
            .group_by(Stat.status)
        )
    stmt = selects[0]
    if len(selects) > 1:
        both = union_all(*selects).subquery("parts")
        stmt = select(both.c.status, func.sum(both.c.n), func.sum(both.c.micro)).group_by(
            both.c.status
        )
    counts = dict.fromkeys(RUN_STATUSES, 0)
    micro = 0
    for status, count, status_micro in session.execute(stmt):
        if status in counts:
            counts[status] += int(count)
        micro += int(status_micro or 0)
    units = round_units(from_micro(micro))
    return Statistics(**counts, total_units=units, total_rpu=units)


def rollup(
    session: Session,
    environment_id: str,
    window: Window,
    runs: RunFilters,
    rivers: RiverFilters,
    sort: Sort,
    page: Slice,
    *,
    with_last_runs: bool,
) -> ActivityPage:
    """One row per river with runs in the window; sorted, paged and totalled in SQL.

    The statement is the same for every request of one shape (filters, sort, how the window
    splits): built once per shape, with the environment, the window's ranges and the page as
    bound parameters, SQLAlchemy neither rebuilds it nor recomputes its cache key (together a
    third of the CPU of an Activities request, most of the API's most frequent reads).
    """
    parts = split_window(window) if summarised(runs) else WindowParts(None, (window,))
    stmt, count = _rollup_statements(
        dialect_of(session.get_bind()), len(parts.edges), parts.days is not None, runs, rivers, sort
    )
    values: dict[str, Any] = {
        "environment_id": environment_id,
        "page_offset": page.offset,
        "page_limit": page.limit,
    }
    for index, edge in enumerate(parts.edges):
        values[f"edge{index}_start"], values[f"edge{index}_end"] = edge.start, edge.end
    if parts.days is not None:
        values["first_day"], values["end_day"] = parts.days
    rows = session.execute(stmt, values).all()
    total = page_total(session, rows, count, values)
    last_runs = (
        _last_runs(session, environment_id, window, [r.river_id for r in rows])
        if with_last_runs
        else {}
    )
    return ActivityPage([_row(r, last_runs, with_last_runs) for r in rows], total)


class _BoundRange(NamedTuple):
    start: BindParameter[Any]
    end: BindParameter[Any]


@functools.lru_cache(maxsize=256)
def _rollup_statements(
    dialect: str, edges: int, days: bool, runs: RunFilters, rivers: RiverFilters, sort: Sort
) -> tuple[Select[*tuple[Any, ...]], Select[*tuple[Any, ...]]]:
    """The page statement and the count statement of one shape of rollup request.

    Filters are part of the shape (few distinct ones in practice; a new one costs one build);
    ``rollup`` binds the rest by name.
    """
    environment_id = bindparam("environment_id", type_=String)
    ranges = [
        _BoundRange(bindparam(f"edge{index}_start"), bindparam(f"edge{index}_end"))
        for index in range(edges)
    ]
    day_range: tuple[BindParameter[Any], BindParameter[Any]] | None = (
        (bindparam("first_day"), bindparam("end_day")) if days else None
    )
    agg = _per_river(dialect, environment_id, ranges, day_range, runs, rivers)
    sort_column = {
        "units": agg.c.units_micro,
        "last_run": agg.c.last_run,
        "max_duration": func.coalesce(agg.c.max_duration, 0),
    }[sort.key]
    stmt = select(
        agg,
        River.name,
        River.river_type,
        River.group_id,
        is_scheduled_expr().label("is_scheduled"),
        func.count().over().label("total"),
    ).select_from(agg.outerjoin(River, River.id == agg.c.river_id))
    offset, limit = bindparam("page_offset", type_=Integer), bindparam("page_limit", type_=Integer)
    page = sorted_page(stmt, sort_column, agg.c.river_id, sort, offset, limit)
    return page, select(func.count()).select_from(agg)


def _per_river(
    dialect: str,
    environment_id: BindParameter[str],
    ranges: list[_BoundRange],
    days: tuple[BindParameter[Any], BindParameter[Any]] | None,
    runs: RunFilters,
    rivers: RiverFilters,
) -> Subquery:
    """Per-river totals of the window: whole days from the summary, edges from the runs."""
    river_filter = river_ids(environment_id, rivers) if rivers.active() else None
    river_key = group_key(Run.river_id, dialect)
    selects: list[Select[*tuple[Any, ...]]] = []
    for edge in ranges:
        terms = run_conditions(environment_id, edge, runs)
        if river_filter is not None:
            terms.append(Run.river_id.in_(river_filter))
        selects.append(
            select(
                river_key.label("river_id"),
                *status_counts(),
                units_micro(Run.units).label("units_micro"),
                func.sum(Run.total_rows).label("total_rows"),
                func.sum(Run.total_size).label("total_size"),
                func.max(Run.start_time).label("last_run"),
                func.max(Run.duration_ms).label("max_duration"),
            )
            .where(*terms)
            .group_by(river_key)
        )
    if days is not None:
        stat_key = group_key(Stat.river_id, dialect)
        selects.append(
            select(
                stat_key.label("river_id"),
                *(
                    func.sum(case((Stat.status == status, Stat.run_count), else_=0)).label(status)
                    for status in RUN_STATUSES
                ),
                func.sum(Stat.units_micro).label("units_micro"),
                func.sum(Stat.total_rows).label("total_rows"),
                func.sum(Stat.total_size).label("total_size"),
                func.max(Stat.last_start_time).label("last_run"),
                func.max(Stat.max_duration_ms).label("max_duration"),
            )
            .where(*daily_conditions(environment_id, days, runs, river_filter))
            .group_by(stat_key)
        )
    if len(selects) == 1:
        return selects[0].subquery("agg")
    both = union_all(*selects).subquery("parts")
    return (
        select(
            both.c.river_id,
            *(func.sum(both.c[status]).label(status) for status in RUN_STATUSES),
            func.sum(both.c.units_micro).label("units_micro"),
            func.sum(both.c.total_rows).label("total_rows"),
            func.sum(both.c.total_size).label("total_size"),
            func.max(both.c.last_run).label("last_run"),
            func.max(both.c.max_duration).label("max_duration"),
        )
        .group_by(both.c.river_id)
        .subquery("agg")
    )


def _row(r: Any, last_runs: dict[str, list[LastRun]], with_last_runs: bool) -> ActivityRow:
    last_run: datetime = r.last_run
    return ActivityRow(
        river_id=r.river_id,
        river_name=r.name,
        river_type=r.river_type,
        group_id=r.group_id,
        is_scheduled=bool(r.is_scheduled),
        **{status: int(getattr(r, status)) for status in RUN_STATUSES},
        units=round_units(from_micro(r.units_micro)),
        total_rows=int(r.total_rows or 0),
        total_size=int(r.total_size or 0),
        last_run=exact_epoch_ms(last_run),
        max_duration_in_milliseconds=int(r.max_duration or 0),
        last_runs=last_runs.get(r.river_id, []) if with_last_runs else None,
    )


def _last_runs(
    session: Session,
    environment_id: str,
    window: Window,
    ids: list[str],
) -> dict[str, list[LastRun]]:
    """The latest run groups (in the window) of each river on the page, in one query."""
    if not ids:
        return {}
    in_window = (
        RunGroup.environment_id == environment_id,
        RunGroup.start_time >= window.start,
        RunGroup.start_time < window.end,
    )
    newest_first = (RunGroup.start_time.desc(), RunGroup.id.desc())
    if dialect_of(session.get_bind()) == "postgresql":
        # per river, the first rows of a backward scan of (river_id, start_time), not a sort
        # of every group of the page's rivers in the window; the ids as one array parameter
        # (not VALUES) so that the statement compiles once and is cached
        page = (
            func.unnest(bindparam("page_river_ids", ids, type_=ARRAY(String)))
            .table_valued("river_id")
            .render_derived(name="page")
        )
        top = (
            select(RunGroup.id, RunGroup.river_id, RunGroup.status, RunGroup.start_time)
            .where(RunGroup.river_id == page.c.river_id, *in_window)
            .order_by(*newest_first)
            .limit(LAST_RUNS_PER_RIVER)
            .lateral("top")
        )
        latest = (
            select(
                top,
                func.row_number()
                .over(
                    partition_by=top.c.river_id, order_by=(top.c.start_time.desc(), top.c.id.desc())
                )
                .label("rank"),
            )
            .select_from(page.join(top, true()))
            .subquery("latest")
        )
    else:
        ranked = (
            select(
                RunGroup.id,
                RunGroup.river_id,
                RunGroup.status,
                RunGroup.start_time,
                func.row_number()
                .over(partition_by=RunGroup.river_id, order_by=newest_first)
                .label("rank"),
            )
            .where(RunGroup.river_id.in_(ids), *in_window)
            .subquery("ranked")
        )
        latest = select(ranked).where(ranked.c.rank <= LAST_RUNS_PER_RIVER).subquery("latest")
    per_group = (
        select(
            Run.run_group_id.label("run_group_id"),
            units_micro(Run.units).label("units_micro"),
            func.max(Run.duration_ms).label("max_duration"),
        )
        .where(Run.run_group_id.in_(select(latest.c.id)))
        .group_by(Run.run_group_id)
        .subquery("per_group")
    )
    stmt = (
        select(latest, per_group.c.units_micro, per_group.c.max_duration)
        .select_from(latest.outerjoin(per_group, per_group.c.run_group_id == latest.c.id))
        .order_by(latest.c.river_id, latest.c.rank)
    )
    result: dict[str, list[LastRun]] = {}
    for r in session.execute(stmt):
        result.setdefault(r.river_id, []).append(
            LastRun(
                run_group_id=r.id,
                status=r.status,
                units=round_units(from_micro(r.units_micro)),
                run_date=exact_epoch_ms(r.start_time),
                max_run_duration_milliseconds=int(r.max_duration or 0),
            )
        )
    return result
