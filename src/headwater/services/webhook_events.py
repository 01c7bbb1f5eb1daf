"""Webhook events raised while a run is still going (not when its group ends).

``webhook_dispatch`` queues the ``run_group.*`` events of finished groups. A change capture
run may never finish (continuous mode), yet the one thing its owner must hear about soon is
a source keeping more and more log for it: ``cdc.slot_lag`` is queued the first time a run
reports its retained-WAL warning (``cdc_warning`` in its details), once per run. The
dispatcher's send pass delivers it like any other delivery (signed, retried, listed).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from headwater.services.webhook_wire import CDC_FIELDS, iso_utc
from headwater.store.models.runs import Run, RunGroup
from headwater.store.models.webhooks import Webhook, WebhookDelivery

SLOT_LAG_EVENT = "cdc.slot_lag"


def _payload(run: Run, group: RunGroup, now: datetime) -> dict[str, Any]:
    return {
        "event": SLOT_LAG_EVENT,
        "run": {
            "run_id": run.id,
            "run_group_id": group.id,
            "account_id": group.account_id,
            "environment_id": group.environment_id,
            "river_id": group.river_id,
            "source_name": run.source_name,
            "target_name": run.target_name,
            "status": run.status,
            "seen_at_utc": iso_utc(now),
            **{name: run.details[name] for name in CDC_FIELDS if name in run.details},
        },
    }


def queue_slot_lag(session: Session, run: Run, now: datetime) -> int:
    """Queue ``cdc.slot_lag`` for every enabled webhook of the run's environment that
    subscribes to it; the caller commits (with the run's new details). Returns how many."""
    group = session.get(RunGroup, run.run_group_id)
    if group is None:
        return 0
    webhooks = session.scalars(
        select(Webhook).where(
            Webhook.environment_id == group.environment_id, Webhook.is_enabled.is_(True)
        )
    )
    payload = _payload(run, group, now)
    queued = 0
    for webhook in webhooks:
        if SLOT_LAG_EVENT not in (webhook.events or []):
            continue
        session.add(
            WebhookDelivery(
                webhook_id=webhook.id,
                event=SLOT_LAG_EVENT,
                run_group_id=group.id,
                payload=payload,
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
        queued += 1
    return queued
