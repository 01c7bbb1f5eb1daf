"""A run's log lines, written to the metadata DB without a transaction per line.

A copy of a small table logs four or five lines; one commit each was a good part of the fixed
cost per table of a many-table river. The first line of a run and every warning or error are
written at once (someone watching the run sees it start, and sees trouble as it happens);
further info lines are gathered and written together within ``interval`` seconds (on the next
line or progress report, or by a timer when the run goes quiet, so a watcher never waits on a
line the run already logged), and always before the run's final status is recorded.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime

from headwater.runner.context import RunnerContext
from headwater.security.redact import Redactor
from headwater.services import runs as run_service


class RunLogWriter:
    def __init__(
        self, context: RunnerContext, run_id: str, redactor: Redactor, interval: float
    ) -> None:
        self._context = context
        self._run_id = run_id
        self._redactor = redactor
        self._interval = interval
        self._pending: list[tuple[str, str, datetime]] = []
        self._written_any = False
        self._last_flush = time.monotonic()
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def __call__(self, level: str, message: str) -> None:
        entry = (level.upper(), self._redactor.redact(message), self._context.clock())
        with self._lock:
            self._pending.append(entry)
            urgent = not self._written_any or entry[0] != "INFO"
        if urgent:
            self.flush()
        else:
            self.flush_if_due()
            self._arm_timer()

    def _arm_timer(self) -> None:
        """Write pending lines after ``interval`` even if no other line or report comes."""
        with self._lock:
            if not self._pending or (self._timer is not None and self._timer.is_alive()):
                return
            self._timer = threading.Timer(self._interval, self.flush)
            self._timer.daemon = True
            self._timer.start()

    def flush_if_due(self) -> None:
        if self._pending and time.monotonic() - self._last_flush >= self._interval:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            entries, self._pending = self._pending, []
            self._written_any = self._written_any or bool(entries)
            self._last_flush = time.monotonic()
        if entries:
            with self._context.sessions() as session:
                run_service.append_logs(session, self._run_id, entries)
