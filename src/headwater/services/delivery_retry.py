"""The retry schedule shared by webhook and e-mail deliveries.

One schedule for both, so a receiver or mail server that is down for an hour is treated the
same whichever way an environment is notified.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

BACKOFF = (
    timedelta(seconds=10),
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(hours=1),
)
MAX_ATTEMPTS = len(BACKOFF) + 1
# Longer than a whole send batch can take, so a live claim never expires under its owner.
CLAIM_LEASE = timedelta(minutes=5)
INTERRUPTED = "no result recorded: the dispatcher stopped during this attempt"

__all__ = [
    "BACKOFF",
    "CLAIM_LEASE",
    "INTERRUPTED",
    "MAX_ATTEMPTS",
    "after_attempt",
    "claim_next",
    "give_up",
    "settle_if_claimed",
]


def after_attempt(
    ok: bool, number: int, now: datetime, done: dict[str, Any], *, retry: bool = True
) -> dict[str, Any]:
    """The delivery's new values after attempt ``number``: ``done`` when it worked, the next
    attempt after ``BACKOFF[number - 1]`` while attempts remain, else ``failed``."""
    if ok:
        return {**done, "next_attempt_at": None}
    if retry and number < MAX_ATTEMPTS:
        return {"next_attempt_at": now + BACKOFF[number - 1]}
    return {"status": "failed", "next_attempt_at": None}


def claim_next(
    session: Session,
    model: Any,
    delivery_id: str,
    seen_attempts: int,
    now: datetime,
    **values: Any,
) -> bool:
    """Take the next attempt of a pending delivery still on ``seen_attempts`` and lease it
    for ``CLAIM_LEASE`` (plus ``values``); False when another pass took it first. The
    caller commits or rolls back."""
    claimed = session.execute(
        update(model)
        .where(
            model.id == delivery_id,
            model.status == "pending",
            model.attempts == seen_attempts,
        )
        .values(attempts=seen_attempts + 1, next_attempt_at=now + CLAIM_LEASE, **values)
        .execution_options(synchronize_session=False)
    )
    return getattr(claimed, "rowcount", 0) == 1


def settle_if_claimed(
    session: Session, model: Any, delivery_id: str, number: int, values: dict[str, Any]
) -> str | None:
    """Apply ``values`` to a pending delivery still on attempt ``number`` (our claim) and
    commit; the new status, or None when another pass or a user moved it on meanwhile."""
    updated = session.execute(
        update(model)
        .where(model.id == delivery_id, model.status == "pending", model.attempts == number)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    if getattr(updated, "rowcount", 0) != 1:
        return None
    return str(values.get("status", "pending"))


def give_up(session: Session, model: Any, delivery_id: str, attempts: int) -> None:
    """A claimed attempt whose outcome was never recorded (the dispatcher died) and no
    attempts are left: the delivery fails, saying so."""
    settle_if_claimed(
        session,
        model,
        delivery_id,
        attempts,
        {"status": "failed", "next_attempt_at": None, "last_error": INTERRUPTED},
    )
