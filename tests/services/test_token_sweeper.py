"""The sweeper: one pass is ``sweep_expired_tokens(session, now)``; the thread calls it."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from headwater.runtime import build_runtime
from headwater.services.bootstrap import BootstrapResult
from headwater.services.token_sweeper import TokenSweeper
from headwater.services.tokens import sweep_expired_tokens
from headwater.settings import Settings
from headwater.store.models import ApiToken, AuditEvent
from tests.api.tokenhelp import mint
from tests.conftest import FakeClock


def _expire(sessions: sessionmaker[Session], token_id: str, at: datetime) -> None:
    with sessions() as session:
        session.get_one(ApiToken, token_id).expires_at = at
        session.commit()


def test_sweep_deletes_only_live_tokens_past_their_expiry(
    sessions: sessionmaker[Session], bootstrap: BootstrapResult, clock: FakeClock
) -> None:
    due = mint(sessions, bootstrap.account_id, created_by=bootstrap.admin_id, name="due")
    later = mint(sessions, bootstrap.account_id, created_by=bootstrap.admin_id, name="later")
    forever = mint(sessions, bootstrap.account_id, created_by=bootstrap.admin_id, name="forever")
    _expire(sessions, due.id, clock.now)
    _expire(sessions, later.id, clock.now + timedelta(seconds=1))
    with sessions() as session:
        assert sweep_expired_tokens(session, clock.now) == 1
    with sessions() as session:
        rows = {t.name: t for t in session.scalars(select(ApiToken))}
        assert rows["due"].deleted_at == clock.now and rows["due"].deletion_reason == "expired"
        assert rows["later"].deleted_at is None and rows["forever"].deleted_at is None
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "token.expired")
        ).one()
        assert (event.entity_id, event.actor_type, event.occurred_at) == (
            due.id,
            "system",
            clock.now,
        )
        assert event.details["name"] == "due"
    with sessions() as session:
        assert sweep_expired_tokens(session, clock.now + timedelta(days=1)) == 1
    assert forever.id


def test_the_thread_calls_the_sweep_with_the_clock_and_stops(
    sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    calls: list[datetime] = []
    called = threading.Event()

    def fake_sweep(session: Session, now: datetime) -> int:
        assert isinstance(session, Session)
        calls.append(now)
        called.set()
        return 0

    sweeper = TokenSweeper(sessions, clock, interval=0.01, sweep=fake_sweep)
    sweeper.start()
    try:
        assert called.wait(5), "the sweeper thread never ran a pass"
    finally:
        sweeper.stop()
    assert calls and set(calls) == {clock.now}
    count = len(calls)
    threading.Event().wait(0.05)
    assert len(calls) == count  # stopped means stopped


def test_the_thread_deletes_expired_tokens_and_survives_errors(
    sessions: sessionmaker[Session], bootstrap: BootstrapResult, clock: FakeClock
) -> None:
    token = mint(sessions, bootstrap.account_id, created_by=bootstrap.admin_id)
    _expire(sessions, token.id, clock.now - timedelta(minutes=1))
    passes: list[int] = []
    done = threading.Event()

    def flaky_then_real(session: Session, now: datetime) -> int:
        passes.append(1)
        if len(passes) == 1:
            raise RuntimeError("database hiccup")
        deleted = sweep_expired_tokens(session, now)
        done.set()
        return deleted

    sweeper = TokenSweeper(sessions, clock, interval=0.01, sweep=flaky_then_real)
    sweeper.start()
    try:
        assert done.wait(5)
    finally:
        sweeper.stop()
    with sessions() as session:
        assert session.get_one(ApiToken, token.id).deleted_at == clock.now


def test_headwater_up_runs_the_sweeper(
    settings: Settings, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    services = build_runtime(settings, sessions, clock, with_scheduler=True).services
    assert any(isinstance(s, TokenSweeper) for s in services)
    api_only = build_runtime(settings, sessions, clock, with_scheduler=False).services
    assert not any(isinstance(s, TokenSweeper) for s in api_only)
