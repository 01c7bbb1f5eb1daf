"""River e-mail notifications: composed when a run group ends, queued, sent over SMTP.

A river's ``notifications.on_failure.emails`` get one message when a run group of it ends
``failed`` or ``partially succeeded``, its ``on_success.emails`` one when it ends
``succeeded``. Canceled groups (always a person's request: timeouts end ``failed``) and skipped
groups send nothing.

The webhook dispatcher drives this module. Its queueing pass claims each final run group once
(``notified_at``) and, in the same transaction, calls ``queue_email``: the subject and body are
composed from the group then and stored in ``email_deliveries``, so retries send what was true
when the group ended. With ``HEADWATER_SMTP_HOST`` unset nothing is queued: the skipped
notification is logged once at INFO. Its sending pass calls ``send_due``: each due delivery is
claimed by a conditional UPDATE on ``attempts`` (so two processes never send the same one), sent
with ``smtplib`` outside any transaction, and retried on the webhooks' ``BACKOFF`` schedule until
``MAX_ATTEMPTS``, then ``failed`` with its ``last_error``. The SMTP password is never logged and
never stored in a delivery.
"""

from __future__ import annotations

import logging
import smtplib
import socket
import ssl
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from headwater.schemas.rivers_common import Notifications
from headwater.schemas.runs import round_units
from headwater.services.delivery_retry import (
    INTERRUPTED,
    MAX_ATTEMPTS,
    after_attempt,
    claim_next,
    give_up,
    settle_if_claimed,
)
from headwater.settings import Settings
from headwater.store.models.notifications import EmailDelivery
from headwater.store.models.rivers import River
from headwater.store.models.runs import RunGroup

logger = logging.getLogger(__name__)

SEND_BATCH = 20
ERROR_MAX_CHARS = 1000
MAX_LISTED_RUNS = 50
RUN_ERROR_MAX_CHARS = 2000
ON_FAILURE = frozenset({"failed", "partially succeeded"})
ON_SUCCESS = frozenset({"succeeded"})
# A server that cannot be reached fails every message alike: stop the batch, retry later.
UNREACHABLE = (
    ConnectionError,
    TimeoutError,
    socket.gaierror,
    smtplib.SMTPConnectError,
    smtplib.SMTPServerDisconnected,
)


@dataclass(frozen=True)
class SmtpConfig:
    """How to reach the mail server; ``password`` stays out of ``repr``."""

    host: str
    port: int = 587
    sender: str = "headwater@localhost"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ssl: bool = False
    starttls: bool = True
    timeout: float = 10.0


@dataclass(frozen=True)
class EmailConfig:
    """What the dispatcher needs for e-mail: the server (None: disabled) and the console URL."""

    smtp: SmtpConfig | None = None
    public_url: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> EmailConfig:
        public_url = settings.public_url.rstrip("/") if settings.public_url else None
        if not settings.smtp_host:
            return cls(None, public_url)
        implicit_tls = (
            settings.smtp_ssl if settings.smtp_ssl is not None else (settings.smtp_port == 465)
        )
        starttls = (
            settings.smtp_starttls if settings.smtp_starttls is not None else (not implicit_tls)
        )
        password = settings.smtp_password
        smtp = SmtpConfig(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_from,
            username=settings.smtp_username or None,
            password=None if password is None else password.get_secret_value(),
            ssl=implicit_tls,
            starttls=starttls and not implicit_tls,
            timeout=settings.smtp_timeout_seconds,
        )
        return cls(smtp, public_url)


DISABLED = EmailConfig()


# --- queueing ---------------------------------------------------------------------------


def recipients_for(definition: dict[str, Any], status: str) -> tuple[str, list[str]] | None:
    """The event and the recipients a group with ``status`` notifies, None when nobody.

    An unreadable ``notifications`` object (it was validated when saved) counts as none.
    """
    try:
        notifications = Notifications.model_validate(definition.get("notifications") or {})
    except ValidationError:
        return None
    if status in ON_FAILURE:
        event, emails = "run_group.failed", notifications.on_failure.emails
    elif status in ON_SUCCESS:
        event, emails = "run_group.succeeded", notifications.on_success.emails
    else:
        return None
    unique = list(dict.fromkeys(emails))
    return (event, unique) if unique else None


def _rivers(session: Session, river_ids: Iterable[str]) -> dict[str, River]:
    ids = sorted(set(river_ids))
    if not ids:
        return {}
    return {r.id: r for r in session.scalars(select(River).where(River.id.in_(ids)))}


def _notified(river: River | None, group: RunGroup) -> tuple[str, list[str]] | None:
    if river is None or river.environment_id != group.environment_id:
        return None
    return recipients_for(river.definition or {}, group.status)


def groups_with_recipients(session: Session, groups: Sequence[RunGroup]) -> set[str]:
    """Ids of the groups whose river wants an e-mail for their status (enabled or not)."""
    candidates = [g for g in groups if g.status in ON_FAILURE | ON_SUCCESS]
    rivers = _rivers(session, (g.river_id for g in candidates))
    return {g.id for g in candidates if _notified(rivers.get(g.river_id), g) is not None}


def queue_email(session: Session, group: RunGroup, config: EmailConfig, now: datetime) -> bool:
    """Add the group's e-mail delivery to the caller's transaction; True when one was added.

    The caller owns the group (it set ``notified_at``), so this runs once per group.
    """
    river = session.get(River, group.river_id)
    wanted = _notified(river, group)
    if river is None or wanted is None:
        return False
    event, recipients = wanted
    if config.smtp is None:
        logger.info(
            "e-mail notification of run group %s (river %s, %d recipients) skipped: "
            "HEADWATER_SMTP_HOST is not set",
            group.id,
            river.id,
            len(recipients),
        )
        return False
    subject, body = compose(group, river.name, config.public_url)
    session.add(
        EmailDelivery(
            account_id=group.account_id,
            environment_id=group.environment_id,
            run_group_id=group.id,
            river_id=river.id,
            event=event,
            recipients=recipients,
            subject=subject,
            body=body,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )
    return True


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def run_page_url(public_url: str, group: RunGroup) -> str:
    """The console page of a run group (Activities drill-down)."""
    return (
        f"{public_url}/console/accounts/{group.account_id}/environments/{group.environment_id}"
        f"/activities/rivers/{group.river_id}/groups/{group.id}"
    )


def compose(group: RunGroup, river_name: str, public_url: str | None) -> tuple[str, str]:
    """Subject and plain-text body. Run errors are redacted of secrets where they are made."""
    name = _one_line(river_name)
    subject = f"[Headwater] River {name} {group.status}"
    lines = [
        f"River {name} {group.status}.",
        "",
        f"River:      {name} ({group.river_id})",
        f"Run group:  {group.id}",
        f"Status:     {group.status}",
        f"Trigger:    {group.trigger}",
        f"Started:    {_when(group.start_time)}",
        f"Ended:      {_when(group.end_time)}",
        f"Rows:       {group.total_rows}",
        f"Units:      {round_units(group.units).normalize():f}",
    ]
    if group.message:
        lines.append(f"Message:    {group.message}")
    failed = [run for run in group.runs if run.status == "failed"]
    if failed:
        lines += ["", "Failed runs:"]
        for run in failed[:MAX_LISTED_RUNS]:
            target = run.target_name or run.source_name or run.sub_river_id or run.id
            error = (run.error_description or "(no error description)")[:RUN_ERROR_MAX_CHARS]
            lines.append(f"- {target}: {error}")
        if len(failed) > MAX_LISTED_RUNS:
            lines.append(f"- ... and {len(failed) - MAX_LISTED_RUNS} more")
    if public_url:
        lines += ["", f"View the run: {run_page_url(public_url, group)}"]
    lines += ["", "-- ", "Sent by Headwater because this river's notifications list you."]
    return subject, "\n".join(lines) + "\n"


# --- sending ----------------------------------------------------------------------------


@dataclass
class SendReport:
    sent: int = 0
    failed: int = 0  # attempts that failed (retried or not)


def claim(session: Session, delivery_id: str, seen_attempts: int, now: datetime) -> bool:
    """Own the next attempt of a delivery (and lease it), or False when another pass did."""
    claimed = claim_next(
        session, EmailDelivery, delivery_id, seen_attempts, now, last_error=INTERRUPTED
    )
    session.commit()
    return claimed


@dataclass(frozen=True)
class Outgoing:
    """A claimed delivery as plain values, read before the SMTP conversation starts."""

    delivery_id: str
    run_group_id: str
    recipients: list[str]
    subject: str
    body: str


def build_message(outgoing: Outgoing, sender: str, now: datetime) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(outgoing.recipients)
    message["Subject"] = outgoing.subject
    message["Date"] = format_datetime(now.astimezone(UTC))
    domain = sender.rpartition("@")[2] or "headwater"
    # stable across retries, so a receiving system can drop a duplicate
    message["Message-ID"] = f"<{outgoing.delivery_id}.{outgoing.run_group_id}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(outgoing.body)
    return message


def _outgoing(session: Session, delivery_id: str) -> Outgoing:
    row = session.execute(
        select(
            EmailDelivery.run_group_id,
            EmailDelivery.recipients,
            EmailDelivery.subject,
            EmailDelivery.body,
        ).where(EmailDelivery.id == delivery_id)
    ).one()
    session.commit()  # no transaction stays open during the SMTP conversation
    return Outgoing(delivery_id, row[0], [str(to) for to in row[1]], row[2], row[3])


def deliver(smtp: SmtpConfig, message: EmailMessage, recipients: list[str]) -> str | None:
    """Send one message; raises on failure, returns a note when some recipients were refused."""
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if smtp.ssl:
        client = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout, context=context)
    else:
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
    with client:
        if smtp.starttls:
            client.starttls(context=context)  # SMTPNotSupportedError: never fall back to clear
        if smtp.username:
            client.login(smtp.username, smtp.password or "")
        refused = client.send_message(message, smtp.sender, recipients)
    if not refused:
        return None
    return "refused: " + ", ".join(f"{to} ({code})" for to, (code, _) in sorted(refused.items()))


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:ERROR_MAX_CHARS]


def record(
    session: Session, delivery_id: str, number: int, error: str | None, now: datetime, *, ok: bool
) -> str | None:
    """Store an attempt's outcome if the claim still holds; returns the new status."""
    sent = {"status": "sent", "sent_at": now}
    values = {"last_error": error, **after_attempt(ok, number, now, sent)}
    return settle_if_claimed(session, EmailDelivery, delivery_id, number, values)


def send_due(sessions: sessionmaker[Session], smtp: SmtpConfig, now: datetime) -> SendReport:
    """Claim and send up to ``SEND_BATCH`` due deliveries, one at a time.

    Each is claimed just before it is sent, so when the server turns out to be unreachable the
    rest of the batch stays unclaimed and keeps its own schedule.
    """
    report = SendReport()
    with sessions() as session:
        due = session.execute(
            select(EmailDelivery.id, EmailDelivery.attempts)
            .where(EmailDelivery.status == "pending", EmailDelivery.next_attempt_at <= now)
            .order_by(EmailDelivery.next_attempt_at)
            .limit(SEND_BATCH)
        ).all()
        for delivery_id, attempts in due:
            if attempts >= MAX_ATTEMPTS:  # its last attempt was interrupted
                give_up(session, EmailDelivery, delivery_id, attempts)
                continue
            if not claim(session, delivery_id, attempts, now):
                continue
            number = attempts + 1
            outgoing = _outgoing(session, delivery_id)
            try:
                message = build_message(outgoing, smtp.sender, now)
                note = deliver(smtp, message, outgoing.recipients)
            except Exception as exc:
                report.failed += 1
                # ids and the exception class only: no addresses, no credentials
                logger.info(
                    "e-mail delivery %s attempt %d failed (%s)",
                    delivery_id,
                    number,
                    type(exc).__name__,
                )
                record(session, delivery_id, number, _error(exc), now, ok=False)
                if isinstance(exc, UNREACHABLE):
                    break
                continue
            report.sent += 1
            record(session, delivery_id, number, note, now, ok=True)
    return report
