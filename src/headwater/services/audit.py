"""Recording audit events (one helper so every service writes the same shape)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from headwater.store.models import AuditEvent


@dataclass(frozen=True)
class Actor:
    """Who acts: a console user, an API token, or the system itself (sweeper, CLI)."""

    kind: str  # user | token | system
    id: str | None = None
    user_id: str | None = None  # the user behind a token, when there is one

    @classmethod
    def system(cls) -> Actor:
        return cls(kind="system")


def record(
    session: Session,
    *,
    account_id: str,
    actor: Actor,
    action: str,
    entity_type: str,
    entity_id: str | None,
    environment_id: str | None = None,
    result: str = "success",
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    event = AuditEvent(
        account_id=account_id,
        environment_id=environment_id,
        actor_type=actor.kind,
        actor_id=actor.id,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        result=result,
        details=details or {},
    )
    session.add(event)
    return event
