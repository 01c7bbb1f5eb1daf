"""Per-token request budget: a sliding one-minute window kept in the serving process."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from headwater.errors import RateLimited

WINDOW_SECONDS = 60.0


class RateLimiter:
    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._per_minute = per_minute
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> None:
        """Count one request for ``key``; raise ``RateLimited`` once the budget is spent."""
        now = self._clock()
        with self._lock:
            window = self._hits.setdefault(key, deque())
            while window and now - window[0] >= WINDOW_SECONDS:
                window.popleft()
            if len(window) >= self._per_minute:
                retry_after = max(1, math.ceil(WINDOW_SECONDS - (now - window[0])))
                raise RateLimited(
                    f"Rate limit of {self._per_minute} requests per minute exceeded for this "
                    f"token; retry in {retry_after} s",
                    retry_after=retry_after,
                )
            window.append(now)
