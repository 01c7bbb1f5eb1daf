"""The reaper's re-queue of pending run groups: once per ``requeue_after``, not every pass."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from headwater.runner.context import RunnerContext
from headwater.runner.reaper import Reaper
from headwater.services.bootstrap import BootstrapResult
from headwater.settings import Settings
from headwater.store.models.runs import RunGroup
from tests.conftest import FakeClock

REQUEUE_AFTER = timedelta(seconds=60)


def _pending(sessions: sessionmaker[Session], boot: BootstrapResult, clock: FakeClock) -> str:
    with sessions() as session:
        group = RunGroup(
            account_id=boot.account_id,
            environment_id=boot.environment_id,
            river_id="f" * 24,
            river_type="src_to_trgt",
            trigger="api",
            status="pending",
            start_time=clock(),
        )
        session.add(group)
        session.commit()
        return group.id


def test_a_waiting_group_is_sent_again_once_per_requeue_window(
    settings: Settings,
    sessions: sessionmaker[Session],
    bootstrap: BootstrapResult,
    clock: FakeClock,
) -> None:
    sent: list[str] = []
    reaper = Reaper(
        RunnerContext(settings, sessions, clock, submit=sent.append),
        requeue_after=REQUEUE_AFTER,
    )
    group_id = _pending(sessions, bootstrap, clock)
    reaper.reap_once()
    assert sent == []  # not stale yet
    for _ in range(8):  # a pass every 20 s, as with requeue_after 60 s
        clock.advance(seconds=20)
        reaper.reap_once()
    # stale after 60 s: sent at 80 s, then at the first pass more than 60 s later (160 s);
    # the five passes in between leave the group alone
    assert sent == [group_id, group_id]

    with sessions() as session:
        session.get_one(RunGroup, group_id).status = "running"
        session.commit()
    clock.advance(seconds=120)
    reaper.reap_once()
    assert sent == [group_id, group_id]
    assert reaper._resent == {}  # forgotten once no longer pending
