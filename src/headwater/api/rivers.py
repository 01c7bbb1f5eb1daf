"""Rivers (data flows) under ``E/rivers``, ``E/data flows`` and ``E/data_flows``: definitions,
versions, restore, activate/disable and river variables."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request, Response

from headwater.api.bodies import BoxDep, documented_as, parse_body
from headwater.api.deps import ClockDep, SessionDep, SettingsDep, require_scope
from headwater.api.paging import PageParams, make_page, paging
from headwater.api.river_paths import river_routes
from headwater.schemas.common import Page
from headwater.schemas.rivers import (
    RIVER_IN,
    RestoreIn,
    RiverIn,
    RiverOut,
    RiverVariables,
    RiverVersionList,
    RiverVersionOut,
)
from headwater.services import river_versions, rivers
from headwater.services.auth import Principal, actor_for
from headwater.services.cdc_slots import release_change_capture
from headwater.services.envscope import EnvScope

router = APIRouter(tags=["rivers"])
JsonObject = dict[str, Any]
RiverBody = Annotated[JsonObject, documented_as(RiverIn), Body()]
PagingDep = Annotated[PageParams, Depends(paging())]
BODY_DOC = (
    "A river definition, discriminated by `type`: `src_to_trgt` (or `source_to_target`), "
    "`logic`, `actions` (or `action`). Unknown fields are rejected. See docs/rivers.md."
)


def list_rivers(
    request: Request,
    account_id: str,
    environment_id: str,
    session: SessionDep,
    settings: SettingsDep,
    page: PagingDep,
    name: str | None = Query(None, description="Name contains (case-insensitive)."),
    group_id: str | None = Query(None),
    river_type: str | None = Query(None, description="src_to_trgt | logic | actions"),
    _principal: Principal = Depends(require_scope("river:list")),
) -> Page[RiverOut]:
    scope = EnvScope(account_id, environment_id)
    found, total = rivers.list_rivers(
        session,
        scope,
        name=name,
        group_id=group_id,
        river_type=river_type,
        offset=page.offset,
        limit=page.items_per_page,
    )
    items = [rivers.river_out(r) for r in found]
    return make_page(
        request, settings, page, items, total, account_id=account_id, environment_id=environment_id
    )


def create_river(
    account_id: str,
    environment_id: str,
    session: SessionDep,
    box: BoxDep,
    clock: ClockDep,
    body: RiverBody,
    principal: Principal = Depends(require_scope("river:write")),
) -> RiverOut:
    model = parse_body(RIVER_IN, body)
    scope = EnvScope(account_id, environment_id)
    river = rivers.create_river(session, box, scope, actor_for(principal), model, clock())
    return rivers.river_out(river)


def get_river(
    account_id: str,
    environment_id: str,
    river_id: str,
    session: SessionDep,
    _principal: Principal = Depends(require_scope("river:list")),
) -> RiverOut:
    scope = EnvScope(account_id, environment_id)
    return rivers.river_out(rivers.get_river(session, scope, river_id))


def replace_river(
    account_id: str,
    environment_id: str,
    river_id: str,
    session: SessionDep,
    box: BoxDep,
    clock: ClockDep,
    body: RiverBody,
    principal: Principal = Depends(require_scope("river:write")),
) -> RiverOut:
    model = parse_body(RIVER_IN, body)
    scope = EnvScope(account_id, environment_id)
    river = rivers.replace_river(
        session, box, scope, actor_for(principal), river_id, model, clock()
    )
    return rivers.river_out(river)


DROP_SLOT_DOC = (
    "Change capture rivers: drop (true) or keep (false) the replication slot and publication "
    "at the source; default: the river's source.cdc.on_disable."
)


def delete_river(
    account_id: str,
    environment_id: str,
    river_id: str,
    session: SessionDep,
    clock: ClockDep,
    box: BoxDep,
    drop_slot: bool | None = Query(None, description=DROP_SLOT_DOC),
    principal: Principal = Depends(require_scope("river:delete")),
) -> Response:
    scope = EnvScope(account_id, environment_id)
    definition = dict(rivers.get_river(session, scope, river_id).definition)
    rivers.delete_river(session, scope, actor_for(principal), river_id, clock())
    release_change_capture(session, box, river_id, definition, drop_slot)
    return Response(status_code=204)


def list_versions(
    account_id: str,
    environment_id: str,
    river_id: str,
    session: SessionDep,
    _principal: Principal = Depends(require_scope("river:list")),
) -> RiverVersionList:
    scope = EnvScope(account_id, environment_id)
    versions = river_versions.list_versions(session, scope, river_id)
    return RiverVersionList(
        items=[river_versions.summary(v) for v in versions],
        river_id=river_id,
        current_version=versions[0].version if versions else 0,
    )


def get_version(
    account_id: str,
    environment_id: str,
    river_id: str,
    version_id: str,
    session: SessionDep,
    _principal: Principal = Depends(require_scope("river:list")),
) -> RiverVersionOut:
    scope = EnvScope(account_id, environment_id)
    version = river_versions.get_version(session, scope, river_id, version_id)
    return river_versions.version_out(version)


def restore_version(
    account_id: str,
    environment_id: str,
    river_id: str,
    body: RestoreIn,
    session: SessionDep,
    box: BoxDep,
    clock: ClockDep,
    principal: Principal = Depends(require_scope("river:write")),
) -> RiverOut:
    scope = EnvScope(account_id, environment_id)
    river = river_versions.restore(
        session, box, scope, actor_for(principal), river_id, body.version_id, clock()
    )
    return rivers.river_out(river)


def _set_status(
    status: str,
) -> Any:
    def endpoint(
        account_id: str,
        environment_id: str,
        river_id: str,
        session: SessionDep,
        clock: ClockDep,
        box: BoxDep,
        drop_slot: bool | None = Query(None, description=DROP_SLOT_DOC),
        principal: Principal = Depends(require_scope("river:edit")),
    ) -> RiverOut:
        scope = EnvScope(account_id, environment_id)
        river = rivers.set_status(session, scope, actor_for(principal), river_id, status, clock())
        if status != "active":
            release_change_capture(session, box, river.id, dict(river.definition), drop_slot)
        return rivers.river_out(river)

    endpoint.__name__ = "activate_river" if status == "active" else "disable_river"
    return endpoint


def get_variables(
    account_id: str,
    environment_id: str,
    river_id: str,
    session: SessionDep,
    _principal: Principal = Depends(require_scope("variables:list")),
) -> RiverVariables:
    scope = EnvScope(account_id, environment_id)
    return RiverVariables(variables=river_versions.river_variables(session, scope, river_id))


def put_variables(
    account_id: str,
    environment_id: str,
    river_id: str,
    body: RiverVariables,
    session: SessionDep,
    box: BoxDep,
    clock: ClockDep,
    principal: Principal = Depends(require_scope("variables:edit")),
) -> RiverVariables:
    scope = EnvScope(account_id, environment_id)
    river = river_versions.set_river_variables(
        session, box, scope, actor_for(principal), river_id, body.variables, clock()
    )
    return RiverVariables(variables=river_versions.shown_variables(river))


NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "River not found"}}
INVALID: dict[int | str, dict[str, Any]] = {
    409: {"description": "Name taken in this environment"},
    422: {"description": "Invalid definition (each error names its field)"},
}

river_routes(router, "GET", "", list_rivers, summary="List rivers (filters, paging)")
river_routes(
    router,
    "POST",
    "",
    create_river,
    status_code=201,
    summary="Create a river",
    description=BODY_DOC,
    responses=INVALID,
)
river_routes(router, "GET", "/{river_id}", get_river, summary="One river", responses=NOT_FOUND)
river_routes(
    router,
    "PUT",
    "/{river_id}",
    replace_river,
    summary="Replace a river's definition (a new version)",
    description=BODY_DOC,
    responses={**NOT_FOUND, **INVALID},
)
river_routes(
    router,
    "DELETE",
    "/{river_id}",
    delete_river,
    status_code=204,
    summary="Delete a river (409 while a logic river runs it)",
    responses=NOT_FOUND,
)
river_routes(router, "GET", "/{river_id}/versions", list_versions, summary="Version history")
river_routes(router, "GET", "/{river_id}/versions/{version_id}", get_version, summary="One version")
river_routes(
    router, "PUT", "/{river_id}/restore", restore_version, summary="Restore a version (new version)"
)
river_routes(
    router, "POST", "/{river_id}/activate_river", _set_status("active"), summary="Activate"
)
river_routes(
    router, "POST", "/{river_id}/disable_river", _set_status("disabled"), summary="Disable"
)
river_routes(router, "GET", "/{river_id}/variables", get_variables, summary="River variables")
river_routes(
    router, "PUT", "/{river_id}/variables", put_variables, summary="Replace river variables"
)
