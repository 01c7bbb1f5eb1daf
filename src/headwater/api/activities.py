"""The Activities API: run statistics, per-river rollups, targets, sub rivers, run groups, runs.

Every river route answers under the three river spellings clients use (``rivers``,
``data flows`` -- ``data%20flows`` on the wire -- and ``data_flows``; see ``river_paths``), and
the sub-river route under its three spellings too (``activities_sub_rivers``,
``activities_sub_data flows``, ``activities_sub_data_flows``).
Time windows (``start_time``/``end_time``) are required: a run belongs to a window by its
trigger time, ``start_time <= t < end_time``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, Protocol, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.orm import Session

from headwater.api import activities_params as params
from headwater.api.deps import (
    ScopedSession,
    SessionDep,
    SettingsDep,
    require_scope,
    scoped_session,
)
from headwater.api.paging import PageParams, make_page
from headwater.api.river_paths import ENV_PREFIX, river_routes
from headwater.schemas.activities import (
    ActivityRow,
    RunGroupDetail,
    RunGroupOut,
    Statistics,
    SubRiverList,
    TargetList,
)
from headwater.schemas.common import Page
from headwater.schemas.runs import RunOut
from headwater.services import activities, river_activities
from headwater.services.activities_sql import RiverFilters, RunFilters, Sort, Window
from headwater.services.auth import Principal
from headwater.services.rivers import get_river_in_environment
from headwater.settings import Settings

SCOPE = "activities:list"
ENV = ENV_PREFIX
SUB_RIVER_SUFFIXES = (
    "activities_sub_rivers",
    "activities_sub_data flows",
    "activities_sub_data_flows",
)

router = APIRouter(tags=["activities"])
#: The scope check of every route but the environment-wide Activities (``ScopedSession``).
SCOPED = [Depends(require_scope(SCOPE))]


ItemT = TypeVar("ItemT", covariant=True)


class _Found(Protocol[ItemT]):
    """What the activities services return: one page of rows and the total."""

    @property
    def rows(self) -> Sequence[ItemT]: ...

    @property
    def total(self) -> int: ...


def _page(
    request: Request,
    settings: Settings,
    paging: PageParams,
    found: _Found[ItemT],
    account_id: str,
    environment_id: str,
) -> Page[ItemT]:
    """The paged envelope of an environment's activities."""
    return make_page(
        request,
        settings,
        paging,
        found.rows,
        found.total,
        account_id=account_id,
        environment_id=environment_id,
    )


WindowDep = Annotated[Window, Depends(params.window)]
RunFiltersDep = Annotated[RunFilters, Depends(params.run_filters)]
RiverFiltersDep = Annotated[RiverFilters, Depends(params.river_filters)]
SortDep = Annotated[Sort, Depends(params.sort)]
PagingDep = Annotated[PageParams, Depends(params.paging)]


def river_route(summary: str, *suffixes: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a GET at ``E/<each river spelling>/{river_id}/<each suffix spelling>``.

    Clients mix the spellings freely (the seed's collection sends ``data flows`` with
    ``activities_sub_data_flows``), so every combination routes; only the first is documented.
    """

    def register(endpoint: Callable[..., Any]) -> Callable[..., Any]:
        for index, suffix in enumerate(suffixes):
            hidden: dict[str, Any] = {"include_in_schema": False} if index else {}
            river_routes(
                router,
                "GET",
                f"/{{river_id}}/{suffix}",
                endpoint,
                summary=summary,
                dependencies=SCOPED,
                **hidden,
            )
        return endpoint

    return register


@router.get(
    f"{ENV}/activities_statistics",
    summary="Environment activity statistics",
    dependencies=SCOPED,
)
def environment_statistics(
    account_id: str,
    environment_id: str,
    session: SessionDep,
    window: WindowDep,
    runs: Annotated[RunFilters, Depends(params.status_only)],
    rivers: RiverFiltersDep,
) -> Statistics:
    """Runs per status and units used in the window, across the environment's rivers."""
    return activities.statistics(session, environment_id, window, runs, rivers)


@router.get(f"{ENV}/activities", summary="Activities per river")
async def environment_activities(
    request: Request,
    account_id: str,
    environment_id: str,
    scoped: Annotated[ScopedSession, Depends(scoped_session(SCOPE))],
    settings: SettingsDep,
    window: WindowDep,
    runs: Annotated[RunFilters, Depends(params.status_only)],
    rivers: RiverFiltersDep,
    sort: SortDep,
    paging: PagingDep,
    return_last_runs: Annotated[
        params.OptionalBool,
        Query(description="Add each river's latest run groups (up to 5) in the window."),
    ] = None,
) -> Page[ActivityRow]:
    """One row per river with runs in the window: run counts, units, rows, bytes."""

    def read(session: Session, _principal: Principal) -> Page[ActivityRow]:
        result = activities.rollup(
            session,
            environment_id,
            window,
            runs,
            rivers,
            sort,
            params.as_slice(paging),
            with_last_runs=bool(return_last_runs),
        )
        return _page(request, settings, paging, result, account_id, environment_id)

    return await scoped.run(read)


@river_route("River activity statistics", "activities_statistics")
def river_statistics(
    account_id: str,
    environment_id: str,
    river_id: str,
    session: SessionDep,
    window: WindowDep,
    runs: RunFiltersDep,
) -> Statistics:
    """River activity statistics: runs per status and units used in the window."""
    get_river_in_environment(session, environment_id, river_id)
    return activities.statistics(session, environment_id, window, runs, river_id=river_id)


@river_route("River activity targets", "activities_targets")
def river_targets(
    account_id: str,
    environment_id: str,
    river_id: str,
    session: SessionDep,
    window: WindowDep,
    runs: RunFiltersDep,
) -> TargetList:
    """River activity targets: per target table, its latest status, units and rows."""
    get_river_in_environment(session, environment_id, river_id)
    return TargetList(
        items=river_activities.targets(session, environment_id, river_id, window, runs)
    )


@river_route("River activity sub rivers", *SUB_RIVER_SUFFIXES)
def river_sub_rivers(
    account_id: str,
    environment_id: str,
    river_id: str,
    session: SessionDep,
    window: WindowDep,
    runs: RunFiltersDep,
) -> SubRiverList:
    """River activity sub rivers: per sub river, its latest status and units."""
    get_river_in_environment(session, environment_id, river_id)
    return SubRiverList(
        items=river_activities.sub_rivers(session, environment_id, river_id, window, runs)
    )


@river_route("River activity run groups", "activities_run_groups")
def river_run_groups(
    request: Request,
    account_id: str,
    environment_id: str,
    river_id: str,
    session: SessionDep,
    settings: SettingsDep,
    window: WindowDep,
    statuses: Annotated[tuple[str, ...], Depends(params.group_statuses)],
    runs: Annotated[RunFilters, Depends(params.group_run_filters)],
    sort: SortDep,
    paging: PagingDep,
) -> Page[RunGroupOut]:
    """River activity run groups: one per trigger in the window, with status and units."""
    get_river_in_environment(session, environment_id, river_id)
    result = river_activities.run_groups(
        session, environment_id, river_id, window, statuses, runs, sort, params.as_slice(paging)
    )
    return _page(request, settings, paging, result, account_id, environment_id)


@river_route("River activity run group", "activities_run_groups/{run_group_id}")
def river_run_group(
    account_id: str,
    environment_id: str,
    river_id: str,
    run_group_id: str,
    session: SessionDep,
) -> RunGroupDetail:
    """One run group of the river, with how many of its runs are in each status."""
    get_river_in_environment(session, environment_id, river_id)
    return river_activities.run_group(session, environment_id, river_id, run_group_id)


@river_route("River runs", "runs")
def river_runs(
    request: Request,
    account_id: str,
    environment_id: str,
    river_id: str,
    session: SessionDep,
    settings: SettingsDep,
    window: WindowDep,
    runs: RunFiltersDep,
    sort: SortDep,
    paging: PagingDep,
) -> Page[RunOut]:
    """River runs: the runs triggered in the window, newest first by default."""
    get_river_in_environment(session, environment_id, river_id)
    result = river_activities.runs(
        session, environment_id, river_id, window, runs, sort, params.as_slice(paging)
    )
    return _page(request, settings, paging, result, account_id, environment_id)
