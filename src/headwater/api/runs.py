"""v1 run control: trigger a river (or one sub river), read one run, cancel, download logs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import PlainTextResponse
from sqlalchemy.orm import Session

from headwater.api.deps import ClockDep, ScopedSession, SessionDep, require_scope, scoped_session
from headwater.api.river_paths import river_routes
from headwater.schemas.run_control import CancelAnswer, CancelRequest, RunRequest, RunTriggered
from headwater.schemas.runs import RunOut
from headwater.services import run_parts, run_views
from headwater.services import runs as run_service
from headwater.services.auth import Principal
from headwater.services.rivers import get_river_in_environment
from headwater.services.triggering import start_river, start_sub_river

Executing = Annotated[ScopedSession, Depends(scoped_session("river:execute"))]
Reading = Annotated[ScopedSession, Depends(scoped_session("activities:list"))]

router = APIRouter(tags=["runs"])


def _trigger_of(principal: Principal) -> str:
    return "console" if principal.kind == "user" else "api"


async def run_river(
    request: Request,
    account_id: str,
    environment_id: str,
    river_id: str,
    clock: ClockDep,
    scoped: Executing,
    body: RunRequest | None = Body(default=None),
) -> RunTriggered:
    """Start a run group now (202). Optional ``variables`` override river variables once."""

    def trigger(session: Session, principal: Principal) -> RunTriggered:
        river = get_river_in_environment(session, environment_id, river_id)
        group = start_river(
            session,
            river,
            trigger=_trigger_of(principal),
            now=clock(),
            submit=request.app.state.executor.submit,
            variables=(body.variables if body else None),
        )
        return run_views.run_triggered(group)

    return await scoped.run(trigger)


def run_sub_river(
    request: Request,
    account_id: str,
    environment_id: str,
    river_id: str,
    sub_river_id: str,
    session: SessionDep,
    clock: ClockDep,
    principal: Principal = Depends(require_scope("river:execute")),
) -> RunTriggered:
    """Run one sub river of a logic river, recorded under the logic river (202)."""
    river = get_river_in_environment(session, environment_id, river_id)
    group = start_sub_river(
        session,
        river,
        sub_river_id,
        trigger=_trigger_of(principal),
        now=clock(),
        submit=request.app.state.executor.submit,
    )
    return run_views.run_triggered(group)


async def get_run(
    account_id: str,
    environment_id: str,
    river_id: str,
    run_id: str,
    scoped: Reading,
) -> RunOut:
    """One run of the river: status, rows, bytes, units, times, error description."""

    def read(session: Session, _principal: Principal) -> RunOut:
        run, parts = run_parts.river_run_with_parts(session, environment_id, river_id, run_id)
        return run_views.run_out(run, parts)

    return await scoped.run(read)


def get_run_logs(
    account_id: str,
    environment_id: str,
    river_id: str,
    run_id: str,
    session: SessionDep,
    _principal: Principal = Depends(require_scope("activities:list")),
) -> PlainTextResponse:
    """The run's log as CSV: ``timestamp,level,msg``."""
    get_river_in_environment(session, environment_id, river_id)
    run = run_service.get_run(session, run_id, river_id=river_id)
    return PlainTextResponse(run_service.logs_csv(session, run.id), media_type="text/csv")


def cancel_run(
    account_id: str,
    environment_id: str,
    river_id: str,
    body: CancelRequest,
    session: SessionDep,
    clock: ClockDep,
    _principal: Principal = Depends(require_scope("river:execute")),
) -> CancelAnswer:
    """Cancel a run group by ``run_id`` or ``run_group_id``; running copies stop within seconds."""
    get_river_in_environment(session, environment_id, river_id)
    group = run_service.request_cancel(
        session, river_id=river_id, now=clock(), run_id=body.run_id, run_group_id=body.run_group_id
    )
    return CancelAnswer(
        run_group_id=group.id, status=group.status, cancel_requested=group.cancel_requested
    )


NOT_FOUND = {404: {"description": "River or run not found"}}

river_routes(router, "POST", "/{river_id}/run", run_river, status_code=202, responses=NOT_FOUND)
river_routes(
    router,
    "POST",
    "/{river_id}/{sub}/{sub_river_id}/run",
    run_sub_river,
    status_code=202,
    responses=NOT_FOUND,
)
river_routes(router, "GET", "/{river_id}/runs/{run_id}", get_run, responses=NOT_FOUND)
river_routes(
    router,
    "GET",
    "/{river_id}/runs/{run_id}/logs",
    get_run_logs,
    response_class=PlainTextResponse,
    responses=NOT_FOUND,
)
river_routes(router, "POST", "/{river_id}/cancel_run", cancel_run, responses=NOT_FOUND)
