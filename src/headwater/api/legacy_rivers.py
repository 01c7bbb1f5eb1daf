"""Legacy river, connection and group endpoints (``/api/...``) as rivery-cli 0.4.0 uses them.

They act in the token's default granted environment. Bodies are read as JSON whatever the
``Content-Type`` (rivery-cli sends none) and may carry Mongo extended JSON (``{"$oid"}``,
``{"$date"}``). Answers carry ids as ``{"$oid"}`` where rivery-cli expects ObjectIds.

``POST /api/rivers/list`` answers the full river (with ``tasks_definitions``) for an ``_id``
given as an ObjectId, which is what ``rivers import`` sends (it takes the id from
``GET /api/rivers``). ``rivers push`` probes with the id as a plain string and then merges the
returned tasks into its own with ``collections.Mapping``, which Python 3.10+ no longer has; so
a plain-string ``_id`` answers the river without ``tasks_definitions`` and push goes on to
``PATCH /api/rivers/modify`` with the full definition.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.orm import Session

from headwater.api.bodies import BoxDep, RawBody, parse_body
from headwater.api.deps import ClockDep, SessionDep, require_scope
from headwater.api.responses import errors
from headwater.errors import InvalidInput, NotFound
from headwater.schemas.common import parse_time
from headwater.schemas.legacy import (
    GROUP_BY_ID,
    GROUP_NEW,
    GROUP_RENAME,
    LEGACY_RIVER,
    RIVER_BY_ID,
    json_body,
    unwrap_oid,
)
from headwater.schemas.rivers import RIVER_IN
from headwater.security.crypto import SecretBox
from headwater.services import connections, legacy_rivers, river_groups, rivers
from headwater.services.auth import Principal, actor_for, default_environment_id
from headwater.services.envscope import EnvScope
from headwater.store.models import River

router = APIRouter(prefix="/api", tags=["legacy"])
JsonList = list[dict[str, Any]]
GROUP_KEYS = ("_id", "cross_id", "group_id")


def decode_extended(value: Any) -> Any:
    """Mongo extended JSON to plain values: ``$oid`` → hex string, ``$date`` → ISO time."""
    if isinstance(value, dict):
        if set(value) == {"$oid"}:
            return str(value["$oid"])
        if set(value) == {"$date"}:
            raw = value["$date"]
            if isinstance(raw, dict):
                raw = int(raw.get("$numberLong", 0))
            if isinstance(raw, int | float):
                return parse_time(raw).isoformat()
            return str(raw)
        if set(value) == {"$numberLong"}:
            return int(value["$numberLong"])
        return {k: decode_extended(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_extended(v) for v in value]
    return value


def _scope(session: Session, principal: Principal) -> EnvScope:
    return EnvScope(principal.account_id, default_environment_id(session, principal))


def _oid(value: str) -> dict[str, str]:
    return {"$oid": value}


def _date(river: River, attribute: str) -> dict[str, str]:
    """``{"$date": "<ISO, milliseconds, Z>"}``: rivery-cli 0.4.0 parses numeric ``$date``
    values with ``collections.Mapping``, gone since Python 3.10; the string form works."""
    moment: datetime = getattr(river, attribute)
    return {"$date": moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"}


def _summary(river: River) -> dict[str, Any]:
    legacy = legacy_rivers.to_legacy(
        rivers.river_out(river).model_dump(mode="json"), river.id, river.status
    )
    return {
        "_id": _oid(river.id),
        "cross_id": _oid(river.id),
        "river_id": river.id,
        "river_definitions": legacy["river_definitions"],
        "created_at": _date(river, "created_at"),
        "updated_at": _date(river, "updated_at"),
    }


def _full(river: River, *, with_tasks: bool = True) -> dict[str, Any]:
    legacy = legacy_rivers.to_legacy(
        rivers.river_out(river).model_dump(mode="json"), river.id, river.status
    )
    answer: dict[str, Any] = {
        "_id": _oid(river.id),
        "cross_id": river.id,
        "river_id": river.id,
        "river_definitions": legacy["river_definitions"],
    }
    if with_tasks:
        answer["tasks_definitions"] = legacy["tasks_definitions"]
    return answer


@router.get("/rivers", summary="Rivers of the default environment (optionally ?group=NAME)")
def list_rivers(
    session: SessionDep,
    group: str | None = Query(None, description="Group name."),
    principal: Principal = Depends(require_scope("river:list")),
) -> JsonList:
    scope = _scope(session, principal)
    group_id = None
    if group:
        found = river_groups.find_by_name(session, scope, group)
        if found is None:
            return []
        group_id = found.id
    listed, _total = rivers.list_rivers(session, scope, group_id=group_id)
    return [_summary(r) for r in listed]


@router.get("/rivers/{river_id}", summary="One river, as a one-item list")
def get_river(
    river_id: str,
    session: SessionDep,
    principal: Principal = Depends(require_scope("river:list")),
) -> JsonList:
    return [_summary(rivers.get_river(session, _scope(session, principal), river_id))]


def _river_id(
    payload: Any, params: dict[str, str], keys: tuple[str, ...] = ("_id", "cross_id", "river_id")
) -> str | None:
    """The id a legacy call names, from its body (plain or ``{"$oid"}``) or query string."""
    if isinstance(payload, dict):
        for key in keys:
            if payload.get(key):
                return str(unwrap_oid(payload[key]))
    for key in keys:
        if params.get(key):
            return params[key]
    return None


@router.post(
    "/rivers/list",
    summary="One river with river_definitions and tasks_definitions",
    responses=errors(400, 404),
    openapi_extra=json_body(RIVER_BY_ID),
)
def get_river_full(
    request: Request,
    body: RawBody,
    session: SessionDep,
    principal: Principal = Depends(require_scope("river:list")),
) -> dict[str, Any]:
    river_id = _river_id(body, dict(request.query_params))
    if river_id is None:
        raise InvalidInput("Give the river as _id")
    river = rivers.get_river(session, _scope(session, principal), river_id)
    as_object_id = isinstance(body, dict) and isinstance(body.get("_id"), dict)
    plain_probe = isinstance(body, dict) and isinstance(body.get("_id"), str)
    return _full(river, with_tasks=as_object_id or not plain_probe)


def _save(
    request: Request,
    body: Any,
    session: Session,
    box: SecretBox,
    principal: Principal,
    now: datetime,
    *,
    must_exist: bool,
) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidInput("The body must be a JSON object")
    scope = _scope(session, principal)
    river_id = _river_id(body, dict(request.query_params))
    current = None
    if river_id is not None:
        current = session.get(River, river_id)
        if current is not None and (
            current.account_id != scope.account_id or current.environment_id != scope.environment_id
        ):
            current = None
    if current is None and must_exist:
        raise NotFound(f"River {river_id} was not found")
    plain = decode_extended(body)
    previous = rivers.river_out(current).model_dump(mode="json") if current is not None else None
    model = parse_body(RIVER_IN, legacy_rivers.from_legacy(plain, previous))
    actor = actor_for(principal)
    if current is None:
        saved = rivers.create_river(session, box, scope, actor, model, now)
    else:
        saved = rivers.replace_river(session, box, scope, actor, current.id, model, now)
    return _full(saved)


@router.put(
    "/rivers/modify",
    summary="Create a river (or update the one named by cross_id)",
    responses=errors(400, 404, 409, 422),
    openapi_extra=json_body(LEGACY_RIVER),
)
def create_or_update_river(
    request: Request,
    body: RawBody,
    session: SessionDep,
    box: BoxDep,
    clock: ClockDep,
    principal: Principal = Depends(require_scope("river:write")),
) -> dict[str, Any]:
    return _save(request, body, session, box, principal, clock(), must_exist=False)


@router.patch(
    "/rivers/modify",
    summary="Update the river named by cross_id/_id",
    responses=errors(400, 404, 409, 422),
    openapi_extra=json_body(LEGACY_RIVER),
)
def update_river(
    request: Request,
    body: RawBody,
    session: SessionDep,
    box: BoxDep,
    clock: ClockDep,
    principal: Principal = Depends(require_scope("river:write")),
) -> dict[str, Any]:
    return _save(request, body, session, box, principal, clock(), must_exist=True)


@router.delete(
    "/rivers/modify",
    summary="Delete the river named by _id/cross_id/river_id",
    responses=errors(400, 404),
    openapi_extra=json_body(RIVER_BY_ID),
)
def delete_river(
    request: Request,
    body: RawBody,
    session: SessionDep,
    clock: ClockDep,
    principal: Principal = Depends(require_scope("river:delete")),
) -> dict[str, Any]:
    river_id = _river_id(body, dict(request.query_params))
    if river_id is None:
        raise InvalidInput("Give the river as _id")
    scope = _scope(session, principal)
    rivers.delete_river(session, scope, actor_for(principal), river_id, clock())
    return {"cross_id": river_id, "deleted": True}


@router.get("/connections/list", summary="Connections of the default environment")
def list_connections(
    session: SessionDep, principal: Principal = Depends(require_scope("connection:list"))
) -> JsonList:
    scope = _scope(session, principal)
    answer = []
    for connection in connections.list_connections(session, scope):
        shown = connections.connection_out(connection)
        answer.append(
            {
                "_id": _oid(connection.id),
                "cross_id": connection.id,
                "connection_name": shown.connection_name,
                "connection_type": shown.connection_type,
                "properties": shown.properties,
            }
        )
    return answer


@router.get("/connection_types", summary="Connection types (catalogue)")
def list_connection_types(
    _principal: Principal = Depends(require_scope("connection:list")),
) -> JsonList:
    return [
        {**item.model_dump(mode="json"), "connection_type_name": item.title}
        for item in connections.catalogue()
    ]


def _group_item(session: Session, group: Any) -> dict[str, Any]:
    return {
        "_id": _oid(group.id),
        "cross_id": group.id,
        "group_name": group.name,
        "name": group.name,
        "rivers_count": river_groups.river_count(session, group.id),
    }


@router.get("/river_groups", summary="River groups of the default environment")
def list_groups(
    session: SessionDep, principal: Principal = Depends(require_scope("river:list"))
) -> JsonList:
    scope = _scope(session, principal)
    return [_group_item(session, g) for g in river_groups.list_groups(session, scope)]


def _group_name(body: Any) -> str:
    name = body.get("group_name") or body.get("name") if isinstance(body, dict) else None
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("Give the group's name as group_name")
    return name.strip()


@router.put(
    "/river_groups",
    summary="Create a river group {group_name}",
    responses=errors(400, 409),
    openapi_extra=json_body(GROUP_NEW),
)
def create_group(
    body: RawBody,
    session: SessionDep,
    clock: ClockDep,
    principal: Principal = Depends(require_scope("river:write")),
) -> dict[str, Any]:
    scope = _scope(session, principal)
    group = river_groups.create_group(
        session, scope, actor_for(principal), _group_name(body), clock()
    )
    return _group_item(session, group)


@router.patch(
    "/river_groups",
    summary="Rename a river group {_id, group_name}",
    responses=errors(400, 404, 409),
    openapi_extra=json_body(GROUP_RENAME),
)
def rename_group(
    request: Request,
    body: RawBody,
    session: SessionDep,
    clock: ClockDep,
    principal: Principal = Depends(require_scope("river:write")),
) -> dict[str, Any]:
    group_id = _river_id(body, dict(request.query_params), GROUP_KEYS)
    if not group_id:
        raise InvalidInput("Give the group as _id")
    scope = _scope(session, principal)
    group = river_groups.rename_group(
        session, scope, actor_for(principal), group_id, _group_name(body), clock()
    )
    return _group_item(session, group)


@router.delete(
    "/river_groups",
    summary="Delete an empty river group {_id}",
    responses=errors(400, 404, 409),
    openapi_extra=json_body(GROUP_BY_ID),
)
def delete_group(
    request: Request,
    body: RawBody,
    session: SessionDep,
    clock: ClockDep,
    principal: Principal = Depends(require_scope("river:delete")),
) -> dict[str, Any]:
    group_id = _river_id(body, dict(request.query_params), GROUP_KEYS)
    if not group_id:
        raise InvalidInput("Give the group as _id")
    scope = _scope(session, principal)
    river_groups.delete_group(session, scope, actor_for(principal), group_id, clock())
    return {"cross_id": group_id, "deleted": True}
