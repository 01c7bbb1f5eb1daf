"""The webhook dispatcher against a real loopback receiver, on SQLite and PostgreSQL.

Time is a ``FakeClock`` passed to ``dispatch_once``: retries are checked by moving it, never
by sleeping. Run groups are written as rows with final statuses to drive the dispatcher.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from headwater.runtime import build_runtime
from headwater.schemas.webhooks import WebhookCreate, WebhookUpdate
from headwater.security.ssrf import BlockedDestination, OutboundPolicy
from headwater.services import delivery_retry
from headwater.services import webhook_dispatch as dispatch
from headwater.services import webhooks as webhook_service
from headwater.services.audit import Actor
from headwater.services.envscope import EnvScope
from headwater.services.webhook_wire import SendResult
from headwater.settings import Settings
from headwater.store.models.runs import RunGroup
from headwater.store.models.webhooks import Webhook, WebhookAttempt, WebhookDelivery
from tests.api.tokenhelp import OtherAccount, add_account, add_environment
from tests.conftest import FakeClock
from tests.services.webhookhelp import Receiver, add_finished_group, add_webhook, box

SECRET = "whsec_dispatch-test-secret-0123456789"


@pytest.fixture
def acct(sessions: sessionmaker[Session]) -> OtherAccount:
    """An account with an environment, without the argon2 cost of ``bootstrap``."""
    return add_account(sessions)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def _deliveries(sessions: sessionmaker[Session]) -> list[WebhookDelivery]:
    with sessions() as session:
        return list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.created_at)))


def _attempts(sessions: sessionmaker[Session], delivery_id: str) -> list[WebhookAttempt]:
    with sessions() as session:
        return list(
            session.scalars(
                select(WebhookAttempt)
                .where(WebhookAttempt.delivery_id == delivery_id)
                .order_by(WebhookAttempt.number)
            )
        )


@pytest.mark.parametrize(
    ("subscribed", "status", "expected"),
    [
        (["run_group.succeeded"], "succeeded", "run_group.succeeded"),
        (["run_group.succeeded"], "failed", None),
        (["run_group.failed"], "failed", "run_group.failed"),
        (["run_group.failed"], "partially succeeded", "run_group.failed"),
        (["run_group.canceled"], "canceled", "run_group.canceled"),
        (["run_group.finished"], "skipped", "run_group.finished"),
        (["run_group.finished"], "partially succeeded", "run_group.finished"),
        (["run_group.failed", "run_group.finished"], "failed", "run_group.failed"),
        (["run_group.failed", "run_group.finished"], "succeeded", "run_group.finished"),
        (["run_group.finished"], "running", None),
    ],
)
def test_pick_event(subscribed: list[str], status: str, expected: str | None) -> None:
    assert dispatch.pick_event(subscribed, status) == expected


def test_finished_group_is_posted_once_signed_with_the_full_payload(
    sessions: sessionmaker[Session],
    acct: OtherAccount,
    clock: FakeClock,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    account, env = acct.account_id, acct.environment_id
    webhook_id = add_webhook(sessions, account, env, url=receiver.url, secret=SECRET, now=clock())
    clock.advance(minutes=5)
    group_id = add_finished_group(
        sessions,
        account,
        env,
        status="partially succeeded",
        ended=clock(),
        runs=[("public.a", "succeeded", None), ("public.b", "failed", "relation missing")],
    )
    clock.advance(seconds=2)

    report = dispatch.dispatch_once(sessions, box(), clock())

    assert (report.queued, report.sent, report.succeeded) == (1, 1, 1)
    [request] = receiver.requests
    assert request.path == "/hooks/headwater"
    assert request.signature_valid(SECRET)
    assert not request.signature_valid("whsec_some-other-secret-value")
    assert request.headers["x-headwater-event"] == "run_group.finished"
    assert request.headers["x-headwater-timestamp"] == str(int(clock().timestamp()))
    assert request.headers["content-type"] == "application/json"
    [delivery] = _deliveries(sessions)
    assert request.headers["x-headwater-delivery"] == delivery.id
    body = request.json()
    assert body["event"] == "run_group.finished"
    assert body["delivered_at"] == "2026-11-01T12:05:02Z"
    group = body["run_group"]
    assert group["run_group_id"] == group_id
    assert group["environment_id"] == env and group["river_id"] == "b" * 24
    assert group["status"] == "partially succeeded"
    assert (group["units"], group["total_rows"], group["total_size"]) == (1.25, 42, 4096)
    assert group["end_date_utc"] == "2026-11-01T12:05:00Z"
    assert group["start_date_in_milliseconds"] < group["end_date_in_milliseconds"]
    assert [(r["target_name"], r["status"], r["error_description"]) for r in group["runs"]] == [
        ("public.a", "succeeded", None),
        ("public.b", "failed", "relation missing"),
    ]
    assert all(len(r["run_id"]) == 32 for r in group["runs"])

    assert (delivery.webhook_id, delivery.status, delivery.attempts) == (webhook_id, "succeeded", 1)
    assert delivery.delivered_at == clock() and delivery.last_status_code == 200
    [attempt] = _attempts(sessions, delivery.id)
    assert (attempt.number, attempt.status_code, attempt.error) == (1, 200, None)
    assert attempt.duration_ms is not None and attempt.response_body == "thanks"
    with sessions() as session:
        assert session.get_one(RunGroup, group_id).notified_at == clock()

    assert receiver.url not in caplog.text and SECRET not in caplog.text
    clock.advance(hours=2)
    again = dispatch.dispatch_once(sessions, box(), clock())
    assert (again.queued, again.sent) == (0, 0)
    assert len(receiver.requests) == 1


def test_events_environments_enabled_flag_and_history_decide_what_is_queued(
    sessions: sessionmaker[Session], acct: OtherAccount, clock: FakeClock
) -> None:
    account, env = acct.account_id, acct.environment_id
    url = "http://127.0.0.1:9/unused"
    old_group = add_finished_group(sessions, account, env, status="failed", ended=clock())
    clock.advance(minutes=1)
    hooks = {
        name: add_webhook(sessions, account, env, url=url, events=events, now=clock(), name=name)
        for name, events in {
            "ok": ["run_group.succeeded"],
            "bad": ["run_group.failed"],
            "stop": ["run_group.canceled"],
            "all": ["run_group.finished"],
        }.items()
    }
    add_webhook(sessions, account, env, url=url, now=clock(), is_enabled=False, name="off")
    other_env = add_environment(sessions, account, "staging")
    add_webhook(sessions, account, other_env, url=url, now=clock(), name="elsewhere")
    clock.advance(minutes=1)
    groups = {
        status: add_finished_group(sessions, account, env, status=status, ended=clock())
        for status in ("succeeded", "failed", "partially succeeded", "canceled", "skipped")
    }

    queued = dispatch.queue_finished_groups(sessions, clock())

    got = {(d.webhook_id, d.run_group_id, d.event) for d in _deliveries(sessions)}
    assert got == {
        (hooks["ok"], groups["succeeded"], "run_group.succeeded"),
        (hooks["bad"], groups["failed"], "run_group.failed"),
        (hooks["bad"], groups["partially succeeded"], "run_group.failed"),
        (hooks["stop"], groups["canceled"], "run_group.canceled"),
        *((hooks["all"], g, "run_group.finished") for g in groups.values()),
    }
    assert queued == len(got)
    with sessions() as session:
        # the group that ended before any webhook existed is marked, not delivered
        assert session.get_one(RunGroup, old_group).notified_at == clock()
        unnotified = session.scalars(select(RunGroup).where(RunGroup.notified_at.is_(None)))
        assert list(unnotified) == []
    assert all(
        d.status == "pending" and d.next_attempt_at == clock() for d in _deliveries(sessions)
    )


def test_failures_are_retried_with_backoff_until_the_receiver_accepts(
    sessions: sessionmaker[Session],
    acct: OtherAccount,
    clock: FakeClock,
    receiver: Receiver,
) -> None:
    account, env = acct.account_id, acct.environment_id
    add_webhook(sessions, account, env, url=receiver.url, secret=SECRET, now=clock())
    add_finished_group(sessions, account, env, status="succeeded", ended=clock())
    receiver.fail_next = 2
    start = clock()

    dispatch.dispatch_once(sessions, box(), clock())
    [delivery] = _deliveries(sessions)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    assert delivery.last_error == "the receiver answered HTTP 500"
    assert delivery.next_attempt_at == start + timedelta(seconds=10)

    clock.advance(seconds=9)
    assert dispatch.dispatch_once(sessions, box(), clock()).sent == 0  # not due yet
    clock.advance(seconds=1)
    assert dispatch.dispatch_once(sessions, box(), clock()).sent == 1
    [delivery] = _deliveries(sessions)
    assert delivery.next_attempt_at == clock() + timedelta(seconds=30)

    clock.advance(seconds=30)
    dispatch.dispatch_once(sessions, box(), clock())
    [delivery] = _deliveries(sessions)
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("succeeded", 3, None)
    assert delivery.next_attempt_at is None and delivery.delivered_at == clock()
    attempts = _attempts(sessions, delivery.id)
    assert [(a.number, a.status_code) for a in attempts] == [(1, 500), (2, 500), (3, 200)]
    assert [a.attempted_at - start for a in attempts] == [
        timedelta(0),
        timedelta(seconds=10),
        timedelta(seconds=40),
    ]
    assert attempts[0].response_body == "nope"
    assert len(receiver.requests) == 3
    ids = {r.headers["x-headwater-delivery"] for r in receiver.requests}
    assert ids == {delivery.id}
    assert all(r.signature_valid(SECRET) for r in receiver.requests)


def test_delivery_fails_for_good_after_the_last_attempt(
    sessions: sessionmaker[Session],
    acct: OtherAccount,
    clock: FakeClock,
    receiver: Receiver,
) -> None:
    account, env = acct.account_id, acct.environment_id
    add_webhook(sessions, account, env, url=receiver.url, now=clock())
    add_finished_group(sessions, account, env, status="failed", ended=clock())
    receiver.fail_next = 100

    for wait in delivery_retry.BACKOFF:
        dispatch.dispatch_once(sessions, box(), clock())
        clock.advance(seconds=wait.total_seconds())
    dispatch.dispatch_once(sessions, box(), clock())

    [delivery] = _deliveries(sessions)
    assert delivery_retry.MAX_ATTEMPTS == 6
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 6, None)
    assert len(receiver.requests) == 6
    clock.advance(days=1)
    assert dispatch.dispatch_once(sessions, box(), clock()).sent == 0
    assert len(receiver.requests) == 6


def test_unreachable_receiver_records_the_error_and_logs_no_url(
    sessions: sessionmaker[Session],
    acct: OtherAccount,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    account, env = acct.account_id, acct.environment_id
    add_webhook(sessions, account, env, url=f"http://127.0.0.1:{port}/T0KEN-IN-PATH", now=clock())
    add_finished_group(sessions, account, env, status="succeeded", ended=clock())

    report = dispatch.dispatch_once(sessions, box(), clock())

    assert (report.sent, report.failed) == (1, 1)
    [delivery] = _deliveries(sessions)
    assert delivery.status == "pending" and delivery.last_status_code is None
    assert delivery.last_error is not None and "ConnectError" in delivery.last_error
    [attempt] = _attempts(sessions, delivery.id)
    assert attempt.error == delivery.last_error and attempt.status_code is None
    assert "webhook delivery" in caplog.text and "T0KEN-IN-PATH" not in caplog.text


def test_racing_dispatchers_queue_and_send_each_group_once(
    sessions: sessionmaker[Session],
    acct: OtherAccount,
    clock: FakeClock,
    receiver: Receiver,
) -> None:
    account, env = acct.account_id, acct.environment_id
    add_webhook(sessions, account, env, url=receiver.url, now=clock())
    groups = [
        add_finished_group(sessions, account, env, status="succeeded", ended=clock())
        for _ in range(4)
    ]
    # a pass that read the group before another pass queued it must not queue it again
    assert dispatch.queue_group(sessions, groups[0], clock()) == 1
    assert dispatch.queue_group(sessions, groups[0], clock()) is None

    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run_pass() -> None:
        try:
            barrier.wait(timeout=5)
            dispatch.dispatch_once(sessions, box(), clock())
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run_pass) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    deliveries = _deliveries(sessions)
    assert sorted(d.run_group_id or "" for d in deliveries) == sorted(groups)
    assert all(d.status == "succeeded" and d.attempts == 1 for d in deliveries)
    sent = sorted(r.json()["run_group"]["run_group_id"] for r in receiver.requests)
    assert sent == sorted(groups)


def test_an_interrupted_attempt_is_retried_after_its_lease(
    sessions: sessionmaker[Session],
    acct: OtherAccount,
    clock: FakeClock,
    receiver: Receiver,
) -> None:
    account, env = acct.account_id, acct.environment_id
    add_webhook(sessions, account, env, url=receiver.url, now=clock())
    add_finished_group(sessions, account, env, status="canceled", ended=clock())
    dispatch.queue_finished_groups(sessions, clock())
    [delivery] = _deliveries(sessions)
    with sessions() as session:  # a dispatcher claims the attempt, then dies
        assert dispatch.claim_attempt(session, delivery.id, 0, clock())
        assert not dispatch.claim_attempt(session, delivery.id, 0, clock())

    assert dispatch.dispatch_once(sessions, box(), clock()).sent == 0
    clock.advance(seconds=delivery_retry.CLAIM_LEASE.total_seconds())
    assert dispatch.dispatch_once(sessions, box(), clock()).succeeded == 1

    attempts = _attempts(sessions, delivery.id)
    assert [(a.number, a.status_code, a.error) for a in attempts] == [
        (1, None, delivery_retry.INTERRUPTED),
        (2, 200, None),
    ]
    assert len(receiver.requests) == 1


def test_the_secret_is_encrypted_at_rest(
    sessions: sessionmaker[Session], acct: OtherAccount, clock: FakeClock
) -> None:
    webhook_id = add_webhook(
        sessions,
        acct.account_id,
        acct.environment_id,
        url="https://example.com/hook",
        secret=SECRET,
        now=clock(),
    )
    with sessions() as session:
        stored = session.get_one(Webhook, webhook_id).secret
    assert SECRET not in stored
    assert box().decrypt(stored, purpose=dispatch.SECRET_PURPOSE) == SECRET


def test_the_dispatcher_thread_runs_passes(
    sessions: sessionmaker[Session],
    acct: OtherAccount,
    clock: FakeClock,
    receiver: Receiver,
) -> None:
    account, env = acct.account_id, acct.environment_id
    add_webhook(sessions, account, env, url=receiver.url, now=clock())
    group_id = add_finished_group(sessions, account, env, status="succeeded", ended=clock())
    dispatcher = dispatch.WebhookDispatcher(sessions, box(), clock, interval=0.05)
    dispatcher.start()
    try:
        deadline = time.monotonic() + 10
        while not receiver.requests and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        dispatcher.stop()
    assert [b["run_group"]["run_group_id"] for b in receiver.bodies()] == [group_id]


def test_every_api_and_scheduler_process_runs_a_dispatcher(
    settings: Settings, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    for with_scheduler in (True, False):
        services = build_runtime(settings, sessions, clock, with_scheduler=with_scheduler).services
        assert sum(isinstance(s, dispatch.WebhookDispatcher) for s in services) == 1


def test_production_mode_refuses_private_receivers_at_save_and_at_send(
    sessions: sessionmaker[Session],
    acct: OtherAccount,
    clock: FakeClock,
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    policy = OutboundPolicy.from_settings(Settings(mode="production", data_dir=tmp_path))
    body = WebhookCreate(name="x", url=receiver.url, events=["run_group.finished"])
    scope = EnvScope(acct.account_id, acct.environment_id)
    with sessions() as session, pytest.raises(BlockedDestination):
        webhook_service.create_webhook(session, box(), scope, Actor.system(), body, clock(), policy)
    # saved before the deployment went to production mode: refused at every attempt
    add_webhook(sessions, acct.account_id, acct.environment_id, url=receiver.url, now=clock())
    add_finished_group(
        sessions, acct.account_id, acct.environment_id, status="succeeded", ended=clock()
    )

    report = dispatch.dispatch_once(sessions, box(), clock(), policy)

    assert (report.sent, report.failed) == (1, 1)
    assert receiver.requests == []
    [delivery] = _deliveries(sessions)
    assert delivery.status == "pending" and "blocked" in (delivery.last_error or "")


def test_disabling_mid_attempt_keeps_the_attempt_result_and_the_failure(
    sessions: sessionmaker[Session], acct: OtherAccount, clock: FakeClock
) -> None:
    scope = EnvScope(acct.account_id, acct.environment_id)
    hook = add_webhook(
        sessions, acct.account_id, acct.environment_id, url="https://example.com/h", now=clock()
    )
    add_finished_group(
        sessions, acct.account_id, acct.environment_id, status="failed", ended=clock()
    )
    dispatch.queue_finished_groups(sessions, clock())
    [delivery] = _deliveries(sessions)
    with sessions() as session:
        assert dispatch.claim_attempt(session, delivery.id, 0, clock())
        webhook_service.update_webhook(
            session,
            box(),
            scope,
            Actor.system(),
            hook,
            WebhookUpdate(is_enabled=False),
            clock(),
        )
        late = SendResult(200, None, 12, "ok")
        assert dispatch.record_result(session, delivery.id, 1, late, clock()) is None
    [after] = _deliveries(sessions)
    assert (after.status, after.last_error) == ("failed", webhook_service.DISABLED_ERROR)
    [attempt] = _attempts(sessions, delivery.id)
    assert (attempt.status_code, attempt.error, attempt.duration_ms) == (200, None, 12)
