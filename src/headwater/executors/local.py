"""The default executor: a bounded pool of run slots inside the serving process.

Each slot runs its group either in a worker process of its own (``processes=True``, what the
server and ``headwater up`` use: see ``run_process``) or in the slot's thread (tests and
embedders that hand the runner objects a child could not get, such as a fake clock).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from headwater.executors.base import Executor
from headwater.executors.run_process import process_context, run_group_in_child
from headwater.runner.context import RunnerContext, worker_name_of
from headwater.runner.execute import execute_run_group
from headwater.services import runs as run_service

logger = logging.getLogger(__name__)


class LocalExecutor(Executor):
    name = "local"

    def __init__(self, context: RunnerContext, max_workers: int, *, processes: bool = False):
        self._context = context
        self._max_workers = max_workers
        self._processes = processes
        self._pool: ThreadPoolExecutor | None = None
        self._futures: set[Future[None]] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        if self._processes:
            process_context()  # the forkserver starts now, not on the first trigger
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
            if self._processes:
                future = self._pool.submit(self._run_in_process, run_group_id)
            else:
                future = self._pool.submit(execute_run_group, self._context, run_group_id)
            self._futures.add(future)
        future.add_done_callback(self._forget)

    def _run_in_process(self, run_group_id: str) -> None:
        """Start the group's worker process and wait for it; a crash fails its runs at once."""
        child = process_context().Process(
            target=run_group_in_child,
            args=(self._context.settings, run_group_id),
            name=f"headwater-run-{run_group_id[:8]}",
        )
        child.start()
        child.join()
        if child.exitcode != 0 and child.pid is not None:
            message = f"The run's worker process ended unexpectedly (exit code {child.exitcode})"
            with self._context.sessions() as session:
                failed = run_service.fail_worker_runs(
                    session, worker_name_of(child.pid), now=self._context.clock(), error=message
                )
            logger.error("worker process of run group %s: %s", run_group_id, message)
            if failed:
                logger.warning("failed %d run(s) of the lost worker process", len(failed))

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
