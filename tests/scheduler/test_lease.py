"""The scheduler lease on both metadata backends: one holder, renewal, expiry and release."""

from __future__ import annotations

import threading

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from headwater.scheduler.lease import SchedulerLease
from headwater.settings import Settings
from headwater.store.engine import make_engine, make_session_factory
from headwater.store.models.leases import Lease
from tests.conftest import FakeClock


def _lease(sessions: sessionmaker[Session], clock: FakeClock, holder: str) -> SchedulerLease:
    return SchedulerLease(sessions, clock, seconds=15, holder=holder)


def test_one_holder_renews_and_another_takes_over_after_expiry(
    sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    first, second = _lease(sessions, clock, "a"), _lease(sessions, clock, "b")
    assert first.hold() and not second.hold()
    for _ in range(5):  # renewing every 10 s keeps it for longer than one lease
        clock.advance(seconds=10)
        assert first.hold() and not second.hold()
    clock.advance(seconds=15)  # exactly at expiry: still the holder's
    assert not second.hold()
    clock.advance(seconds=1)  # the holder died 16 s ago
    assert second.hold() and second.leading
    assert not first.hold() and not first.leading  # a paused ex-leader learns it lost
    with sessions() as session:
        row = session.get_one(Lease, "scheduler")
        assert row.holder == "b" and row.acquired_at == clock()


def test_a_released_lease_is_taken_at_the_next_attempt(
    sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    first, second = _lease(sessions, clock, "a"), _lease(sessions, clock, "b")
    assert first.hold()
    first.release()
    assert not first.leading
    assert second.hold()
    second.release()
    second.release()  # twice is harmless
    assert first.hold()


def _contend(lease: SchedulerLease, barrier: threading.Barrier, won: list[str]) -> None:
    barrier.wait()
    if lease.hold():
        won.append(lease.holder)


def test_racing_processes_elect_exactly_one(
    settings: Settings, engine: Engine, clock: FakeClock
) -> None:
    """Eight contenders with their own connection pools try at the same instant, on an empty
    table (the INSERT race) and again after the lease expired (the UPDATE race)."""
    engines = [make_engine(settings.resolved_database_url()) for _ in range(8)]
    leases = [_lease(make_session_factory(e), clock, f"p{i}") for i, e in enumerate(engines)]
    try:
        for _round in range(2):
            barrier = threading.Barrier(len(leases))
            won: list[str] = []

            threads = [
                threading.Thread(target=_contend, args=(lease, barrier, won)) for lease in leases
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
            assert len(won) == 1, won
            clock.advance(seconds=20)
    finally:
        for one in engines:
            one.dispose()
