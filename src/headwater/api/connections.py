"""Connections (``E/connections``) and the connection-type catalogues (``/v1/*_types``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Response
from pydantic import TypeAdapter

from headwater.api.bodies import BoxDep, documented_as, parse_body
from headwater.api.deps import ClockDep, SessionDep, SettingsDep, require_scope
from headwater.api.responses import errors
from headwater.api.river_paths import ENV_PREFIX
from headwater.schemas.connection_bodies import connection_body_union
from headwater.schemas.connections import (
    ConnectionIn,
    ConnectionList,
    ConnectionOut,
    ConnectionTestResult,
    ConnectionTypeList,
)
from headwater.security.local_paths import LocalPathPolicy
from headwater.security.ssrf import OutboundPolicy
from headwater.services import connections as service
from headwater.services.auth import Principal, actor_for
from headwater.services.connection_types import all_specs
from headwater.services.envscope import EnvScope

router = APIRouter(tags=["connections"])
CONNECTION_IN = TypeAdapter(ConnectionIn)
BODY_DOC = (
    'A connection: `{"connection_name", "connection_type", "properties"}`; properties per the '
    "type's catalogue entry. Sending a secret's mask back keeps the stored secret."
)
JsonObject = dict[str, Any]
#: Documented as one variant per connector type (validated by ``service`` against the same
#: catalogue, so the 422 never echoes a secret).
ConnectionBody = Annotated[JsonObject, documented_as(connection_body_union(all_specs())), Body()]


@router.get("/v1/connections_types", summary="Every connection type, with typed properties")
def connection_types(
    _principal: Principal = Depends(require_scope("connection:list")),
) -> ConnectionTypeList:
    return ConnectionTypeList(items=service.catalogue())


@router.get("/v1/data_source_types", summary="Connection types that can be a source")
def data_source_types(
    _principal: Principal = Depends(require_scope("connection:list")),
) -> ConnectionTypeList:
    return ConnectionTypeList(items=service.catalogue("source"))


@router.get("/v1/target_types", summary="Connection types that can be a target")
def target_types(
    _principal: Principal = Depends(require_scope("connection:list")),
) -> ConnectionTypeList:
    return ConnectionTypeList(items=service.catalogue("target"))


@router.get(f"{ENV_PREFIX}/connections", summary="Connections of the environment")
def list_connections(
    account_id: str,
    environment_id: str,
    session: SessionDep,
    _principal: Principal = Depends(require_scope("connection:list")),
) -> ConnectionList:
    scope = EnvScope(account_id, environment_id)
    return ConnectionList(
        items=[service.connection_out(c) for c in service.list_connections(session, scope)]
    )


@router.post(
    f"{ENV_PREFIX}/connections",
    status_code=201,
    summary="Create a connection",
    description=BODY_DOC,
    responses=errors(409),
)
def create_connection(
    account_id: str,
    environment_id: str,
    session: SessionDep,
    box: BoxDep,
    clock: ClockDep,
    settings: SettingsDep,
    body: ConnectionBody,
    principal: Principal = Depends(require_scope("connection:edit")),
) -> ConnectionOut:
    parsed = parse_body(CONNECTION_IN, body)
    scope = EnvScope(account_id, environment_id)
    created = service.create_connection(
        session,
        box,
        scope,
        actor_for(principal),
        parsed,
        clock(),
        LocalPathPolicy.from_settings(settings),
    )
    return service.connection_out(created)


@router.get(f"{ENV_PREFIX}/connections/{{connection_id}}", summary="One connection")
def get_connection(
    account_id: str,
    environment_id: str,
    connection_id: str,
    session: SessionDep,
    _principal: Principal = Depends(require_scope("connection:list")),
) -> ConnectionOut:
    scope = EnvScope(account_id, environment_id)
    return service.connection_out(service.get_connection(session, scope, connection_id))


@router.put(
    f"{ENV_PREFIX}/connections/{{connection_id}}",
    summary="Replace a connection",
    description=BODY_DOC,
    responses=errors(409),
)
def replace_connection(
    account_id: str,
    environment_id: str,
    connection_id: str,
    session: SessionDep,
    box: BoxDep,
    clock: ClockDep,
    settings: SettingsDep,
    body: ConnectionBody,
    principal: Principal = Depends(require_scope("connection:edit")),
) -> ConnectionOut:
    parsed = parse_body(CONNECTION_IN, body)
    scope = EnvScope(account_id, environment_id)
    updated = service.replace_connection(
        session,
        box,
        scope,
        actor_for(principal),
        connection_id,
        parsed,
        clock(),
        LocalPathPolicy.from_settings(settings),
    )
    return service.connection_out(updated)


@router.delete(
    f"{ENV_PREFIX}/connections/{{connection_id}}",
    status_code=204,
    summary="Delete a connection no river uses (409 names the rivers that do)",
)
def delete_connection(
    account_id: str,
    environment_id: str,
    connection_id: str,
    session: SessionDep,
    clock: ClockDep,
    principal: Principal = Depends(require_scope("connection:delete")),
) -> Response:
    scope = EnvScope(account_id, environment_id)
    service.delete_connection(session, scope, actor_for(principal), connection_id, clock())
    return Response(status_code=204)


@router.post(
    f"{ENV_PREFIX}/connections/{{connection_id}}/test",
    summary="Really connect: {ok: true} or {ok: false, message}",
)
def test_connection(
    account_id: str,
    environment_id: str,
    connection_id: str,
    session: SessionDep,
    box: BoxDep,
    settings: SettingsDep,
    _principal: Principal = Depends(require_scope("connection:edit")),
) -> ConnectionTestResult:
    scope = EnvScope(account_id, environment_id)
    policy = OutboundPolicy.from_settings(settings)
    paths = LocalPathPolicy.from_settings(settings)
    return service.check_connection(session, box, scope, connection_id, policy, paths)
