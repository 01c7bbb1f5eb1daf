"""Environments of an account: list (granted ones), create (admins only), rename."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from headwater.api.deps import ClockDep, SessionDep, SettingsDep, require_scope
from headwater.api.paging import PageParams, make_page, paging
from headwater.api.responses import errors
from headwater.schemas.common import Page
from headwater.schemas.environments import EnvironmentIn, EnvironmentOut
from headwater.services import environments as service
from headwater.services.auth import Principal, actor_for

router = APIRouter(tags=["environments"])
PagingDep = Annotated[PageParams, Depends(paging())]
ENVIRONMENTS = "/v1/accounts/{account_id}/environments"


@router.get(ENVIRONMENTS, summary="Environments this token may use")
def list_environments(
    request: Request,
    account_id: str,
    session: SessionDep,
    settings: SettingsDep,
    page: PagingDep,
    principal: Principal = Depends(require_scope("environment:list")),
) -> Page[EnvironmentOut]:
    found = service.list_environments(session, principal)
    chunk = found[page.offset : page.offset + page.items_per_page]
    return make_page(
        request,
        settings,
        page,
        [service.environment_out(e) for e in chunk],
        len(found),
        account_id=account_id,
        environment_id=None,
    )


@router.post(
    ENVIRONMENTS,
    status_code=201,
    summary="Create an environment (admins only)",
    responses=errors(409),
)
def create_environment(
    account_id: str,
    body: EnvironmentIn,
    session: SessionDep,
    clock: ClockDep,
    principal: Principal = Depends(require_scope("environment:edit")),
) -> EnvironmentOut:
    environment = service.create_environment(
        session, principal, actor_for(principal), body.name, clock()
    )
    return service.environment_out(environment)


@router.patch(
    f"{ENVIRONMENTS}/{{environment_id}}", summary="Rename an environment", responses=errors(409)
)
def rename_environment(
    account_id: str,
    environment_id: str,
    body: EnvironmentIn,
    session: SessionDep,
    clock: ClockDep,
    principal: Principal = Depends(require_scope("environment:edit")),
) -> EnvironmentOut:
    environment = service.rename_environment(
        session, principal, actor_for(principal), environment_id, body.name, clock()
    )
    return service.environment_out(environment)
