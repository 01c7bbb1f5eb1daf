"""The scheduler: stored next fire times, one firing per due time across any number of processes.

Only the scheduler holding the lease (``lease.py``) ticks. Each tick, on PostgreSQL, takes a
transaction-level advisory lock so only one scheduler scans at a time; on every backend a
compare-and-set UPDATE of ``next_fire_at``, committed together with the run group it starts,
decides who fires, so two schedulers can never fire the same due time and a killed one cannot
lose one. After downtime the next fire time is computed from
now: a missed schedule fires once, not once per missed tick.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from headwater.runner.context import RunnerContext
from headwater.scheduler.lease import SchedulerLease
from headwater.schemas import cron as cron_times
from headwater.services import audit
from headwater.services.triggering import start_river
from headwater.store.models.accounts import Account
from headwater.store.models.rivers import River
from headwater.store.models.runs import ScheduleState

logger = logging.getLogger(__name__)

ADVISORY_LOCK_KEY = 0x48_57_53_43  # "HWSC"


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


def due_rivers(session: Session, now: datetime) -> list[tuple[str, datetime]]:
    """Every due river with the due time it is at: ``(river id, next_fire_at)``.

    Also keeps the schedule states: a river seen for the first time, or whose cron changed,
    gets its next fire time computed from now. Each river is handled in its own savepoint: a
    river whose schedule cannot be computed (a cron saved before crons were checked,
    ``0 0 31 2 *``) or whose row fails for any other reason is recorded against that river (see
    ``_schedule_failed``) and the others are still returned. Firing is ``fire``'s job.
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
    due: list[tuple[str, datetime]] = []
    for river in rivers:
        try:
            with session.begin_nested():
                due_at = _due_at(session, river, states.get(river.id), now)
                if due_at is not None:
                    due.append((river.id, due_at))
        except UnschedulableCron as exc:
            logger.error("river %s: %s", river.id, exc)
            _record_quietly(session, river, now, str(exc))
        except Exception:
            logger.exception("river %s: scheduling failed; retrying next tick", river.id)
    session.commit()
    return due


def _due_at(
    session: Session, river: River, state: ScheduleState | None, now: datetime
) -> datetime | None:
    """The due time ``river`` is at now, or None (not due, or just (re)scheduled)."""
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
        return None
    if state.next_fire_at is None or state.next_fire_at > now:
        return None  # None: recorded as failed for this cron; a new cron is recomputed
    return state.next_fire_at


def _claim(session: Session, river: River, due_at: datetime, now: datetime) -> bool:
    """Advance ``river``'s next fire time past ``due_at``, uncommitted; whether this process
    won the compare-and-set (another scheduler, or an earlier tick, may have fired it)."""
    won = session.execute(
        update(ScheduleState)
        .where(ScheduleState.river_id == river.id, ScheduleState.next_fire_at == due_at)
        .values(
            next_fire_at=next_fire_after(str(river.cron_expression), now, river.schedule_timezone),
            last_fired_at=now,
        )
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

    Each due river is claimed and its run group recorded in one transaction, so a scheduler
    killed between the two leaves neither (the next leader fires the due time) nor a claim
    without its run. A river that cannot start (deleted meanwhile, disabled, a database error)
    is logged with its id, its due time is consumed, and the other due rivers still start.
    """
    now = context.clock()
    with context.sessions() as session:
        due = due_rivers(session, now)
    started: list[str] = []
    for river_id, due_at in due:
        try:
            group_id = _fire(context, river_id, due_at, now)
        except Exception:
            logger.exception("scheduled run of river %s could not start", river_id)
            _consume_quietly(context, river_id, due_at, now)
            continue
        if group_id is not None:
            started.append(group_id)
    return started


def _fire(context: RunnerContext, river_id: str, due_at: datetime, now: datetime) -> str | None:
    with context.sessions() as session:
        river = session.get(River, river_id)
        if river is None or not _claim(session, river, due_at, now):
            session.rollback()
            return None
        # start_river commits the claim with the run group, then hands the group over
        group = start_river(session, river, trigger="scheduler", now=now, submit=context.submit)
        return group.id


def _consume_quietly(
    context: RunnerContext, river_id: str, due_at: datetime, now: datetime
) -> None:
    """Advance past a due time whose run could not start, so it is not retried every tick."""
    try:
        with context.sessions() as session:
            river = session.get(River, river_id)
            if river is not None and _claim(session, river, due_at, now):
                session.commit()
    except Exception:
        logger.exception("river %s: could not advance its schedule", river_id)


class Scheduler:
    """Runs ``tick`` every few seconds in a thread (inside `headwater up` or `scheduler`).

    Only the process holding the scheduler lease ticks (``lease.py``); the others renew their
    claim attempt each interval and take over when the leader's lease runs out.
    """

    def __init__(self, context: RunnerContext, interval: float | None = None) -> None:
        settings = context.settings
        self._context = context
        self._interval = settings.scheduler_tick_seconds if interval is None else interval
        self.lease = SchedulerLease(
            context.sessions, context.clock, seconds=settings.scheduler_lease_seconds
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if self.lease.hold():
                    tick(self._context)
            except Exception:
                logger.warning("scheduler tick failed", exc_info=True)
            self._stop.wait(self._interval)

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="headwater-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        try:
            self.lease.release()
        except Exception:
            logger.warning("could not release the scheduler lease", exc_info=True)
