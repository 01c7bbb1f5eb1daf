"""River notification e-mails through a real SMTP server on loopback, on SQLite and PostgreSQL.

Run groups are written as final rows for a river whose definition carries ``notifications``;
``dispatch_once`` with a ``FakeClock`` queues and sends, and retries are checked by moving the
clock. The SMTP server is aiosmtpd on a free port (``tests/services/smtphelp.py``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from headwater.services import delivery_retry
from headwater.services import webhook_dispatch as dispatch
from headwater.services.email_dispatch import EmailConfig, SmtpConfig
from headwater.settings import Settings
from headwater.store.models import EmailDelivery, River, RunGroup
from tests.api.tokenhelp import OtherAccount, add_account
from tests.conftest import FakeClock
from tests.services.smtphelp import SmtpSink, free_port
from tests.services.webhookhelp import RIVER, add_finished_group, box

ON_FAILURE = ["ops@example.com", "oncall@example.com"]
ON_SUCCESS = ["team@example.com"]
PUBLIC_URL = "https://headwater.example.com"
PASSWORD = "s3cret-SMTP-pa55word"


@pytest.fixture
def acct(sessions: sessionmaker[Session]) -> OtherAccount:
    return add_account(sessions)


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as running:
        yield running


def email_config(port: int, **smtp: Any) -> EmailConfig:
    return EmailConfig(
        SmtpConfig(host="127.0.0.1", port=port, starttls=False, timeout=5.0, **smtp),
        public_url=PUBLIC_URL,
    )


def add_river(
    sessions: sessionmaker[Session],
    acct: OtherAccount,
    *,
    on_failure: list[str] | None = None,
    on_success: list[str] | None = None,
    name: str = "orders",
) -> None:
    """The river ``add_finished_group`` runs, with these notification recipients."""
    definition = {
        "name": name,
        "type": "src_to_trgt",
        "notifications": {
            "on_failure": {"emails": on_failure or [], "webhook": False},
            "on_success": {"emails": on_success or [], "webhook": False},
        },
    }
    with sessions() as session:
        session.add(
            River(
                id=RIVER,
                account_id=acct.account_id,
                environment_id=acct.environment_id,
                name=name,
                river_type="src_to_trgt",
                definition=definition,
            )
        )
        session.commit()


def finished(
    sessions: sessionmaker[Session], acct: OtherAccount, clock: FakeClock, status: str, **kw: Any
) -> str:
    return add_finished_group(
        sessions, acct.account_id, acct.environment_id, status=status, ended=clock(), **kw
    )


def deliveries(sessions: sessionmaker[Session]) -> list[EmailDelivery]:
    with sessions() as session:
        return list(session.scalars(select(EmailDelivery).order_by(EmailDelivery.created_at)))


def notified_at(sessions: sessionmaker[Session], group_id: str) -> Any:
    with sessions() as session:
        return session.get_one(RunGroup, group_id).notified_at


def test_failed_group_mails_the_on_failure_recipients_once(
    sessions: sessionmaker[Session], acct: OtherAccount, clock: FakeClock, sink: SmtpSink
) -> None:
    add_river(sessions, acct, on_failure=ON_FAILURE, on_success=ON_SUCCESS)
    group_id = finished(
        sessions,
        acct,
        clock,
        "partially succeeded",
        runs=[("public.a", "succeeded", None), ("public.b", "failed", "relation b is missing")],
    )
    config = email_config(sink.port, sender="alerts@headwater.example.com")

    report = dispatch.dispatch_once(sessions, box(), clock(), email=config)

    assert (report.queued, report.emails_sent, report.emails_failed) == (1, 1, 0)
    [mail] = sink.mails
    assert mail.rcpt_tos == ON_FAILURE and mail.mail_from == "alerts@headwater.example.com"
    assert mail.message["Subject"] == "[Headwater] River orders partially succeeded"
    assert mail.message["To"] == "ops@example.com, oncall@example.com"
    body = mail.body
    assert f"Run group:  {group_id}" in body and "Status:     partially succeeded" in body
    assert "- public.b: relation b is missing" in body and "public.a" not in body
    assert "Rows:       42" in body and "Units:      1.25" in body
    assert "Started:    2026-11-01 11:57:00 UTC" in body
    assert "Ended:      2026-11-01 12:00:00 UTC" in body
    page = (
        f"{PUBLIC_URL}/console/accounts/{acct.account_id}/environments/{acct.environment_id}"
        f"/activities/rivers/{RIVER}/groups/{group_id}"
    )
    assert f"View the run: {page}" in body
    [delivery] = deliveries(sessions)
    assert (delivery.status, delivery.attempts, delivery.event) == ("sent", 1, "run_group.failed")
    assert delivery.sent_at == clock() and delivery.last_error is None
    assert delivery.recipients == ON_FAILURE and delivery.run_group_id == group_id
    assert mail.message["Message-ID"] == f"<{delivery.id}.{group_id}@headwater.example.com>"
    assert notified_at(sessions, group_id) == clock()

    clock.advance(hours=2)
    again = dispatch.dispatch_once(sessions, box(), clock(), email=config)
    assert (again.queued, again.emails_sent) == (0, 0) and len(sink.mails) == 1


def test_succeeded_group_mails_the_on_success_recipients(
    sessions: sessionmaker[Session], acct: OtherAccount, clock: FakeClock, sink: SmtpSink
) -> None:
    add_river(sessions, acct, on_failure=ON_FAILURE, on_success=ON_SUCCESS)
    group_id = finished(sessions, acct, clock, "succeeded")

    dispatch.dispatch_once(
        sessions, box(), clock(), email=EmailConfig(email_config(sink.port).smtp)
    )

    [mail] = sink.mails
    assert mail.rcpt_tos == ON_SUCCESS
    assert mail.message["Subject"] == "[Headwater] River orders succeeded"
    assert group_id in mail.body and "Failed runs" not in mail.body
    assert "View the run" not in mail.body  # no public URL configured
    assert deliveries(sessions)[0].event == "run_group.succeeded"


@pytest.mark.parametrize(
    ("status", "on_failure", "on_success"),
    [
        ("succeeded", ON_FAILURE, []),
        ("failed", [], ON_SUCCESS),
        ("canceled", ON_FAILURE, ON_SUCCESS),
        ("skipped", ON_FAILURE, ON_SUCCESS),
        ("failed", [], []),
    ],
)
def test_groups_without_recipients_queue_nothing_and_are_marked_notified(
    sessions: sessionmaker[Session],
    acct: OtherAccount,
    clock: FakeClock,
    sink: SmtpSink,
    status: str,
    on_failure: list[str],
    on_success: list[str],
) -> None:
    add_river(sessions, acct, on_failure=on_failure, on_success=on_success)
    group_id = finished(sessions, acct, clock, status)

    report = dispatch.dispatch_once(sessions, box(), clock(), email=email_config(sink.port))

    assert report.queued == 0 and deliveries(sessions) == [] and sink.mails == []
    assert notified_at(sessions, group_id) == clock()


def test_repeated_and_racing_passes_send_each_group_once(
    sessions: sessionmaker[Session], acct: OtherAccount, clock: FakeClock, sink: SmtpSink
) -> None:
    add_river(sessions, acct, on_failure=ON_FAILURE)
    config = email_config(sink.port)
    groups = [finished(sessions, acct, clock, "failed") for _ in range(4)]
    # a pass that read the group before another pass queued it must not queue it again
    assert dispatch.queue_group(sessions, groups[0], clock(), config) == 1
    assert dispatch.queue_group(sessions, groups[0], clock(), config) is None

    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run_pass() -> None:
        try:
            barrier.wait(timeout=5)
            dispatch.dispatch_once(sessions, box(), clock(), email=config)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run_pass) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    clock.advance(hours=1)
    dispatch.dispatch_once(sessions, box(), clock(), email=config)

    assert errors == []
    sent = sorted(line.split()[-1] for m in sink.mails for line in m.body.splitlines()[3:4])
    assert sent == sorted(groups)
    assert all(d.status == "sent" and d.attempts == 1 for d in deliveries(sessions))


def test_unreachable_server_is_retried_with_backoff_then_sent(
    sessions: sessionmaker[Session], acct: OtherAccount, clock: FakeClock
) -> None:
    add_river(sessions, acct, on_failure=ON_FAILURE)
    finished(sessions, acct, clock, "failed")
    port = free_port()
    config = email_config(port)
    start = clock()

    report = dispatch.dispatch_once(sessions, box(), clock(), email=config)
    assert (report.emails_sent, report.emails_failed) == (0, 1)
    [delivery] = deliveries(sessions)
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert delivery.last_error is not None and "ConnectionRefusedError" in delivery.last_error
    assert delivery.next_attempt_at == start + timedelta(seconds=10)

    clock.advance(seconds=9)
    assert dispatch.dispatch_once(sessions, box(), clock(), email=config).emails_failed == 0
    clock.advance(seconds=1)
    assert dispatch.dispatch_once(sessions, box(), clock(), email=config).emails_failed == 1
    assert deliveries(sessions)[0].next_attempt_at == clock() + timedelta(seconds=30)

    with SmtpSink(port=port) as sink:
        clock.advance(seconds=29)
        dispatch.dispatch_once(sessions, box(), clock(), email=config)
        assert sink.mails == []
        clock.advance(seconds=1)
        assert dispatch.dispatch_once(sessions, box(), clock(), email=config).emails_sent == 1
        clock.advance(hours=3)
        dispatch.dispatch_once(sessions, box(), clock(), email=config)
    [delivery] = deliveries(sessions)
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("sent", 3, None)
    assert delivery.sent_at == start + timedelta(seconds=40)
    assert [m.rcpt_tos for m in sink.mails] == [ON_FAILURE]


def test_delivery_fails_for_good_after_the_last_attempt(
    sessions: sessionmaker[Session], acct: OtherAccount, clock: FakeClock
) -> None:
    add_river(sessions, acct, on_success=ON_SUCCESS)
    finished(sessions, acct, clock, "succeeded")
    config = email_config(free_port())

    attempts = 0
    for wait in delivery_retry.BACKOFF:
        attempts += dispatch.dispatch_once(sessions, box(), clock(), email=config).emails_failed
        clock.advance(seconds=wait.total_seconds())
    attempts += dispatch.dispatch_once(sessions, box(), clock(), email=config).emails_failed

    [delivery] = deliveries(sessions)
    assert attempts == delivery_retry.MAX_ATTEMPTS == 6
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 6, None)
    assert delivery.last_error is not None and "ConnectionRefusedError" in delivery.last_error
    clock.advance(days=1)
    assert dispatch.dispatch_once(sessions, box(), clock(), email=config).emails_failed == 0


def test_starttls_required_but_not_offered_is_an_error_not_a_clear_text_send(
    sessions: sessionmaker[Session], acct: OtherAccount, clock: FakeClock, sink: SmtpSink
) -> None:
    add_river(sessions, acct, on_failure=ON_FAILURE)
    finished(sessions, acct, clock, "failed")
    config = EmailConfig(SmtpConfig(host="127.0.0.1", port=sink.port, starttls=True, timeout=5))

    dispatch.dispatch_once(sessions, box(), clock(), email=config)

    [delivery] = deliveries(sessions)
    assert delivery.status == "pending" and sink.mails == []
    assert delivery.last_error is not None and "SMTPNotSupportedError" in delivery.last_error


def test_without_smtp_host_nothing_is_sent_and_the_skip_is_logged_once(
    sessions: sessionmaker[Session],
    acct: OtherAccount,
    clock: FakeClock,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="headwater")
    add_river(sessions, acct, on_failure=ON_FAILURE)
    group_id = finished(sessions, acct, clock, "failed")
    dispatcher = dispatch.WebhookDispatcher.from_settings(settings, sessions, clock)

    first = dispatcher.run_once()
    clock.advance(hours=1)
    second = dispatcher.run_once()

    assert first is not None and second is not None
    assert (first.queued, first.emails_sent, second.emails_sent) == (0, 0, 0)
    assert deliveries(sessions) == [] and notified_at(sessions, group_id) is not None
    skipped = [r for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 1 and skipped[0].levelno == logging.INFO
    assert group_id in skipped[0].getMessage() and "HEADWATER_SMTP_HOST" in skipped[0].getMessage()
    assert "ops@example.com" not in caplog.text


def test_smtp_auth_from_settings_never_logs_the_password(
    sessions: sessionmaker[Session],
    acct: OtherAccount,
    clock: FakeClock,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    add_river(sessions, acct, on_failure=ON_FAILURE)
    finished(sessions, acct, clock, "failed")
    with SmtpSink(login=("headwater", PASSWORD)) as sink:
        smtp = {"smtp_host": "127.0.0.1", "smtp_port": sink.port, "smtp_starttls": False}
        login = {"smtp_username": "headwater"}
        wrong = settings.model_copy(
            update={**smtp, **login, "smtp_password": SecretStr("not-" + PASSWORD)}
        )
        right = settings.model_copy(update={**smtp, **login, "smtp_password": SecretStr(PASSWORD)})

        report = dispatch.WebhookDispatcher.from_settings(wrong, sessions, clock).run_once()
        assert report is not None and report.emails_failed == 1 and sink.mails == []
        [delivery] = deliveries(sessions)
        assert delivery.last_error is not None and "SMTPAuthenticationError" in delivery.last_error

        clock.advance(seconds=10)
        dispatcher = dispatch.WebhookDispatcher.from_settings(right, sessions, clock)
        assert repr(dispatcher._email).count(PASSWORD) == 0
        report = dispatcher.run_once()

    assert report is not None and report.emails_sent == 1
    [mail] = sink.mails
    assert mail.authenticated and mail.rcpt_tos == ON_FAILURE
    assert sink.auth_attempts[-1] == ("headwater", True)
    assert any(not ok for _, ok in sink.auth_attempts)
    [delivery] = deliveries(sessions)
    assert delivery.status == "sent" and PASSWORD not in (delivery.last_error or "")
    assert caplog.records  # the attempts were logged, just not the password
    assert PASSWORD not in caplog.text
    assert all(PASSWORD not in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, (587, False, True)),
        ({"smtp_port": 465}, (465, True, False)),
        ({"smtp_port": 2525, "smtp_ssl": True}, (2525, True, False)),
        ({"smtp_port": 25, "smtp_starttls": False}, (25, False, False)),
        ({"smtp_port": 465, "smtp_ssl": False}, (465, False, True)),
    ],
)
def test_tls_defaults_follow_the_port(
    tmp_path: Path, env: dict[str, Any], expected: tuple[int, bool, bool]
) -> None:
    settings = Settings(
        data_dir=tmp_path,
        smtp_host="mail.example.com",
        smtp_password=PASSWORD,  # type: ignore[arg-type]
        **env,
    )
    smtp = EmailConfig.from_settings(settings).smtp
    assert smtp is not None and (smtp.port, smtp.ssl, smtp.starttls) == expected
    assert smtp.password == PASSWORD and PASSWORD not in repr(smtp)
    assert EmailConfig.from_settings(Settings(data_dir=tmp_path)).smtp is None
