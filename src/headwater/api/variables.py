"""Environment variables under ``E/variables``; private values are masked in every answer."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Response

from headwater.api.bodies import BoxDep
from headwater.api.deps import ClockDep, SessionDep, require_scope
from headwater.api.river_paths import ENV_PREFIX
from headwater.schemas.environments import VariableList, VariablesIn
from headwater.services import variables as service
from headwater.services.auth import Principal, actor_for
from headwater.services.envscope import EnvScope

router = APIRouter(tags=["variables"])
VARIABLES = f"{ENV_PREFIX}/variables"


def _listing(session: SessionDep, scope: EnvScope) -> VariableList:
    return VariableList(
        items=[service.variable_out(v) for v in service.list_variables(session, scope)],
        account_id=scope.account_id,
        environment_id=scope.environment_id,
    )


@router.get(VARIABLES, summary="Environment variables (private values masked)")
def list_variables(
    account_id: str,
    environment_id: str,
    session: SessionDep,
    _principal: Principal = Depends(require_scope("variables:list")),
) -> VariableList:
    return _listing(session, EnvScope(account_id, environment_id))


@router.put(VARIABLES, summary="Set the listed variables (others are kept)")
def set_variables(
    account_id: str,
    environment_id: str,
    body: VariablesIn,
    session: SessionDep,
    box: BoxDep,
    clock: ClockDep,
    principal: Principal = Depends(require_scope("variables:edit")),
) -> VariableList:
    scope = EnvScope(account_id, environment_id)
    service.set_variables(session, box, scope, actor_for(principal), body.variables, clock())
    return _listing(session, scope)


@router.delete(VARIABLES, status_code=204, summary="Delete variables by name (?name=a&name=b)")
def delete_variables(
    account_id: str,
    environment_id: str,
    session: SessionDep,
    clock: ClockDep,
    name: list[str] = Query(..., description="Variable names to delete."),
    principal: Principal = Depends(require_scope("variables:edit")),
) -> Response:
    scope = EnvScope(account_id, environment_id)
    service.delete_variables(session, scope, actor_for(principal), name, clock())
    return Response(status_code=204)
