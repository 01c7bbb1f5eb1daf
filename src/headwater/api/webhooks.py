"""``E/webhooks``: an environment's webhooks, a test ping, and their delivery history.

Headwater's own addition (the hosted API only offers polling). Reading needs
``webhook:list``; creating, changing, testing, redelivering and deleting need ``webhook:edit``.
The signing secret is in the creating response only.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response, status

from headwater.api.deps import ClockDep, SessionDep, SettingsDep, require_scope
from headwater.api.paging import PageParams, make_page, paging
from headwater.api.river_paths import ENV_PREFIX
from headwater.schemas.common import Page
from headwater.schemas.webhooks import (
    DeliveryOut,
    WebhookCreate,
    WebhookCreated,
    WebhookList,
    WebhookOut,
    WebhookUpdate,
)
from headwater.security.crypto import SecretBox
from headwater.security.ssrf import OutboundPolicy
from headwater.services import webhooks as service
from headwater.services.auth import Principal, actor_for
from headwater.services.envscope import EnvScope

router = APIRouter(prefix=f"{ENV_PREFIX}/webhooks", tags=["webhooks"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "Webhook (or delivery) not found"}
}
PagingDep = Annotated[PageParams, Depends(paging(default=20, maximum=100))]


def _scope(account_id: str, environment_id: str) -> EnvScope:
    return EnvScope(account_id=account_id, environment_id=environment_id)


@router.get("", summary="List the environment's webhooks (secrets are never shown)")
def list_webhooks(
    account_id: str,
    environment_id: str,
    session: SessionDep,
    _principal: Principal = Depends(require_scope("webhook:list")),
) -> WebhookList:
    webhooks = service.list_webhooks(session, _scope(account_id, environment_id))
    return WebhookList(items=[service.webhook_out(w) for w in webhooks])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a webhook; the response is the only place its signing secret appears",
)
def create_webhook(
    account_id: str,
    environment_id: str,
    body: WebhookCreate,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    principal: Principal = Depends(require_scope("webhook:edit")),
) -> WebhookCreated:
    created = service.create_webhook(
        session,
        SecretBox.from_settings(settings),
        _scope(account_id, environment_id),
        actor_for(principal),
        body,
        clock(),
        OutboundPolicy.from_settings(settings),
    )
    shown = service.webhook_out(created.webhook)
    return WebhookCreated(**shown.model_dump(), secret=created.secret)


@router.get("/{webhook_id}", summary="View one webhook", responses=NOT_FOUND)
def get_webhook(
    account_id: str,
    environment_id: str,
    webhook_id: str,
    session: SessionDep,
    _principal: Principal = Depends(require_scope("webhook:list")),
) -> WebhookOut:
    webhook = service.get_webhook(session, _scope(account_id, environment_id), webhook_id)
    return service.webhook_out(webhook)


@router.patch(
    "/{webhook_id}",
    summary="Change a webhook's name, URL, events, secret or enabled flag",
    responses=NOT_FOUND,
)
def update_webhook(
    account_id: str,
    environment_id: str,
    webhook_id: str,
    body: WebhookUpdate,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    principal: Principal = Depends(require_scope("webhook:edit")),
) -> WebhookOut:
    webhook = service.update_webhook(
        session,
        SecretBox.from_settings(settings),
        _scope(account_id, environment_id),
        actor_for(principal),
        webhook_id,
        body,
        clock(),
        OutboundPolicy.from_settings(settings),
    )
    return service.webhook_out(webhook)


@router.delete(
    "/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a webhook and its delivery history",
    responses=NOT_FOUND,
)
def delete_webhook(
    account_id: str,
    environment_id: str,
    webhook_id: str,
    session: SessionDep,
    clock: ClockDep,
    principal: Principal = Depends(require_scope("webhook:edit")),
) -> Response:
    service.delete_webhook(
        session, _scope(account_id, environment_id), actor_for(principal), webhook_id, clock()
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{webhook_id}/test",
    summary="Send a ping now (once, no retries) and return the attempt's result",
    responses=NOT_FOUND,
)
def test_webhook(
    account_id: str,
    environment_id: str,
    webhook_id: str,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    _principal: Principal = Depends(require_scope("webhook:edit")),
) -> DeliveryOut:
    return service.ping(
        session,
        SecretBox.from_settings(settings),
        _scope(account_id, environment_id),
        webhook_id,
        clock(),
        OutboundPolicy.from_settings(settings),
    )


@router.get(
    "/{webhook_id}/deliveries",
    summary="The webhook's deliveries, newest first, each with every attempt",
    responses=NOT_FOUND,
)
def list_deliveries(
    request: Request,
    account_id: str,
    environment_id: str,
    webhook_id: str,
    session: SessionDep,
    settings: SettingsDep,
    page: PagingDep,
    delivery_status: Annotated[
        Literal["pending", "succeeded", "failed"] | None,
        Query(alias="status", description="Only deliveries with this status."),
    ] = None,
    _principal: Principal = Depends(require_scope("webhook:list")),
) -> Page[DeliveryOut]:
    items, total = service.list_deliveries(
        session,
        _scope(account_id, environment_id),
        webhook_id,
        offset=page.offset,
        limit=page.items_per_page,
        status=delivery_status,
    )
    return make_page(
        request,
        settings,
        page,
        items,
        total,
        account_id=account_id,
        environment_id=environment_id,
    )


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Queue a finished delivery again (same payload, new delivery id)",
    responses={**NOT_FOUND, 409: {"description": "Webhook disabled or delivery still pending"}},
)
def redeliver(
    account_id: str,
    environment_id: str,
    webhook_id: str,
    delivery_id: str,
    session: SessionDep,
    clock: ClockDep,
    principal: Principal = Depends(require_scope("webhook:edit")),
) -> DeliveryOut:
    return service.redeliver(
        session,
        _scope(account_id, environment_id),
        actor_for(principal),
        webhook_id,
        delivery_id,
        clock(),
    )
