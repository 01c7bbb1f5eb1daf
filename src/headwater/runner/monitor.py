"""A watcher thread per executing group: heartbeats, cancel requests and the run timeout.

Handlers only look at a ``threading.Event``; this thread turns DB state (cancel requested by
another process) and wall time (timeout) into that event, and keeps the heartbeat fresh so a
reaper elsewhere can tell a live worker from a dead one.
"""

from __future__ import annotations

import logging
import threading
import time

from headwater.runner.context import RunnerContext
from headwater.services import runs as run_service

logger = logging.getLogger(__name__)


class GroupMonitor:
    def __init__(
        self, context: RunnerContext, run_group_id: str, timeout_seconds: float | None
    ) -> None:
        self._context = context
        self._group_id = run_group_id
        self._timeout = timeout_seconds
        self.cancel = threading.Event()
        self.timed_out = False
        self.canceled_by_user = False
        self._running_ids: set[str] = set()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(
            target=self._watch, name=f"headwater-monitor-{run_group_id[:8]}", daemon=True
        )
        self._started = time.monotonic()

    def __enter__(self) -> GroupMonitor:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def track(self, run_id: str) -> None:
        with self._lock:
            self._running_ids.add(run_id)

    def untrack(self, run_id: str) -> None:
        with self._lock:
            self._running_ids.discard(run_id)

    def _watch(self) -> None:
        interval = self._context.heartbeat_interval.total_seconds()
        last_beat = 0.0
        while not self._stop.wait(self._context.cancel_poll_seconds):
            try:
                self._check_once(interval, last_beat)
                if time.monotonic() - last_beat >= interval:
                    last_beat = time.monotonic()
            except Exception:  # the DB may be briefly unreachable; keep watching
                logger.warning("run monitor could not reach the metadata database", exc_info=True)

    def _check_once(self, interval: float, last_beat: float) -> None:
        if self._timeout is not None and time.monotonic() - self._started > self._timeout:
            self.timed_out = True
            self.cancel.set()
        with self._context.sessions() as session:
            if run_service.cancel_requested(session, self._group_id):
                self.canceled_by_user = True
                self.cancel.set()
            if time.monotonic() - last_beat >= interval:
                with self._lock:
                    running = list(self._running_ids)
                run_service.heartbeat(session, running, self._context.clock())
