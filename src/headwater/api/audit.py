"""``E/audit_events``: the audit trail of an environment (and of its account)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request

from headwater.api.deps import SessionDep, SettingsDep, require_scope
from headwater.api.paging import PageParams, make_page, paging
from headwater.api.responses import errors
from headwater.errors import InvalidInput
from headwater.schemas.audit import AuditEventOut
from headwater.schemas.common import Page, UtcTimestamp, epoch_ms
from headwater.services import audit as service
from headwater.services.auth import Principal
from headwater.store.models import AuditEvent

router = APIRouter(tags=["audit"])

TIME_HELP = "yyyy-mm-ddThh:mm:ss (UTC), RFC 3339 with Z or an offset, or epoch milliseconds."


def event_out(event: AuditEvent) -> AuditEventOut:
    return AuditEventOut(
        id=event.id,
        account_id=event.account_id,
        environment_id=event.environment_id,
        occurred_at=event.occurred_at,
        occurred_at_epoch_ms=epoch_ms(event.occurred_at),
        action=event.action,
        actor_type=event.actor_type,
        actor_id=event.actor_id,
        actor_user_id=event.actor_user_id,
        entity_type=event.entity_type,
        entity_id=event.entity_id,
        result=event.result,
        details=dict(event.details),
    )


@router.get(
    "/v1/accounts/{account_id}/environments/{environment_id}/audit_events",
    summary="The audit trail: this environment's events and the account's own, newest first",
    responses=errors(400),
)
def list_audit_events(
    request: Request,
    account_id: str,
    environment_id: str,
    session: SessionDep,
    settings: SettingsDep,
    start_time: UtcTimestamp | None = Query(None, description=f"From this time. {TIME_HELP}"),
    end_time: UtcTimestamp | None = Query(None, description=f"Up to this time. {TIME_HELP}"),
    action: list[str] | None = Query(
        None,
        description="Only these actions, e.g. `token.created`; repeat or comma-separate.",
    ),
    params: PageParams = Depends(paging()),
    principal: Principal = Depends(require_scope("audit:list")),
) -> Page[AuditEventOut]:
    if start_time is not None and end_time is not None and end_time < start_time:
        raise InvalidInput("end_time must not be before start_time")
    actions = [a.strip() for value in action or [] for a in value.split(",") if a.strip()]
    events, total = service.list_events(
        session,
        account_id=account_id,
        environment_id=environment_id,
        start=start_time,
        end=end_time,
        actions=actions or None,
        offset=params.offset,
        limit=params.items_per_page,
    )
    return make_page(
        request,
        settings,
        params,
        [event_out(e) for e in events],
        total,
        account_id=account_id,
        environment_id=environment_id,
    )
