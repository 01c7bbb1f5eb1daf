"""The scheduler: stored next fire times, one firing per due time across any number of processes.

Each tick, on PostgreSQL, takes a transaction-level advisory lock so only one scheduler scans at
a time; on every backend a compare-and-set UPDATE of ``next_fire_at`` decides who fires, so two
schedulers can never fire the same due time. After downtime the next fire time is computed from
now: a missed schedule fires once, not once per missed tick.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from croniter import croniter
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from headwater.runner.context import RunnerContext
from headwater.services.triggering import start_river
from headwater.store.models.accounts import Account
from headwater.store.models.rivers import River
from headwater.store.models.runs import ScheduleState

logger = logging.getLogger(__name__)

ADVISORY_LOCK_KEY = 0x48_57_53_43  # "HWSC"
TICK_SECONDS = 5.0


def next_fire_after(cron_expression: str, moment: datetime) -> datetime:
    fire: datetime = croniter(cron_expression, moment).get_next(datetime)
    return fire


def _try_lock(session: Session) -> bool:
    if session.get_bind().dialect.name != "postgresql":
        return True
    acquired = session.execute(
        text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY}
    )
    return bool(acquired.scalar_one())


def due_rivers(session: Session, now: datetime) -> list[str]:
    """Claim every due river (advancing its next fire time) and return their ids."""
    if not _try_lock(session):
        session.rollback()
        return []
    rivers = session.scalars(
        select(River).where(
            River.status == "active",
            River.schedule_enabled.is_(True),
            River.cron_expression.is_not(None),
            # A disabled account's schedules pause with it (its tokens and logins stop too).
            River.account_id.in_(select(Account.id).where(Account.disabled_at.is_(None))),
        )
    ).all()
    states = {
        s.river_id: s
        for s in session.scalars(
            select(ScheduleState).where(ScheduleState.river_id.in_([r.id for r in rivers]))
        )
    }
    claimed: list[str] = []
    for river in rivers:
        cron = str(river.cron_expression)
        state = states.get(river.id)
        if state is None or state.cron_expression != cron:
            if state is None:
                session.add(
                    ScheduleState(
                        river_id=river.id,
                        cron_expression=cron,
                        next_fire_at=next_fire_after(cron, now),
                    )
                )
            else:
                state.cron_expression = cron
                state.next_fire_at = next_fire_after(cron, now)
            continue
        if state.next_fire_at > now:
            continue
        won = session.execute(
            update(ScheduleState)
            .where(
                ScheduleState.river_id == river.id, ScheduleState.next_fire_at == state.next_fire_at
            )
            .values(next_fire_at=next_fire_after(cron, now), last_fired_at=now)
            .execution_options(synchronize_session=False)
        )
        if getattr(won, "rowcount", 0) == 1:
            claimed.append(river.id)
    session.commit()
    return claimed


def tick(context: RunnerContext) -> list[str]:
    """One scheduler pass; returns the run group ids it started."""
    now = context.clock()
    with context.sessions() as session:
        river_ids = due_rivers(session, now)
    started: list[str] = []
    for river_id in river_ids:
        with context.sessions() as session:
            river = session.get(River, river_id)
            if river is None:
                continue
            try:
                group = start_river(
                    session, river, trigger="scheduler", now=now, submit=context.submit
                )
            except Exception:
                logger.exception("scheduled run of river %s could not start", river_id)
                continue
            started.append(group.id)
    return started


class Scheduler:
    """Runs ``tick`` every few seconds in a thread (inside `headwater up` or `scheduler`)."""

    def __init__(self, context: RunnerContext, interval: float = TICK_SECONDS) -> None:
        self._context = context
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                tick(self._context)
            except Exception:
                logger.warning("scheduler tick failed", exc_info=True)

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="headwater-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
