"""The scheduler with an injectable clock: fire once per due time, once after downtime, and
exactly once across two schedulers sharing one metadata database."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from headwater.runner.context import RunnerContext
from headwater.scheduler.service import next_fire_after, tick
from headwater.services.bootstrap import BootstrapResult
from headwater.settings import Settings
from headwater.store.engine import make_engine, make_session_factory
from headwater.store.models.accounts import Account
from headwater.store.models.rivers import River
from headwater.store.models.runs import RunGroup
from tests.conftest import FakeClock


def _river(
    sessions: sessionmaker[Session],
    boot: BootstrapResult,
    name: str,
    cron: str | None = "0 * * * *",
    *,
    status: str = "active",
    enabled: bool = True,
) -> str:
    with sessions() as session:
        river = River(
            account_id=boot.account_id,
            environment_id=boot.environment_id,
            name=name,
            river_type="logic",
            status=status,
            definition={"name": name, "type": "logic"},
            cron_expression=cron,
            schedule_enabled=enabled,
        )
        session.add(river)
        session.commit()
        return river.id


def _context(
    settings: Settings, sessions: sessionmaker[Session], clock: FakeClock
) -> tuple[RunnerContext, list[str]]:
    submitted: list[str] = []
    context = RunnerContext(
        settings=settings, sessions=sessions, clock=clock, submit=submitted.append
    )
    return context, submitted


def _groups(sessions: sessionmaker[Session], river_id: str) -> list[RunGroup]:
    with sessions() as session:
        return list(session.scalars(select(RunGroup).where(RunGroup.river_id == river_id)))


def _settle_all(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        for group in session.scalars(select(RunGroup).where(RunGroup.status == "pending")):
            group.status = "succeeded"
            group.in_flight_river_id = None
        session.commit()


def test_next_fire_is_utc_cron() -> None:
    assert next_fire_after("15 3 * * *", datetime(2026, 11, 1, 3, 15, tzinfo=UTC)) == datetime(
        2026, 11, 2, 3, 15, tzinfo=UTC
    )


def test_fires_once_per_due_time_and_once_after_downtime(
    settings: Settings,
    sessions: sessionmaker[Session],
    bootstrap: BootstrapResult,
    clock: FakeClock,
) -> None:
    river_id = _river(sessions, bootstrap, "hourly")
    context, submitted = _context(settings, sessions, clock)
    assert tick(context) == []  # first sight: records 13:00 as the next fire time
    clock.advance(minutes=59)
    assert tick(context) == []
    clock.advance(minutes=1)
    fired = tick(context)
    assert len(fired) == 1 and submitted == fired
    assert tick(context) == []  # same due time never fires twice
    _settle_all(sessions)
    clock.advance(hours=5, minutes=30)  # downtime across five due times
    assert len(tick(context)) == 1
    assert tick(context) == []
    groups = _groups(sessions, river_id)
    assert len(groups) == 2 and {g.trigger for g in groups} == {"scheduler"}


def test_only_active_rivers_with_enabled_schedules_fire(
    settings: Settings,
    sessions: sessionmaker[Session],
    bootstrap: BootstrapResult,
    clock: FakeClock,
) -> None:
    active = _river(sessions, bootstrap, "active")
    disabled = _river(sessions, bootstrap, "disabled", status="disabled")
    unscheduled = _river(sessions, bootstrap, "off", enabled=False)
    context, _ = _context(settings, sessions, clock)
    tick(context)
    clock.advance(hours=1)
    tick(context)
    assert len(_groups(sessions, active)) == 1
    assert _groups(sessions, disabled) == [] and _groups(sessions, unscheduled) == []


def test_a_disabled_accounts_schedules_pause_and_resume(
    settings: Settings,
    sessions: sessionmaker[Session],
    bootstrap: BootstrapResult,
    clock: FakeClock,
) -> None:
    river_id = _river(sessions, bootstrap, "tenant hourly")
    context, _ = _context(settings, sessions, clock)
    tick(context)
    with sessions() as session:
        session.get_one(Account, bootstrap.account_id).disabled_at = clock()
        session.commit()
    clock.advance(hours=1)
    assert tick(context) == []
    with sessions() as session:
        session.get_one(Account, bootstrap.account_id).disabled_at = None
        session.commit()
    assert len(tick(context)) == 1  # the due time kept waiting, it fires once enabled
    assert len(_groups(sessions, river_id)) == 1


def test_changed_cron_is_rescheduled_from_now(
    settings: Settings,
    sessions: sessionmaker[Session],
    bootstrap: BootstrapResult,
    clock: FakeClock,
) -> None:
    river_id = _river(sessions, bootstrap, "changing", cron="0 0 * * *")
    context, _ = _context(settings, sessions, clock)
    tick(context)
    with sessions() as session:
        session.get_one(River, river_id).cron_expression = "*/5 * * * *"
        session.commit()
    tick(context)  # notices the change: next fire 12:05
    clock.advance(minutes=5)
    assert len(tick(context)) == 1


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_two_schedulers_on_one_postgres_fire_each_due_time_once(
    settings: Settings,
    sessions: sessionmaker[Session],
    engine: Engine,
    bootstrap: BootstrapResult,
    clock: FakeClock,
) -> None:
    river_ids = [_river(sessions, bootstrap, f"river {i}") for i in range(20)]
    other_engine = make_engine(settings.resolved_database_url())
    try:
        first, _ = _context(settings, sessions, clock)
        second, _ = _context(settings, make_session_factory(other_engine), clock)
        tick(first)
        clock.advance(hours=1)
        results: list[list[str]] = []
        barrier = threading.Barrier(2)

        def run(context: RunnerContext) -> None:
            barrier.wait()
            for _ in range(3):
                results.append(tick(context))

        threads = [threading.Thread(target=run, args=(c,)) for c in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        fired = [group for batch in results for group in batch]
        assert len(fired) == len(river_ids)
        with sessions() as session:
            counts = dict(
                session.execute(
                    select(RunGroup.river_id, func.count()).group_by(RunGroup.river_id)
                ).all()
            )
        assert counts == dict.fromkeys(river_ids, 1)
    finally:
        other_engine.dispose()
