"""Activities: a time window, run counts and units, a per-day chart and the per-river table,
with a drill-down river → run groups → runs → (run page with) log.

Figures come from the same services as the Activities API, so the console and the API can
never disagree about a window.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from headwater.api.deps import SessionDep
from headwater.errors import InvalidInput
from headwater.services import activities, river_activities
from headwater.services.activities_sql import RiverFilters, RunFilters, Slice, Sort, Window
from headwater.services.rivers import get_river_in_environment
from headwater.web import queries
from headwater.web.auth import ConsoleUser, console_page
from headwater.web.charts import daily_chart
from headwater.web.render import render

router = APIRouter(include_in_schema=False)
ACT = "/console/accounts/{account_id}/environments/{environment_id}/activities"
PRESETS = {1: "Last 24 hours", 7: "Last 7 days", 30: "Last 30 days", 90: "Last 90 days"}
SORT_KEYS = {"units": "Units", "last_run": "Last run", "max_duration": "Max duration"}
MAX_DAYS = 366
PAGE = 100


def _date(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"The {name} date {value!r} is not a date like 2026-11-28") from None


def pick_window(now: datetime, days: int, start: str, end: str) -> tuple[Window, dict[str, Any]]:
    """A preset (whole UTC days up to today) or a custom range of dates, both inclusive."""
    today = queries.day_start(now.astimezone(UTC)).date()
    if start or end:
        first = _date(start, "start") if start else today - timedelta(days=6)
        last = _date(end, "end") if end else today
        if last < first:
            raise InvalidInput("The end date is before the start date; swap them.")
        if (last - first).days >= MAX_DAYS:
            raise InvalidInput(f"Choose at most {MAX_DAYS} days.")
        chosen = 0
    else:
        chosen = days if days in PRESETS else 7
        first = today - timedelta(days=chosen - 1)
        last = today
    begin = datetime(first.year, first.month, first.day, tzinfo=UTC)
    window = Window(begin, begin + timedelta(days=(last - first).days + 1))
    picked = {"days": chosen, "start": first.isoformat(), "end": last.isoformat()}
    return window, picked


def _query(picked: dict[str, Any], **extra: str) -> str:
    base: dict[str, str] = (
        {"days": str(picked["days"])}
        if picked["days"]
        else {"start": picked["start"], "end": picked["end"]}
    )
    return urlencode({**base, **extra})


@router.get(ACT)
def activities_page(
    request: Request,
    account_id: str,
    environment_id: str,
    session: SessionDep,
    days: int = 7,
    start: str = "",
    end: str = "",
    sort: str = "units",
    order: str = "desc",
    user: ConsoleUser = Depends(console_page("activities:list")),
) -> HTMLResponse:
    window, picked = pick_window(request.app.state.clock(), days, start, end)
    key = sort if sort in SORT_KEYS else "units"
    descending = order != "asc"
    stats = activities.statistics(session, environment_id, window, RunFilters())
    rows = activities.rollup(
        session,
        environment_id,
        window,
        RunFilters(),
        RiverFilters(),
        Sort(key, descending),  # type: ignore[arg-type]
        Slice(0, PAGE),
        with_last_runs=False,
    )
    day_rows = queries.daily(session, environment_id, window)
    sort_links = {
        k: _query(picked, sort=k, order="asc" if (k == key and descending) else "desc")
        for k in SORT_KEYS
    }
    context = {
        "title": "Activities",
        "stats": stats,
        "total_runs": sum(
            getattr(stats, s)
            for s in ("pending", "running", "succeeded", "failed", "canceled", "skipped")
        ),
        "rows": rows.rows,
        "row_total": rows.total,
        "chart": Markup(daily_chart(day_rows)),  # built from numbers and escaped text only
        "days_list": day_rows,
        "presets": PRESETS,
        "picked": picked,
        "window_query": _query(picked),
        "sort_key": key,
        "descending": descending,
        "sort_keys": SORT_KEYS,
        "sort_links": sort_links,
    }
    return render(request, "activities.html", context)


@router.get(f"{ACT}/rivers/{{river_id}}")
def activity_river(
    request: Request,
    account_id: str,
    environment_id: str,
    river_id: str,
    session: SessionDep,
    days: int = 7,
    start: str = "",
    end: str = "",
    user: ConsoleUser = Depends(console_page("activities:list")),
) -> HTMLResponse:
    window, picked = pick_window(request.app.state.clock(), days, start, end)
    river = get_river_in_environment(session, environment_id, river_id)
    stats = activities.statistics(session, environment_id, window, RunFilters(), river_id=river_id)
    groups = river_activities.run_groups(
        session,
        environment_id,
        river_id,
        window,
        (),
        RunFilters(),
        Sort("last_run", True),
        Slice(0, PAGE),
    )
    context = {
        "title": f"Activities of {river.name}",
        "river": river,
        "stats": stats,
        "groups": groups.rows,
        "group_total": groups.total,
        "picked": picked,
        "presets": PRESETS,
        "window_query": _query(picked),
    }
    return render(request, "activity_river.html", context)


@router.get(f"{ACT}/rivers/{{river_id}}/groups/{{run_group_id}}")
def activity_group(
    request: Request,
    account_id: str,
    environment_id: str,
    river_id: str,
    run_group_id: str,
    session: SessionDep,
    days: int = 7,
    start: str = "",
    end: str = "",
    user: ConsoleUser = Depends(console_page("activities:list")),
) -> HTMLResponse:
    _window, picked = pick_window(request.app.state.clock(), days, start, end)
    river = get_river_in_environment(session, environment_id, river_id)
    detail = river_activities.run_group(session, environment_id, river_id, run_group_id)
    around = Window(
        detail.run_date_utc - timedelta(days=1), detail.run_date_utc + timedelta(days=1)
    )
    found = river_activities.runs(
        session,
        environment_id,
        river_id,
        around,
        RunFilters(run_group_id=run_group_id),
        Sort("last_run", False),
        Slice(0, 500),
    )
    context = {
        "title": f"Run group of {river.name}",
        "river": river,
        "group": detail,
        "runs": found.rows,
        "picked": picked,
        "window_query": _query(picked),
    }
    return render(request, "activity_group.html", context)
