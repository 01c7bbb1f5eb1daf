"""Legacy run endpoints used by the seed's curl example and rivery-cli 0.4.0.

``run_id`` in this API is the run group id; statuses are ``W``/``R``/``D``/``E``. The logs
endpoint follows rivery-cli's two-step protocol: the first call answers with a ``queryid``
header, the second (with ``queryId``) answers 200 and the CSV.
"""

from __future__ import annotations

import hashlib

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, TypeAdapter
from sqlalchemy.orm import Session

from headwater.api.bodies import RawBody, parse_body
from headwater.api.deps import ClockDep, SessionDep, require_scope
from headwater.api.responses import errors
from headwater.errors import InvalidInput, NotFound
from headwater.schemas.legacy import LegacyId
from headwater.schemas.run_control import LegacyRun
from headwater.services import run_views
from headwater.services import runs as run_service
from headwater.services.auth import Principal
from headwater.services.triggering import start_river
from headwater.store.models.rivers import River
from headwater.store.models.runs import Run, RunGroup

router = APIRouter(prefix="/api", tags=["legacy"])


class LegacyRunBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    river_id: LegacyId


class LegacyCancelBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    run_id: LegacyId


def json_body(model: type[BaseModel]) -> dict[str, object]:
    """Document a body read raw (legacy clients send JSON without a JSON content type)."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


def _river(session: Session, principal: Principal, river_id: str) -> River:
    river = session.get(River, river_id)
    if (
        river is None
        or river.account_id != principal.account_id
        or not principal.may_use_environment(river.environment_id)
    ):
        raise NotFound(f"River {river_id} was not found")
    return river


def _group(session: Session, principal: Principal, run_id: str) -> RunGroup:
    """A group by its id, or the group of a run id: legacy clients hold either."""
    group = session.get(RunGroup, run_id)
    if group is None:
        run = session.get(Run, run_id)
        group = run.group if run is not None else None
    if (
        group is None
        or group.account_id != principal.account_id
        or not principal.may_use_environment(group.environment_id)
    ):
        raise NotFound(f"Run {run_id} was not found")
    return group


@router.post("/run", openapi_extra=json_body(LegacyRunBody), responses=errors(400, 404, 422))
def legacy_run(
    request: Request,
    raw: RawBody,
    session: SessionDep,
    clock: ClockDep,
    principal: Principal = Depends(require_scope("river:execute")),
) -> LegacyRun:
    """Run a river now; ``run_id`` (the run group id) is what ``check_run`` takes."""
    body = parse_body(TypeAdapter(LegacyRunBody), raw)
    river = _river(session, principal, body.river_id)
    group = start_river(
        session, river, trigger="api", now=clock(), submit=request.app.state.executor.submit
    )
    return run_views.legacy_run(group)


@router.get("/check_run", responses=errors(404))
def legacy_check_run(
    session: SessionDep,
    run_id: str = Query(description="The run id returned by /api/run."),
    principal: Principal = Depends(require_scope("river:execute")),
) -> LegacyRun:
    """Status ``W`` waiting, ``R`` running, ``D`` done, ``E`` error; ``D`` and ``E`` are final."""
    return run_views.legacy_run(_group(session, principal, run_id))


@router.post(
    "/run/cancel", openapi_extra=json_body(LegacyCancelBody), responses=errors(400, 404, 409, 422)
)
def legacy_cancel(
    raw: RawBody,
    session: SessionDep,
    clock: ClockDep,
    principal: Principal = Depends(require_scope("river:execute")),
) -> LegacyRun:
    body = parse_body(TypeAdapter(LegacyCancelBody), raw)
    group = _group(session, principal, body.run_id)
    run_service.request_cancel(session, river_id=group.river_id, now=clock(), run_group_id=group.id)
    session.refresh(group)
    return run_views.legacy_run(group)


def _query_id(run_id: str) -> str:
    return hashlib.sha256(f"logs:{run_id}".encode()).hexdigest()[:24]


@router.get(
    "/activities/runs/logs",
    response_class=PlainTextResponse,
    responses={
        202: {"description": "The log query started: ask again with the `queryid` header"},
        **errors(400, 404),
    },
)
def legacy_run_logs(
    session: SessionDep,
    run_id: str = Query(alias="id", description="A run id or a run group id."),
    query_id: str | None = Query(default=None, alias="queryId"),
    principal: Principal = Depends(require_scope("activities:list")),
) -> Response:
    """Two steps: without ``queryId`` → 202 with a ``queryid`` header; with it → 200 and CSV."""
    group = _group(session, principal, run_id)
    expected = _query_id(run_id)
    if query_id is None:
        return Response(status_code=202, headers={"queryid": expected})
    if query_id != expected:
        raise InvalidInput(f"queryId {query_id} does not belong to run {run_id}")
    run_ids = [run_id] if session.get(Run, run_id) is not None else [r.id for r in group.runs]
    parts = [run_service.logs_csv(session, rid) for rid in run_ids]
    body = parts[0] + "".join(p.split("\n", 1)[1] for p in parts[1:]) if parts else ""
    return PlainTextResponse(body or "timestamp,level,msg\n", media_type="text/csv")
