"""Webhooks of an environment: create, change, delete, test, and read their deliveries.

The signing secret is encrypted at rest with ``SecretBox`` (purpose ``webhook``) and only
decrypted to sign a request; it appears in exactly one response, the one that creates the
webhook. URLs are not audited or logged: receivers such as chat incoming-webhooks put a
credential in the URL path.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from headwater.errors import Conflict, NotFound
from headwater.schemas.webhooks import (
    AttemptOut,
    DeliveryOut,
    WebhookCreate,
    WebhookOut,
    WebhookUpdate,
)
from headwater.security.crypto import SecretBox
from headwater.security.ssrf import OutboundPolicy
from headwater.services import webhook_dispatch as dispatch
from headwater.services.audit import Actor, record_in_scope
from headwater.services.envscope import EnvScope as Scope
from headwater.store.models.webhooks import (
    PING_EVENT,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
)

SECRET_PREFIX = "whsec_"
DISABLED_ERROR = "the webhook was disabled before this delivery succeeded"


def new_secret() -> str:
    """A generated signing secret: ``whsec_`` and 43 URL-safe characters (256 bits)."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def webhook_out(webhook: Webhook) -> WebhookOut:
    return WebhookOut(
        webhook_id=webhook.id,
        account_id=webhook.account_id,
        environment_id=webhook.environment_id,
        name=webhook.name,
        url=webhook.url,
        events=[str(e) for e in webhook.events],
        is_enabled=webhook.is_enabled,
        created_at=webhook.created_at,
        updated_at=webhook.updated_at,
        created_by=webhook.created_by,
    )


def _audit(
    session: Session,
    scope: Scope,
    actor: Actor,
    action: str,
    webhook: Webhook,
    now: datetime,
    details: dict[str, Any],
) -> None:
    # never the URL or the secret
    record_in_scope(
        session, scope, actor, action, "webhook", webhook.id, {"name": webhook.name, **details}, now
    )


def list_webhooks(session: Session, scope: Scope) -> list[Webhook]:
    return list(
        session.scalars(
            select(Webhook)
            .where(
                Webhook.account_id == scope.account_id,
                Webhook.environment_id == scope.environment_id,
            )
            .order_by(Webhook.created_at, Webhook.id)
        )
    )


def get_webhook(session: Session, scope: Scope, webhook_id: str) -> Webhook:
    """The webhook, or 404 when missing or in another account or environment."""
    webhook = session.get(Webhook, webhook_id)
    if (
        webhook is None
        or webhook.account_id != scope.account_id
        or webhook.environment_id != scope.environment_id
    ):
        raise NotFound(f"Webhook {webhook_id} was not found")
    return webhook


@dataclass(frozen=True)
class CreatedWebhook:
    webhook: Webhook
    secret: str  # in clear, for the creating response only


def create_webhook(
    session: Session,
    box: SecretBox,
    scope: Scope,
    actor: Actor,
    body: WebhookCreate,
    now: datetime,
    policy: OutboundPolicy | None = None,
) -> CreatedWebhook:
    """Create a webhook; ``policy`` refuses private destinations in production mode (400)."""
    if policy is not None:
        policy.check(body.url)
    secret = body.secret or new_secret()
    webhook = Webhook(
        account_id=scope.account_id,
        environment_id=scope.environment_id,
        name=body.name,
        url=body.url,
        events=list(body.events),
        is_enabled=body.is_enabled,
        secret=box.encrypt(secret, purpose=dispatch.SECRET_PURPOSE),
        created_by=actor.user_id or actor.id,
        created_at=now,
        updated_at=now,
    )
    session.add(webhook)
    session.flush()
    _audit(
        session,
        scope,
        actor,
        "webhook.created",
        webhook,
        now,
        {"events": webhook.events, "is_enabled": webhook.is_enabled},
    )
    session.commit()
    return CreatedWebhook(webhook, secret)


def update_webhook(
    session: Session,
    box: SecretBox,
    scope: Scope,
    actor: Actor,
    webhook_id: str,
    body: WebhookUpdate,
    now: datetime,
    policy: OutboundPolicy | None = None,
) -> Webhook:
    """Apply the fields sent; disabling fails the deliveries still pending."""
    webhook = get_webhook(session, scope, webhook_id)
    if policy is not None and body.url is not None:
        policy.check(body.url)
    changed: list[str] = []
    for field in ("name", "url", "events", "is_enabled"):
        if field in body.model_fields_set and getattr(body, field) != getattr(webhook, field):
            setattr(webhook, field, getattr(body, field))
            changed.append(field)
    if body.secret is not None:
        webhook.secret = box.encrypt(body.secret, purpose=dispatch.SECRET_PURPOSE)
        changed.append("secret")
    if "is_enabled" in changed and not webhook.is_enabled:
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.webhook_id == webhook.id, WebhookDelivery.status == "pending")
            .values(status="failed", next_attempt_at=None, last_error=DISABLED_ERROR)
            .execution_options(synchronize_session=False)
        )
    if changed:
        webhook.updated_at = now
        _audit(session, scope, actor, "webhook.updated", webhook, now, {"fields": changed})
    session.commit()
    return webhook


def delete_webhook(
    session: Session, scope: Scope, actor: Actor, webhook_id: str, now: datetime
) -> None:
    """Delete the webhook with its delivery history (explicitly, not only by FK cascade)."""
    webhook = get_webhook(session, scope, webhook_id)
    deliveries = select(WebhookDelivery.id).where(WebhookDelivery.webhook_id == webhook.id)
    session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(deliveries)))
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook.id))
    _audit(session, scope, actor, "webhook.deleted", webhook, now, {})
    session.delete(webhook)
    session.commit()


# --- deliveries -------------------------------------------------------------------------


def delivery_out(delivery: WebhookDelivery, attempts: Sequence[WebhookAttempt]) -> DeliveryOut:
    return DeliveryOut(
        delivery_id=delivery.id,
        webhook_id=delivery.webhook_id,
        event=delivery.event,
        run_group_id=delivery.run_group_id,
        redelivery_of=delivery.redelivery_of,
        status=delivery.status,
        attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at,
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
        created_at=delivery.created_at,
        delivered_at=delivery.delivered_at,
        payload=dict(delivery.payload),
        attempt_log=[
            AttemptOut(
                number=a.number,
                attempted_at=a.attempted_at,
                status_code=a.status_code,
                error=a.error,
                duration_ms=a.duration_ms,
                response_body=a.response_body,
            )
            for a in attempts
        ],
    )


def deliveries_out(session: Session, deliveries: Sequence[WebhookDelivery]) -> list[DeliveryOut]:
    """Deliveries with their attempts, loaded in one query."""
    ids = [d.id for d in deliveries]
    by_delivery: dict[str, list[WebhookAttempt]] = {i: [] for i in ids}
    if ids:
        for attempt in session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_(ids))
            .order_by(WebhookAttempt.number)
        ):
            by_delivery[attempt.delivery_id].append(attempt)
    return [delivery_out(d, by_delivery[d.id]) for d in deliveries]


def list_deliveries(
    session: Session,
    scope: Scope,
    webhook_id: str,
    *,
    offset: int,
    limit: int,
    status: str | None = None,
) -> tuple[list[DeliveryOut], int]:
    """One page of the webhook's deliveries, newest first, and the total count."""
    webhook = get_webhook(session, scope, webhook_id)
    where = [WebhookDelivery.webhook_id == webhook.id]
    if status is not None:
        where.append(WebhookDelivery.status == status)
    total = session.scalar(select(func.count()).select_from(WebhookDelivery).where(*where)) or 0
    page = list(
        session.scalars(
            select(WebhookDelivery)
            .where(*where)
            .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
            .offset(offset)
            .limit(limit)
        )
    )
    return deliveries_out(session, page), total


def get_delivery(
    session: Session, scope: Scope, webhook_id: str, delivery_id: str
) -> WebhookDelivery:
    webhook = get_webhook(session, scope, webhook_id)
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.webhook_id != webhook.id:
        raise NotFound(f"Delivery {delivery_id} was not found")
    return delivery


def redeliver(
    session: Session, scope: Scope, actor: Actor, webhook_id: str, delivery_id: str, now: datetime
) -> DeliveryOut:
    """Queue a new delivery with the original's payload; the dispatcher sends it next pass."""
    original = get_delivery(session, scope, webhook_id, delivery_id)
    webhook = get_webhook(session, scope, webhook_id)
    if not webhook.is_enabled:
        raise Conflict(f"Webhook {webhook.id} is disabled; enable it to redeliver")
    if original.status == "pending":
        raise Conflict(f"Delivery {original.id} is still pending; it is retried automatically")
    copy = WebhookDelivery(
        webhook_id=webhook.id,
        event=original.event,
        run_group_id=original.run_group_id,
        redelivery_of=original.id,
        payload=dict(original.payload),
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(copy)
    session.flush()
    _audit(
        session,
        scope,
        actor,
        "webhook.redelivered",
        webhook,
        now,
        {"delivery_id": copy.id, "redelivery_of": original.id},
    )
    session.commit()
    return delivery_out(copy, [])


def ping(
    session: Session,
    box: SecretBox,
    scope: Scope,
    webhook_id: str,
    now: datetime,
    policy: OutboundPolicy | None = None,
) -> DeliveryOut:
    """Send a ``ping`` now, once, and return the delivery with that attempt's result.

    Works on disabled webhooks too, so a receiver can be checked before it goes live. The
    attempt is recorded like any other, so it shows in the delivery history.
    """
    webhook = get_webhook(session, scope, webhook_id)
    payload = {
        "event": PING_EVENT,
        "webhook": {
            "webhook_id": webhook.id,
            "account_id": webhook.account_id,
            "environment_id": webhook.environment_id,
            "name": webhook.name,
            "events": list(webhook.events),
        },
    }
    delivery = WebhookDelivery(
        webhook_id=webhook.id,
        event=PING_EVENT,
        payload=payload,
        status="pending",
        attempts=0,
        next_attempt_at=None,  # never due: this request sends it
        created_at=now,
    )
    session.add(delivery)
    session.commit()
    dispatch.claim_attempt(session, delivery.id, 0, now)
    secret = dispatch.open_secret(box, webhook.secret)
    claim = dispatch.Claim(delivery.id, PING_EVENT, payload, 1, webhook.url, secret)
    result = dispatch.attempt(claim, now, policy)
    dispatch.record_result(session, delivery.id, 1, result, now, retry=False)
    session.refresh(delivery)
    return deliveries_out(session, [delivery])[0]
