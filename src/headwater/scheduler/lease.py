"""The scheduler lease: one leading scheduler per metadata database, taken over when it dies.

Every scheduler process calls ``SchedulerLease.hold()`` once per tick. The holder renews the
lease (``expires_at = now + lease``); any other process gets it only once it has expired, by a
conditional UPDATE (or the first INSERT) that at most one process can win. A stopped scheduler
gives the lease up so another takes over at its next tick; a killed one is replaced once its
lease runs out, i.e. within ``scheduler_lease_seconds`` plus one tick.

The lease keeps the followers idle; it is not what makes firing exactly-once. That is the
compare-and-set of ``next_fire_at`` in ``service.due_rivers``, which still holds if a leader
paused past its lease (a long GC pause, a frozen VM) wakes up and ticks once more.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import case, literal, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from headwater.store.models.leases import Lease

logger = logging.getLogger(__name__)

SCHEDULER_LEASE = "scheduler"


def holder_name() -> str:
    """``host:pid:nonce``: unique per process even when a pid is reused."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class SchedulerLease:
    """This process's view of the scheduler lease."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Callable[[], datetime],
        *,
        seconds: float,
        holder: str | None = None,
        name: str = SCHEDULER_LEASE,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._duration = timedelta(seconds=seconds)
        self._name = name
        self.holder = holder or holder_name()
        self.leading = False

    def hold(self) -> bool:
        """Renew or take the lease; whether this process leads until the next call."""
        now = self._clock()
        with self._sessions() as session:
            won = self._renew_or_take(session, now) or self._create(session, now)
        if won and not self.leading:
            logger.info("scheduler %s leads now (lease %s)", self.holder, self._name)
        elif not won and self.leading:
            logger.warning("scheduler %s lost the lease %s", self.holder, self._name)
        self.leading = won
        return won

    def release(self) -> None:
        """Give the lease up (a clean stop): another scheduler takes over at its next tick."""
        if not self.leading:
            return
        with self._sessions() as session:
            session.execute(
                update(Lease)
                .where(Lease.name == self._name, Lease.holder == self.holder)
                .values(expires_at=self._clock() - timedelta(seconds=1))
            )
            session.commit()
        self.leading = False
        logger.info("scheduler %s released the lease %s", self.holder, self._name)

    def _renew_or_take(self, session: Session, now: datetime) -> bool:
        result = session.execute(
            update(Lease)
            .where(
                Lease.name == self._name,
                or_(Lease.holder == self.holder, Lease.expires_at < now),
            )
            .values(
                holder=self.holder,
                acquired_at=case(
                    (Lease.holder == self.holder, Lease.acquired_at),
                    else_=literal(now, type_=Lease.acquired_at.type),
                ),
                expires_at=now + self._duration,
            )
            .execution_options(synchronize_session=False)
        )
        session.commit()
        return getattr(result, "rowcount", 0) == 1

    def _create(self, session: Session, now: datetime) -> bool:
        """The first scheduler ever: insert the row; a concurrent insert loses on the key."""
        if session.get(Lease, self._name) is not None:
            return False
        session.add(
            Lease(
                name=self._name,
                holder=self.holder,
                acquired_at=now,
                expires_at=now + self._duration,
            )
        )
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            return False
        return True
