"""Filters and SQL building blocks the Activities queries share.

Everything is aggregated in the database (GROUP BY, window functions), never by loading runs
into Python, so the cost of an endpoint follows the size of its time window, not of the table.
Two details keep the figures exact on both backends:

- units are summed as integer micro-units (``ROUND(units * 10^6)``): SQLite stores NUMERIC as
  floating point, and summing floats would make totals and sort orders drift;
- durations are read from ``runs.duration_ms`` (floored epoch milliseconds of the end minus
  those of the trigger time, kept by the model), never computed per row in SQL.

The environment-wide aggregates read whole UTC days from ``run_daily_stats`` (kept by triggers
on ``runs``, migration 0013) and only the partial days at the window's edges from ``runs``:
see ``split_window``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    ColumnExpressionArgument,
    Integer,
    OrderByList,
    Select,
    UnaryExpression,
    and_,
    asc,
    cast,
    desc,
    extract,
    func,
    select,
)
from sqlalchemy.engine import Row
from sqlalchemy.orm import InstrumentedAttribute, Session

from headwater.errors import Unprocessable
from headwater.schemas.activities import SortKey
from headwater.store.models.rivers import River
from headwater.store.models.run_stats import RunDailyStat
from headwater.store.models.runs import RUN_STATUSES, Run

MICRO = 1_000_000
LAST_RUNS_PER_RIVER = 5


@dataclass(frozen=True)
class Window:
    """``start <= start_time < end``: a run belongs to the window of its trigger time."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise Unprocessable("end_time must be after start_time")


class TimeRange(Protocol):
    """What the WHERE builders read of a window: a ``Window``, or bound parameters standing
    for one in a statement built once per shape (``activities.rollup``)."""

    @property
    def start(self) -> Any: ...

    @property
    def end(self) -> Any: ...


@dataclass(frozen=True)
class WindowParts:
    """A window as whole UTC days ``[first_day, end_day)`` plus the raw ranges around them."""

    days: tuple[date, date] | None
    edges: tuple[Window, ...]


def split_window(window: Window) -> WindowParts:
    """Whole UTC days inside the window, and the partial days at its edges.

    ``[start, end)`` = ``[start, first midnight)`` + days ``[first_day, end_day)`` +
    ``[last midnight, end)``; a window without a whole day is one raw range.
    """
    start, end = _utc(window.start), _utc(window.end)
    first_day = start.date() if start == _midnight(start.date()) else start.date() + _ONE_DAY
    end_day = end.date()
    if first_day >= end_day:
        return WindowParts(None, (window,))
    edges = []
    if start < _midnight(first_day):
        edges.append(Window(start, _midnight(first_day)))
    if _midnight(end_day) < end:
        edges.append(Window(_midnight(end_day), end))
    return WindowParts((first_day, end_day), tuple(edges))


_ONE_DAY = timedelta(days=1)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


@dataclass(frozen=True)
class RunFilters:
    """Filters on the runs themselves (statuses are v1 words, already normalised)."""

    statuses: tuple[str, ...] = ()
    run_group_id: str | None = None
    sub_river_id: str | None = None
    target_name: str | None = None


@dataclass(frozen=True)
class RiverFilters:
    """Filters on the river a run belongs to."""

    group_id: str | None = None
    is_scheduled: bool | None = None
    search: str | None = None
    river_type: str | None = None

    def active(self) -> bool:
        return any(v is not None for v in (self.group_id, self.is_scheduled, self.search)) or (
            self.river_type is not None
        )


@dataclass(frozen=True)
class Sort:
    key: SortKey = "last_run"
    descending: bool = True


@dataclass(frozen=True)
class Slice:
    """One page as offset and limit (the API layer owns page numbers)."""

    offset: int
    limit: int


def is_scheduled_expr() -> ColumnElement[bool]:
    """A river is scheduled when it has a cron expression and its schedule is enabled."""
    return and_(River.schedule_enabled.is_(True), River.cron_expression.is_not(None))


def river_ids(environment_id: Any, filters: RiverFilters) -> Select[Any]:
    """Ids of the environment's rivers that pass the river filters."""
    stmt = select(River.id).where(River.environment_id == environment_id)
    if filters.group_id is not None:
        stmt = stmt.where(River.group_id == filters.group_id)
    if filters.is_scheduled is not None:
        scheduled = is_scheduled_expr()
        stmt = stmt.where(scheduled if filters.is_scheduled else ~scheduled)
    if filters.search is not None:
        stmt = stmt.where(func.lower(River.name).contains(filters.search.lower(), autoescape=True))
    if filters.river_type is not None:
        stmt = stmt.where(River.river_type == filters.river_type)
    return stmt


def run_conditions(
    environment_id: Any, window: TimeRange | None, filters: RunFilters
) -> list[ColumnElement[bool]]:
    """WHERE terms selecting an environment's runs in a window (``None``: any time)."""
    terms: list[ColumnElement[bool]] = [Run.environment_id == environment_id]
    if window is not None:
        terms += [Run.start_time >= window.start, Run.start_time < window.end]
    if filters.statuses:
        terms.append(Run.status.in_(filters.statuses))
    if filters.run_group_id is not None:
        terms.append(Run.run_group_id == filters.run_group_id)
    if filters.sub_river_id is not None:
        terms.append(Run.sub_river_id == filters.sub_river_id)
    if filters.target_name is not None:
        terms.append(Run.target_name == filters.target_name)
    return terms


def summarised(filters: RunFilters) -> bool:
    """Whether ``run_daily_stats`` can answer these run filters (it knows statuses only)."""
    return (
        filters.run_group_id is None
        and filters.sub_river_id is None
        and (filters.target_name is None)
    )


def daily_conditions(
    environment_id: Any,
    days: tuple[Any, Any],
    filters: RunFilters,
    river_filter: Select[Any] | None,
) -> list[ColumnElement[bool]]:
    """WHERE terms selecting the summary rows of whole days ``[first, end)``.

    ``environment_id`` and the days (in the other builders too) are values or bound parameters.
    """
    terms: list[ColumnElement[bool]] = [
        RunDailyStat.environment_id == environment_id,
        RunDailyStat.day >= days[0],
        RunDailyStat.day < days[1],
    ]
    if filters.statuses:
        terms.append(RunDailyStat.status.in_(filters.statuses))
    if river_filter is not None:
        terms.append(RunDailyStat.river_id.in_(river_filter))
    return terms


def epoch_ms(column: Any, dialect: str) -> ColumnElement[int]:
    """Floored epoch milliseconds of a stored UTC time.

    SQLite keeps ``YYYY-MM-DD HH:MM:SS.ffffff`` text: whole seconds from ``strftime('%s')``
    plus the three millisecond digits.
    """
    if dialect == "sqlite":
        # whole seconds of the text without its fraction: strftime rounds .9995 s up
        seconds = cast(func.strftime("%s", func.substr(column, 1, 19)), Integer)
        return seconds * 1000 + cast(func.substr(column, 21, 3), Integer)
    return cast(func.floor(extract("epoch", column) * 1000), BigInteger)


def group_key(column: InstrumentedAttribute[str], dialect: str) -> ColumnElement[str]:
    """A GROUP BY key that steers SQLite to the covering window index.

    Grouping by a bare indexed column makes SQLite's planner walk ``(river_id, start_time)``
    once per river (to skip a sort) and look every run up in the table: 5x slower at a million
    runs than reading the covering index and sorting; the same holds for
    ``run_daily_stats`` and its ``(river_id, day)`` index against its primary key.
    ``river_id || ''`` is the same value, but no index can order it. PostgreSQL plans this
    well on its own.
    """
    if dialect == "sqlite":
        return column.concat("")
    return column.expression


def units_micro(column: InstrumentedAttribute[Decimal]) -> ColumnElement[int]:
    """SUM of units as exact integer micro-units."""
    return func.sum(cast(func.round(column * MICRO), BigInteger))


def from_micro(value: Any) -> Decimal:
    return Decimal(int(value or 0)) / MICRO


def status_counts() -> list[ColumnElement[int]]:
    """One ``COUNT(*) FILTER (WHERE status = ...)`` column per run status, named by it."""
    return [func.count().filter(Run.status == status).label(status) for status in RUN_STATUSES]


def ordered(
    column: ColumnExpressionArgument[Any], descending: bool
) -> UnaryExpression[Any] | OrderByList:
    """An ORDER BY term in the requested direction."""
    return desc(column) if descending else asc(column)


def sorted_page(
    stmt: Select[*tuple[Any, ...]],
    sort_column: ColumnExpressionArgument[Any],
    tie_breaker: ColumnExpressionArgument[Any],
    sort: Sort,
    offset: Any,
    limit: Any,
) -> Select[*tuple[Any, ...]]:
    """``stmt`` sorted (``tie_breaker`` keeps the order stable), from ``offset``, ``limit`` rows."""
    return (
        stmt.order_by(ordered(sort_column, sort.descending), ordered(tie_breaker, sort.descending))
        .offset(offset)
        .limit(limit)
    )


def fetch_page(
    session: Session,
    stmt: Select[*tuple[Any, ...]],
    sort_column: ColumnExpressionArgument[Any],
    tie_breaker: ColumnExpressionArgument[Any],
    sort: Sort,
    page: Slice,
    count: Select[*tuple[Any, ...]],
) -> tuple[Sequence[Row[Any]], int]:
    """One sorted page of ``stmt`` and the total number of rows.

    ``stmt`` selects a ``total`` window count, so a page with rows needs no second query;
    ``count`` answers for a page past the end.
    """
    rows = session.execute(
        sorted_page(stmt, sort_column, tie_breaker, sort, page.offset, page.limit)
    ).all()
    return rows, page_total(session, rows, count)


def page_total(
    session: Session,
    rows: Sequence[Row[Any]],
    count: Select[*tuple[Any, ...]],
    values: dict[str, Any] | None = None,
) -> int:
    """The ``total`` of a page's rows, or ``count``'s answer for a page past the end."""
    return int(rows[0].total) if rows else int(session.scalar(count, values) or 0)


def dialect_of(bind: Any) -> str:
    return str(bind.dialect.name)
