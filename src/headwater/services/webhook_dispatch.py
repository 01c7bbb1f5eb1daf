"""The webhook dispatcher: turns finished run groups into signed, retried HTTP deliveries.

Run groups are the event source. A pass first *queues*: every run group with a final status
and ``notified_at IS NULL`` gets one delivery per matching enabled webhook of its environment,
and ``notified_at`` is set in the same transaction by a conditional UPDATE
(``WHERE notified_at IS NULL``), so when several processes run a dispatcher (``headwater
server`` and ``headwater scheduler`` both do) exactly one of them queues each group. Then it
*sends*: due deliveries are claimed by another conditional UPDATE that bumps ``attempts`` and
leases the delivery for a few minutes, posted outside any transaction, and the outcome is
recorded only if the claim still holds. A dispatcher that dies mid-send leaves an attempt
marked as interrupted; the lease expires and the next pass retries. The same passes queue
and send the rivers' notification e-mails (``email_dispatch``).

One pass is the plain function ``dispatch_once(sessions, box, now)`` so tests drive it with a
fake clock; ``WebhookDispatcher`` only calls it from a thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from headwater.errors import InvalidInput
from headwater.security.crypto import DecryptionError, SecretBox
from headwater.security.ssrf import OutboundPolicy
from headwater.services import email_dispatch
from headwater.services.delivery_retry import (
    INTERRUPTED,
    MAX_ATTEMPTS,
    after_attempt,
    claim_next,
    give_up,
    settle_if_claimed,
)
from headwater.services.email_dispatch import EmailConfig
from headwater.services.webhook_wire import (
    TIMEOUT_SECONDS,
    SendResult,
    build_request,
    group_snapshot,
    send,
)
from headwater.settings import Settings
from headwater.store.models.runs import FINAL_STATUSES, RunGroup
from headwater.store.models.webhooks import Webhook, WebhookAttempt, WebhookDelivery

logger = logging.getLogger(__name__)

SECRET_PURPOSE = "webhook"
QUEUE_BATCH = 200
SEND_BATCH = 20
SEND_WORKERS = 8
DEFAULT_INTERVAL_SECONDS = 2.0

_SPECIFIC_EVENT = {
    "succeeded": "run_group.succeeded",
    "failed": "run_group.failed",
    "partially succeeded": "run_group.failed",
    "canceled": "run_group.canceled",
}


def pick_event(subscribed: Iterable[str], status: str) -> str | None:
    """The event a group with ``status`` is delivered as, or None when not subscribed.

    One delivery per webhook and group: the status's own event when subscribed (a partially
    succeeded group counts as failed), else ``run_group.finished`` (any final status).
    """
    events = set(subscribed)
    specific = _SPECIFIC_EVENT.get(status)
    if specific is not None and specific in events:
        return specific
    if status in FINAL_STATUSES and "run_group.finished" in events:
        return "run_group.finished"
    return None


# --- queueing ---------------------------------------------------------------------------


def _ended(group: RunGroup) -> datetime:
    return group.end_time or group.start_time


def _matching(webhooks: Iterable[Webhook], group: RunGroup) -> list[tuple[Webhook, str]]:
    """Enabled webhooks of the group's environment, created before it ended, subscribed."""
    found = []
    for webhook in webhooks:
        if webhook.environment_id != group.environment_id or not webhook.is_enabled:
            continue
        if webhook.created_at > _ended(group):
            continue  # no flood of history: only groups that end after the webhook exists
        event = pick_event(webhook.events, group.status)
        if event is not None:
            found.append((webhook, event))
    return found


def _enabled_webhooks(session: Session, environment_ids: Iterable[str]) -> list[Webhook]:
    ids = sorted(set(environment_ids))
    if not ids:
        return []
    return list(
        session.scalars(
            select(Webhook).where(Webhook.environment_id.in_(ids), Webhook.is_enabled.is_(True))
        )
    )


def queue_group(
    sessions: sessionmaker[Session],
    run_group_id: str,
    now: datetime,
    email: EmailConfig = email_dispatch.DISABLED,
) -> int | None:
    """Queue one final group's webhook and e-mail deliveries; None when already queued.

    The conditional UPDATE is the transaction's first statement: whoever changes the row
    owns the group, and the deliveries commit together with ``notified_at``.
    """
    with sessions() as session:
        claimed = session.execute(
            update(RunGroup)
            .where(RunGroup.id == run_group_id, RunGroup.notified_at.is_(None))
            .values(notified_at=now)
            .execution_options(synchronize_session=False)
        )
        if getattr(claimed, "rowcount", 0) != 1:
            session.rollback()
            return None
        group = session.get_one(RunGroup, run_group_id)
        matching = _matching(_enabled_webhooks(session, [group.environment_id]), group)
        snapshot = group_snapshot(group) if matching else {}
        for webhook, event in matching:
            session.add(
                WebhookDelivery(
                    webhook_id=webhook.id,
                    event=event,
                    run_group_id=group.id,
                    payload={"event": event, "run_group": snapshot},
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
        mailed = email_dispatch.queue_email(session, group, email, now)
        session.commit()
        return len(matching) + int(mailed)


def queue_finished_groups(
    sessions: sessionmaker[Session],
    now: datetime,
    *,
    limit: int = QUEUE_BATCH,
    email: EmailConfig = email_dispatch.DISABLED,
) -> int:
    """Queue deliveries for up to ``limit`` unnotified final groups; returns deliveries made.

    Groups no webhook and no river e-mail recipient wants (most of them, and all history on
    first start) are marked notified in one statement instead of one transaction each.
    """
    with sessions() as session:
        groups = list(
            session.scalars(
                select(RunGroup)
                .where(RunGroup.notified_at.is_(None), RunGroup.status.in_(FINAL_STATUSES))
                .order_by(RunGroup.end_time)
                .limit(limit)
            )
        )
        webhooks = _enabled_webhooks(session, (g.environment_id for g in groups))
        mailed = email_dispatch.groups_with_recipients(session, groups)
        wanted = [g.id for g in groups if g.id in mailed or _matching(webhooks, g)]
        unwanted = [g.id for g in groups if g.id not in set(wanted)]
        if unwanted:
            session.execute(
                update(RunGroup)
                .where(RunGroup.id.in_(unwanted), RunGroup.notified_at.is_(None))
                .values(notified_at=now)
                .execution_options(synchronize_session=False)
            )
            session.commit()
    queued = 0
    for group_id in wanted:
        try:
            queued += queue_group(sessions, group_id, now, email) or 0
        except Exception:  # one bad group must not hold back the others; retried next pass
            logger.warning("queueing webhooks for run group %s failed", group_id, exc_info=True)
    return queued


# --- sending ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """One attempt of a delivery that this pass owns, as plain values for a worker thread."""

    delivery_id: str
    event: str
    payload: dict[str, Any]
    number: int
    url: str
    secret: str | None


def claim_attempt(session: Session, delivery_id: str, seen_attempts: int, now: datetime) -> bool:
    """Own the next attempt of a delivery (and lease it), or False when another pass did."""
    if not claim_next(session, WebhookDelivery, delivery_id, seen_attempts, now):
        session.rollback()
        return False
    session.add(
        WebhookAttempt(
            delivery_id=delivery_id, number=seen_attempts + 1, attempted_at=now, error=INTERRUPTED
        )
    )
    session.commit()
    return True


def open_secret(box: SecretBox, stored: str) -> str | None:
    """The signing secret in clear, or None when it cannot be decrypted (key changed)."""
    try:
        return box.decrypt(stored, purpose=SECRET_PURPOSE)
    except DecryptionError:
        return None


def _claim_due(sessions: sessionmaker[Session], box: SecretBox, now: datetime) -> list[Claim]:
    with sessions() as session:
        rows = session.execute(
            select(
                WebhookDelivery.id,
                WebhookDelivery.event,
                WebhookDelivery.payload,
                WebhookDelivery.attempts,
                Webhook.url,
                Webhook.secret,
            )
            .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
            .where(
                WebhookDelivery.status == "pending",
                WebhookDelivery.next_attempt_at <= now,
                Webhook.is_enabled.is_(True),
            )
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(SEND_BATCH)
        ).all()
        claims = []
        for delivery_id, event, payload, attempts, url, stored_secret in rows:
            if attempts >= MAX_ATTEMPTS:  # its last attempt was interrupted
                give_up(session, WebhookDelivery, delivery_id, attempts)
                continue
            if not claim_attempt(session, delivery_id, attempts, now):
                continue
            secret = open_secret(box, stored_secret)
            claims.append(Claim(delivery_id, event, dict(payload), attempts + 1, url, secret))
        return claims


def attempt(claim: Claim, now: datetime, policy: OutboundPolicy | None = None) -> SendResult:
    """Send one claimed attempt (no DB access: this runs in a worker thread).

    The outbound policy is checked again at each attempt, not only when the URL was saved:
    the name may resolve elsewhere by now.
    """
    if policy is not None:
        try:
            policy.check(claim.url)
        except InvalidInput as exc:
            return SendResult(None, exc.message, 0)
    if claim.secret is None:
        error = "the signing secret cannot be decrypted: HEADWATER_SECRET_KEY has changed"
        return SendResult(None, error, 0)
    body, headers = build_request(claim.delivery_id, claim.event, claim.payload, claim.secret, now)
    return send(claim.url, body, headers, policy)


def record_result(
    session: Session,
    delivery_id: str,
    number: int,
    result: SendResult,
    now: datetime,
    *,
    retry: bool = True,
) -> str | None:
    """Store an attempt's outcome; returns the delivery's new status, None if it moved on.

    The attempt row always gets its result (the request did happen). The delivery changes only
    if this claim still holds: it may have been disabled (failed) meanwhile. A failure is
    retried after ``BACKOFF[number - 1]`` until ``MAX_ATTEMPTS``; with ``retry`` false (test
    pings) one failure is final.
    """
    session.execute(
        update(WebhookAttempt)
        .where(WebhookAttempt.delivery_id == delivery_id, WebhookAttempt.number == number)
        .values(
            status_code=result.status_code,
            error=result.error,
            duration_ms=result.duration_ms,
            response_body=result.response_body,
        )
        .execution_options(synchronize_session=False)
    )
    values: dict[str, Any] = {
        "last_status_code": result.status_code,
        "last_error": result.error,
        **after_attempt(
            result.ok, number, now, {"status": "succeeded", "delivered_at": now}, retry=retry
        ),
    }
    return settle_if_claimed(session, WebhookDelivery, delivery_id, number, values)


@dataclass
class DispatchReport:
    queued: int = 0
    sent: int = 0
    succeeded: int = 0
    failed: int = 0  # attempts that failed (retried or not)
    emails_sent: int = 0
    emails_failed: int = 0


def send_due(
    sessions: sessionmaker[Session],
    box: SecretBox,
    now: datetime,
    policy: OutboundPolicy | None = None,
) -> DispatchReport:
    """Claim up to ``SEND_BATCH`` due deliveries and send them in parallel."""
    report = DispatchReport()
    claims = _claim_due(sessions, box, now)
    if not claims:
        return report
    with ThreadPoolExecutor(
        max_workers=min(SEND_WORKERS, len(claims)), thread_name_prefix="webhook-send"
    ) as pool:
        results = list(pool.map(lambda claim: attempt(claim, now, policy), claims))
    with sessions() as session:
        for claim, result in zip(claims, results, strict=True):
            report.sent += 1
            if result.ok:
                report.succeeded += 1
            else:
                report.failed += 1
                # ids and a status only: the URL (which may carry a token) is never logged
                logger.info(
                    "webhook delivery %s attempt %d failed (%s)",
                    claim.delivery_id,
                    claim.number,
                    result.status_code or (result.error or "").split(":", 1)[0],
                )
            record_result(session, claim.delivery_id, claim.number, result, now)
    return report


def dispatch_once(
    sessions: sessionmaker[Session],
    box: SecretBox,
    now: datetime,
    policy: OutboundPolicy | None = None,
    email: EmailConfig = email_dispatch.DISABLED,
) -> DispatchReport:
    """One pass: queue deliveries for newly finished groups, then send what is due.

    ``policy`` (``HEADWATER_MODE=production``) refuses private destinations per attempt;
    ``email`` says whether and how notification e-mails go out (``email_dispatch``).
    """
    try:
        queued = queue_finished_groups(sessions, now, email=email)
    except Exception:  # sending what is already queued must not depend on queueing
        logger.warning("queueing webhook deliveries failed", exc_info=True)
        queued = 0
    report = send_due(sessions, box, now, policy)
    report.queued = queued
    if email.smtp is not None:
        try:
            mails = email_dispatch.send_due(sessions, email.smtp, now)
            report.emails_sent, report.emails_failed = mails.sent, mails.failed
        except Exception:
            logger.warning("sending e-mail notifications failed", exc_info=True)
    return report


class WebhookDispatcher:
    """A daemon thread running ``dispatch_once`` every ``interval`` seconds until ``stop()``.

    Any number of processes may run one: queueing and claiming are both conditional updates.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        box: SecretBox,
        clock: Callable[[], datetime],
        *,
        interval: float = DEFAULT_INTERVAL_SECONDS,
        policy: OutboundPolicy | None = None,
        email: EmailConfig = email_dispatch.DISABLED,
    ) -> None:
        self._sessions = sessions
        self._box = box
        self._policy = policy
        self._email = email
        self._clock = clock
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_settings(
        cls, settings: Settings, sessions: sessionmaker[Session], clock: Callable[[], datetime]
    ) -> WebhookDispatcher:
        """The dispatcher of a process: its encryption key, outbound policy and SMTP server."""
        return cls(
            sessions,
            SecretBox.from_settings(settings),
            clock,
            policy=OutboundPolicy.from_settings(settings),
            email=EmailConfig.from_settings(settings),
        )

    def run_once(self) -> DispatchReport | None:
        try:
            return dispatch_once(
                self._sessions, self._box, self._clock(), self._policy, self._email
            )
        except Exception:
            logger.warning("webhook dispatch pass failed; retrying next interval", exc_info=True)
            return None

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self._interval)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="headwater-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=TIMEOUT_SECONDS * 2)
            self._thread = None
