"""The background service that deletes tokens whose plan-downgrade notice has ended.

It runs in ``headwater up`` (and, later, in ``headwater scheduler``). Authentication already
rejects an expired token, so the sweeper's timing only decides when the token list and the
audit trail catch up; one pass a minute is plenty. The pass itself is the plain function
``sweep_expired_tokens`` so tests drive it with a fake clock instead of waiting on a thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from headwater.services.tokens import sweep_expired_tokens

logger = logging.getLogger(__name__)

DEFAULT_INTERVAL_SECONDS = 60.0

SweepPass = Callable[[Session, datetime], int]


class TokenSweeper:
    """A daemon thread calling ``sweep`` every ``interval`` seconds until ``stop()``."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Callable[[], datetime],
        *,
        interval: float = DEFAULT_INTERVAL_SECONDS,
        sweep: SweepPass = sweep_expired_tokens,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._interval = interval
        self._sweep = sweep
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="token-sweeper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=max(5.0, self._interval))
            self._thread = None

    def run_once(self) -> int:
        """One pass in its own session; errors are logged, never fatal to the thread."""
        try:
            with self._sessions() as session:
                return self._sweep(session, self._clock())
        except Exception:
            logger.exception("token sweeper pass failed; retrying at the next interval")
            return 0

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self.run_once()
            self._stopping.wait(self._interval)
