"""A cron that never fires (saved before crons were checked) stops only its own river: the
scheduler records the failure against that river and every other river still fires."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from headwater.scheduler.service import tick
from headwater.services.bootstrap import BootstrapResult
from headwater.settings import Settings
from headwater.store.models import AuditEvent
from headwater.store.models.rivers import River
from headwater.store.models.runs import ScheduleState
from tests.conftest import FakeClock
from tests.scheduler.test_scheduler import _context, _groups, _river, _settle_all


def _failures(sessions: sessionmaker[Session], river_id: str) -> list[AuditEvent]:
    with sessions() as session:
        return list(
            session.scalars(
                select(AuditEvent).where(
                    AuditEvent.action == "river.schedule_failed", AuditEvent.entity_id == river_id
                )
            )
        )


def test_impossible_cron_next_to_a_good_one_fires_the_good_one(
    settings: Settings,
    sessions: sessionmaker[Session],
    bootstrap: BootstrapResult,
    clock: FakeClock,
) -> None:
    # Rows as the API saved them before the fix: 31 February, and a malformed expression.
    bad = _river(sessions, bootstrap, "feb 31", cron="0 0 31 2 *")
    garbage = _river(sessions, bootstrap, "garbage", cron="61 * * * *")
    good = _river(sessions, bootstrap, "hourly", cron="0 * * * *")
    context, submitted = _context(settings, sessions, clock)

    assert tick(context) == []  # first sight: next fire times recorded, failures recorded
    clock.advance(hours=1)
    fired = tick(context)
    assert len(fired) == 1 and submitted == fired
    assert len(_groups(sessions, good)) == 1
    assert _groups(sessions, bad) == [] and _groups(sessions, garbage) == []

    # Recorded against each bad river, visibly and once (not once per tick).
    _settle_all(sessions)
    clock.advance(hours=1)
    assert len(tick(context)) == 1
    for river_id, cron in ((bad, "0 0 31 2 *"), (garbage, "61 * * * *")):
        events = _failures(sessions, river_id)
        assert len(events) == 1, events
        assert events[0].result == "failure" and events[0].details["cron_expression"] == cron
        assert events[0].environment_id == bootstrap.environment_id
        with sessions() as session:
            state = session.get_one(ScheduleState, river_id)
            assert state.next_fire_at is None and state.error and cron in state.error
    assert _failures(sessions, good) == []

    # Fixing the schedule clears the failure and the river fires again.
    with sessions() as session:
        session.get_one(River, bad).cron_expression = "30 * * * *"
        session.commit()
    tick(context)
    clock.advance(minutes=30)
    assert len(tick(context)) == 1
    assert len(_groups(sessions, bad)) == 1
    with sessions() as session:
        assert session.get_one(ScheduleState, bad).error is None
