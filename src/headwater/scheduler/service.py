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

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from headwater.runner.context import RunnerContext
from headwater.schemas import cron as cron_times
from headwater.services import audit
from headwater.services.triggering import start_river
from headwater.store.models.accounts import Account
from headwater.store.models.rivers import River
from headwater.store.models.runs import ScheduleState

logger = logging.getLogger(__name__)

ADVISORY_LOCK_KEY = 0x48_57_53_43  # "HWSC"
TICK_SECONDS = 5.0


class UnschedulableCron(Exception):
    """A stored cron expression has no next fire time (it never fires, or is malformed)."""


def next_fire_after(cron_expression: str, moment: datetime, zone: str | None = None) -> datetime:
    """The next fire time after ``moment`` in ``zone`` (None: UTC), from ``schemas.cron``: the
    same function as the console's "next five runs" preview."""
    try:
        return cron_times.next_fire_after(cron_expression, moment, zone or cron_times.DEFAULT_ZONE)
    except (ValueError, KeyError, OverflowError) as exc:  # croniter's errors are ValueErrors
        raise UnschedulableCron(
            f"schedule {cron_expression!r} cannot fire: {type(exc).__name__}: {exc}"
        ) from exc


def _try_lock(session: Session) -> bool:
    if session.get_bind().dialect.name != "postgresql":
        return True
    acquired = session.execute(
        text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY}
    )
    return bool(acquired.scalar_one())


def due_rivers(session: Session, now: datetime) -> list[str]:
    """Claim every due river (advancing its next fire time) and return their ids.

    Each river is handled in its own savepoint: a river whose schedule cannot be computed (a
    cron saved before crons were checked, ``0 0 31 2 *``) or whose row fails for any other
    reason is recorded against that river (see ``_schedule_failed``) and the others still fire
    in the same tick.
    """
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
        try:
            with session.begin_nested():
                if _claim(session, river, states.get(river.id), now):
                    claimed.append(river.id)
        except UnschedulableCron as exc:
            logger.error("river %s: %s", river.id, exc)
            _record_quietly(session, river, now, str(exc))
        except Exception:
            logger.exception("river %s: scheduling failed; retrying next tick", river.id)
    session.commit()
    return claimed


def _claim(session: Session, river: River, state: ScheduleState | None, now: datetime) -> bool:
    """Whether this scheduler fires ``river`` now (it won the compare-and-set)."""
    cron, zone = str(river.cron_expression), river.schedule_timezone
    if state is None or state.cron_expression != cron or state.timezone != zone:
        fire = next_fire_after(cron, now, zone)
        if state is None:
            state = ScheduleState(river_id=river.id, cron_expression=cron, timezone=zone)
            session.add(state)
        state.cron_expression = cron
        state.timezone = zone
        state.next_fire_at = fire
        state.error = None
        session.flush()
        return False
    if state.next_fire_at is None or state.next_fire_at > now:
        return False  # None: recorded as failed for this cron; a new cron is recomputed
    won = session.execute(
        update(ScheduleState)
        .where(ScheduleState.river_id == river.id, ScheduleState.next_fire_at == state.next_fire_at)
        .values(next_fire_at=next_fire_after(cron, now, zone), last_fired_at=now)
        .execution_options(synchronize_session=False)
    )
    return getattr(won, "rowcount", 0) == 1


def _record_quietly(session: Session, river: River, now: datetime, message: str) -> None:
    try:
        with session.begin_nested():
            _schedule_failed(session, river, now, message)
    except Exception:
        logger.exception("river %s: could not record its schedule failure", river.id)


def _schedule_failed(session: Session, river: River, now: datetime, message: str) -> None:
    """Record, once per cron expression, that ``river``'s schedule cannot fire.

    The river's schedule state keeps the cron with no next fire time and the error (so later
    ticks skip it quietly until the schedule is changed), and an audit event
    ``river.schedule_failed`` (result ``failure``) tells users which river and why.
    """
    cron = str(river.cron_expression)
    message = message[:1000]
    state = session.get(ScheduleState, river.id)
    zone = river.schedule_timezone
    if (
        state is not None
        and (state.cron_expression, state.timezone) == (cron, zone)
        and state.next_fire_at is None
    ):
        return
    if state is None:
        state = ScheduleState(river_id=river.id, cron_expression=cron)
        session.add(state)
    state.cron_expression = cron
    state.timezone = zone
    state.next_fire_at = None
    state.error = message
    audit.record(
        session,
        account_id=river.account_id,
        environment_id=river.environment_id,
        actor=audit.Actor.system(),
        action="river.schedule_failed",
        entity_type="river",
        entity_id=river.id,
        result="failure",
        details={"cron_expression": cron, "error": message},
        occurred_at=now,
    )
    session.flush()


def tick(context: RunnerContext) -> list[str]:
    """One scheduler pass; returns the run group ids it started.

    A river that cannot start (deleted meanwhile, disabled, a database error) is logged with
    its id and the other due rivers still start.
    """
    now = context.clock()
    with context.sessions() as session:
        river_ids = due_rivers(session, now)
    started: list[str] = []
    for river_id in river_ids:
        try:
            with context.sessions() as session:
                river = session.get(River, river_id)
                if river is None:
                    continue
                group = start_river(
                    session, river, trigger="scheduler", now=now, submit=context.submit
                )
                started.append(group.id)
        except Exception:
            logger.exception("scheduled run of river %s could not start", river_id)
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
