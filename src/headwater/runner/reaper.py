"""The reaper: fails runs whose worker died, and re-queues groups nobody picked up.

Runs inside ``headwater up`` and ``headwater scheduler``; several reapers are harmless (each
transition is conditional) so any number of processes may run one.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from sqlalchemy import select

from headwater.runner.context import RunnerContext
from headwater.services import runs as run_service
from headwater.store.models.runs import RunGroup

logger = logging.getLogger(__name__)

REAP_INTERVAL_SECONDS = 10.0
REQUEUE_AFTER = timedelta(minutes=2)


def requeue_stale_pending(
    context: RunnerContext,
    older_than: timedelta,
    resent: dict[str, datetime] | None = None,
) -> list[str]:
    """Submit again groups still pending long after their trigger (e.g. a lost broker message).

    Safe to repeat: a second delivery finds no pending run to claim. ``resent`` (group id ->
    when this process last submitted it again) keeps a group that merely waits behind busy
    workers from being sent again on every pass: it is sent once per ``older_than``. Groups no
    longer pending are dropped from it.
    """
    if context.submit is None:
        return []
    now = context.clock()
    cutoff = now - older_than
    with context.sessions() as session:
        stale = list(
            session.scalars(
                select(RunGroup.id).where(
                    RunGroup.status == "pending", RunGroup.start_time < cutoff
                )
            )
        )
    if resent is not None:
        for gone in resent.keys() - set(stale):
            del resent[gone]
        stale = [g for g in stale if g not in resent or resent[g] < cutoff]
    for group_id in stale:
        context.submit(group_id)
        if resent is not None:
            resent[group_id] = now
    return stale


class Reaper:
    def __init__(
        self,
        context: RunnerContext,
        *,
        interval: float = REAP_INTERVAL_SECONDS,
        requeue_after: timedelta | None = None,
    ) -> None:
        self._context = context
        self._lost_after = context.lost_after
        if requeue_after is None:  # HEADWATER_REQUEUE_AFTER_SECONDS, default REQUEUE_AFTER
            requeue_after = timedelta(seconds=context.settings.requeue_after_seconds)
        self._requeue_after = requeue_after
        checks = min(self._lost_after, requeue_after).total_seconds() / 3
        self._interval = min(interval, checks)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._resent: dict[str, datetime] = {}

    def reap_once(self) -> list[str]:
        with self._context.sessions() as session:
            lost = run_service.fail_lost_runs(
                session, now=self._context.clock(), stale_after=self._lost_after
            )
        if lost:
            logger.warning("failed %d run(s) whose worker was lost", len(lost))
        requeue_stale_pending(self._context, self._requeue_after, self._resent)
        return lost

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.reap_once()
            except Exception:
                logger.warning("reaper pass failed", exc_info=True)

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="headwater-reaper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
