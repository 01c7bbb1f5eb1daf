"""Recording audit events (one helper so every service writes the same shape)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from headwater.services.envscope import EnvScope
from headwater.store.models import AuditEvent


@dataclass(frozen=True)
class Actor:
    """Who acts: a console user, an API token, or the system itself (sweeper, CLI)."""

    kind: str  # user | token | system
    id: str | None = None
    user_id: str | None = None  # the user behind a token, when there is one
    #: Whether the user behind the action is an account admin (admin-only values such as
    #: local paths outside the allowed folders check it); not recorded.
    is_admin: bool = False
    #: May save rivers with code steps (``river:code``, held by an admin or an admin's token).
    may_run_code: bool = False

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
    occurred_at: datetime | None = None,
) -> AuditEvent:
    """Add one event to the session (the caller commits it with the change it describes).

    ``occurred_at`` defaults to the wall clock; services pass their injectable clock's time.
    """
    event = AuditEvent(
        account_id=account_id,
        environment_id=environment_id,
        actor_type=actor.kind,
        actor_id=actor.id,
        actor_user_id=actor.user_id,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        result=result,
        details=details or {},
    )
    if occurred_at is not None:
        event.occurred_at = occurred_at
    session.add(event)
    return event


def record_in_scope(
    session: Session,
    scope: EnvScope,
    actor: Actor,
    action: str,
    entity_type: str,
    entity_id: str | None,
    details: dict[str, Any],
    now: datetime,
) -> AuditEvent:
    """``record`` for a change inside one account and environment (the services' usual case)."""
    return record(
        session,
        account_id=scope.account_id,
        environment_id=scope.environment_id,
        actor=actor,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        details=details,
        occurred_at=now,
    )


def list_events(
    session: Session,
    *,
    account_id: str,
    environment_id: str,
    start: datetime | None = None,
    end: datetime | None = None,
    actions: list[str] | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[AuditEvent], int]:
    """One page of an environment's audit trail, newest first, and the total count.

    Account-level events (no environment: tokens, users, plan) belong to every environment's
    trail, so an environment's auditor sees who could act in it.
    """
    conditions = [
        AuditEvent.account_id == account_id,
        or_(AuditEvent.environment_id == environment_id, AuditEvent.environment_id.is_(None)),
    ]
    if start is not None:
        conditions.append(AuditEvent.occurred_at >= start)
    if end is not None:
        conditions.append(AuditEvent.occurred_at <= end)
    if actions:
        conditions.append(AuditEvent.action.in_(actions))
    total = session.scalar(select(func.count()).select_from(AuditEvent).where(*conditions)) or 0
    events = session.scalars(
        select(AuditEvent)
        .where(*conditions)
        .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return list(events), int(total)
