"""A logic run's steps and a run's variables, under ``E/rivers/{river_id}/runs/{run_id}``."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from headwater.api.deps import SessionDep, require_scope
from headwater.api.river_paths import river_routes
from headwater.schemas.logic_runs import LogicStepList, RunVariablesOut
from headwater.services import logic_runs, run_views
from headwater.services import runs as run_service
from headwater.services.auth import Principal
from headwater.services.rivers import get_river_in_environment

router = APIRouter(tags=["runs"])


def list_logic_steps(
    account_id: str,
    environment_id: str,
    river_id: str,
    run_id: str,
    session: SessionDep,
    _principal: Principal = Depends(require_scope("activities:list")),
) -> LogicStepList:
    """Each step execution of a logic run: status, timing, loop iteration and output."""
    get_river_in_environment(session, environment_id, river_id)
    run = run_service.get_run(session, run_id, river_id=river_id)
    items = [run_views.logic_step_out(r) for r in logic_runs.step_runs(session, run.id)]
    return LogicStepList(run_id=run.id, river_id=river_id, items=items)


def get_run_variables(
    account_id: str,
    environment_id: str,
    river_id: str,
    run_id: str,
    session: SessionDep,
    _principal: Principal = Depends(require_scope("activities:list")),
) -> RunVariablesOut:
    """The variables of a logic or action run when it ended; private values masked."""
    get_river_in_environment(session, environment_id, river_id)
    run = run_service.get_run(session, run_id, river_id=river_id)
    return run_views.run_variables_out(river_id, run.id, logic_runs.run_variables(session, run.id))


NOT_FOUND = {404: {"description": "River or run not found"}}

river_routes(
    router,
    "GET",
    "/{river_id}/runs/{run_id}/logic_steps",
    list_logic_steps,
    summary="Steps of a logic run",
    responses=NOT_FOUND,
)
river_routes(
    router,
    "GET",
    "/{river_id}/runs/{run_id}/variables",
    get_run_variables,
    summary="Variables of a run (private values masked)",
    responses=NOT_FOUND,
)
