"""The default executor: a bounded thread pool inside the serving process."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from headwater.executors.base import Executor
from headwater.runner.context import RunnerContext
from headwater.runner.execute import execute_run_group
from headwater.services import runs as run_service

logger = logging.getLogger(__name__)


class LocalExecutor(Executor):
    name = "local"

    def __init__(self, context: RunnerContext, max_workers: int) -> None:
        self._context = context
        self._max_workers = max_workers
        self._pool: ThreadPoolExecutor | None = None
        self._futures: set[Future[None]] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        # Groups queued in a previous life of this process would otherwise wait forever.
        with self._context.sessions() as session:
            for group_id in run_service.pending_groups(session):
                self.submit(group_id)

    def submit(self, run_group_id: str) -> None:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=self._max_workers, thread_name_prefix="headwater-run"
                )
            future = self._pool.submit(execute_run_group, self._context, run_group_id)
            self._futures.add(future)
        future.add_done_callback(self._forget)

    def _forget(self, future: Future[None]) -> None:
        with self._lock:
            self._futures.discard(future)
        if future.exception() is not None:
            logger.error("run group execution crashed", exc_info=future.exception())

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Block until every submitted group finished (tests and graceful shutdown)."""
        with self._lock:
            futures = list(self._futures)
        done = [f for f in futures if not f.cancelled()]
        for future in done:
            try:
                future.result(timeout=timeout)
            except Exception:
                return False
        return True

    def stop(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
