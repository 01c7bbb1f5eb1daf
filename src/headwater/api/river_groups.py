"""River groups under ``E/river_groups``: list, create, rename, delete (only when empty)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from headwater.api.deps import ClockDep, SessionDep, SettingsDep, require_scope
from headwater.api.paging import PageParams, make_page, paging
from headwater.api.responses import errors
from headwater.api.river_paths import ENV_PREFIX
from headwater.schemas.common import Page
from headwater.schemas.environments import GroupIn, GroupOut
from headwater.services import river_groups as service
from headwater.services.auth import Principal, actor_for
from headwater.services.envscope import EnvScope

router = APIRouter(tags=["river groups"])
PagingDep = Annotated[PageParams, Depends(paging())]
GROUPS = f"{ENV_PREFIX}/river_groups"


@router.get(GROUPS, summary="River groups of the environment")
def list_groups(
    request: Request,
    account_id: str,
    environment_id: str,
    session: SessionDep,
    settings: SettingsDep,
    page: PagingDep,
    _principal: Principal = Depends(require_scope("river:list")),
) -> Page[GroupOut]:
    groups = service.list_groups(session, EnvScope(account_id, environment_id))
    chunk = groups[page.offset : page.offset + page.items_per_page]
    return make_page(
        request,
        settings,
        page,
        [service.group_out(session, g) for g in chunk],
        len(groups),
        account_id=account_id,
        environment_id=environment_id,
    )


@router.post(GROUPS, status_code=201, summary="Create a river group", responses=errors(409))
def create_group(
    account_id: str,
    environment_id: str,
    body: GroupIn,
    session: SessionDep,
    clock: ClockDep,
    principal: Principal = Depends(require_scope("river:write")),
) -> GroupOut:
    scope = EnvScope(account_id, environment_id)
    group = service.create_group(session, scope, actor_for(principal), body.name, clock())
    return service.group_out(session, group)


def rename_group(
    account_id: str,
    environment_id: str,
    group_id: str,
    body: GroupIn,
    session: SessionDep,
    clock: ClockDep,
    principal: Principal = Depends(require_scope("river:write")),
) -> GroupOut:
    scope = EnvScope(account_id, environment_id)
    group = service.rename_group(session, scope, actor_for(principal), group_id, body.name, clock())
    return service.group_out(session, group)


for method in ("PATCH", "PUT"):
    router.add_api_route(
        f"{GROUPS}/{{group_id}}",
        rename_group,
        methods=[method],
        summary="Rename a river group",
        responses=errors(409),
    )


@router.delete(
    f"{GROUPS}/{{group_id}}",
    status_code=204,
    summary="Delete an empty river group (else 409)",
    responses=errors(409),
)
def delete_group(
    account_id: str,
    environment_id: str,
    group_id: str,
    session: SessionDep,
    clock: ClockDep,
    principal: Principal = Depends(require_scope("river:delete")),
) -> Response:
    scope = EnvScope(account_id, environment_id)
    service.delete_group(session, scope, actor_for(principal), group_id, clock())
    return Response(status_code=204)
